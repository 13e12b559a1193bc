"""Every verb of `drawstudio` on every kind of run, in the orders a user might type them: each
ends with its result (checked) or a one-line error with exit 1 or 2, never a traceback.

The runs are tiny (T=2, 8 hidden units, 2 steps) on tiny synthetic datasets (tests/run_kinds.py),
one template run per kind, copied for each case so that no case sees another's leftovers.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from PIL import Image
from run_kinds import KINDS, Kind, train_argv

from drawstudio.cli.main import main


@pytest.fixture(autouse=True)
def quick_classifier(monkeypatch):
    monkeypatch.setattr("drawstudio.recognition.classifier.DEFAULT_STEPS", 5)


@pytest.fixture
def invoke(capsys):
    """invoke(*argv) -> (code, stdout, stderr); a non-zero exit must be one error line."""

    def run(*argv: str | Path) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        if code != 0:
            lines = err.strip().splitlines()
            assert code in (1, 2), (code, err)
            assert len(lines) == 1 and ": error: " in lines[0] and lines[0].startswith("drawstudio"), err
        return code, out, err

    return run


def _check_eval_json(out: str, kind: Kind, split: str = "test", images: int | None = None) -> dict:
    result = json.loads(out)
    assert result["split"] == split and result["step"] == 2
    assert result["images"] == (images if images is not None else kind.test_images)
    assert math.isfinite(result["nll"]) and result["nll"] > 0
    assert result["nll"] == pytest.approx(result["recon"] + result["kl"])
    assert ("class_consistency" in result) == kind.conditional
    return result


# (name, argv after `VERB --run RUN`, check(kind, run, code, out, err))
def _eval_json(kind, run, code, out, err):
    assert code == 0
    _check_eval_json(out, kind)


def _eval_text(kind, run, code, out, err):
    assert code == 0 and f"test split, {kind.test_images} images" in out and "NLL bound" in out


def _eval_valid(kind, run, code, out, err):
    if kind.valid_images:
        assert code == 0
        _check_eval_json(out, kind, "valid", kind.valid_images)
    else:
        assert code == 1 and "split 'valid'" in err and "no such split" in err


def _eval_iw(kind, run, code, out, err):
    assert code == 0
    result = _check_eval_json(out, kind)
    assert result["iw_samples"] == 2 and math.isfinite(result["iw_nll"])


def _eval_train_subset(kind, run, code, out, err):
    assert code == 0
    _check_eval_json(out, kind, "train", 3)


def _eval_no_images(kind, run, code, out, err):
    assert code == 1 and "--max-images 0" in err


def _sample(kind, run, code, out, err):
    assert code == 0
    gif, png = Image.open(run / "samples" / "step-2.gif"), Image.open(run / "samples" / "step-2.png")
    assert gif.n_frames == 2 and png.mode == ("RGB" if "--channels" in kind.flags else "L")


def _sample_label(kind, run, code, out, err):
    if kind.conditional:
        assert code == 0 and (run / "samples" / "step-2.png").is_file()
    else:
        assert code == 1 and "--label only applies to a conditional run" in err


def _sample_bad_label(kind, run, code, out, err):
    assert code == 1 and "--label" in err


def _classifier(kind, run, code, out, err):
    if kind.labelled:
        assert code == 0 and "test accuracy" in out and (run / "classifier.pt").is_file()
    else:
        assert code == 1 and "no class labels" in err and not (run / "classifier.pt").exists()


def _resume(kind, run, code, out, err):
    assert code == 0
    assert (run / "checkpoints" / "step-000000004.pt").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    (resumed,) = [r for r in records if r["kind"] == "resume"]
    assert (resumed["step"], resumed["checkpoint"]) == (2, "step-000000002.pt")
    assert resumed["schedule"][0]["start"] == 0  # the schedule restored with the checkpoint


def _other_model(kind, run, code, out, err):
    assert code == 1 and "different model" in err


def _conditional_again(kind, run, code, out, err):
    assert code == 1 and "only apply to new runs" in err


VERBS = {
    "eval --json": (("eval", "--json"), _eval_json),
    "eval": (("eval",), _eval_text),
    "eval --split valid": (("eval", "--json", "--split", "valid"), _eval_valid),
    "eval --iw-samples": (("eval", "--json", "--iw-samples", "2"), _eval_iw),
    "eval --max-images --split train": (("eval", "--json", "--split", "train", "--max-images", "3"),
                                        _eval_train_subset),
    "eval --max-images 0": (("eval", "--max-images", "0"), _eval_no_images),
    "sample": (("sample", "--n", "3"), _sample),
    "sample --label": (("sample", "--n", "2", "--label", "1"), _sample_label),
    "sample --label out of range": (("sample", "--label", "99"), _sample_bad_label),
    "classifier": (("classifier", "--steps", "3"), _classifier),
    "resume": (("train", "--steps", "4", "--quiet"), _resume),
    "resume with another model": (("train", "--steps", "4", "--T", "3", "--quiet"), _other_model),
    "resume --conditional": (("train", "--steps", "4", "--conditional", "--quiet"), _conditional_again),
}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("kind_name", KINDS)
def test_every_verb_on_every_kind_of_run_ends_in_its_result_or_one_error_line(kind_name, verb, run_kind_template,
                                                                            tmp_path, invoke):
    run = Path(shutil.copytree(run_kind_template(kind_name), tmp_path / "run"))
    argv, check = VERBS[verb]
    code, out, err = invoke(argv[0], "--run", run, *argv[1:])
    check(KINDS[kind_name], run, code, out, err)


@pytest.mark.parametrize("kind_name", ["conditional", "colour-classes"])
def test_eval_before_classifier_trains_it_and_later_evals_reuse_it(kind_name, run_kind_template, tmp_path, invoke):
    run = Path(shutil.copytree(run_kind_template(kind_name), tmp_path / "run"))
    code, out, err = invoke("eval", "--run", run, "--json", "--iw-samples", "2")
    first = _check_eval_json(out, KINDS[kind_name])["class_consistency"]
    assert code == 0 and "no classifier yet" in err and (run / "classifier.pt").is_file()
    stamp = (run / "classifier.pt").stat().st_mtime_ns
    code, out, err = invoke("eval", "--run", run, "--json")
    assert code == 0 and "no classifier yet" not in err and (run / "classifier.pt").stat().st_mtime_ns == stamp
    assert _check_eval_json(out, KINDS[kind_name])["class_consistency"] == first


@pytest.mark.parametrize("verb", ["eval", "sample", "classifier"])
def test_commands_before_any_training_say_there_is_no_run(verb, tmp_path, invoke):
    code, _, err = invoke(verb, "--run", tmp_path / "nothing")
    assert code == 1 and "no such run directory" in err


def test_a_run_killed_before_its_first_checkpoint_refuses_eval_then_resumes(run_kind_template, tmp_path, invoke):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(run_kind_template("unconditional") / "config.json", run / "config.json")
    for verb in ("eval", "sample", "classifier"):
        code, _, err = invoke(verb, "--run", run)
        assert code == 1 and "no checkpoint yet" in err
    assert invoke("train", "--run", run, "--quiet")[0] == 0
    code, out, _ = invoke("eval", "--run", run, "--json")
    assert code == 0 and _check_eval_json(out, KINDS["unconditional"])["checkpoint"] == "step-000000002.pt"


def test_conditional_on_a_dataset_without_labels_is_refused(run_kind_data, tmp_path, invoke):
    code, _, err = invoke(*train_argv("colour-flat", run_kind_data, tmp_path / "run"), "--conditional")
    assert code == 1 and "has no class labels" in err and not (tmp_path / "run").exists()


def test_samples_to_an_unwritable_place_are_one_error_line(run_kind_template, tmp_path, invoke):
    run = Path(shutil.copytree(run_kind_template("unconditional"), tmp_path / "run"))
    (tmp_path / "a-file").write_text("not a folder")
    code, _, err = invoke("sample", "--run", run, "--n", "1", "--png", tmp_path / "a-file" / "grid.png")
    assert code == 1 and "cannot write the samples" in err


@pytest.mark.parametrize("argv, code, words", [
    ((), 2, "required: COMMAND"),
    (("eval",), 2, "--run"),
    (("train", "--run", "x", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("bench", "--steps", "0"), 1, "--steps"),
    (("gui", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("gui", "--follow"), 2, "--follow needs --run"),
])
def test_usage_mistakes_are_one_error_line(argv, code, words, invoke):
    got, _, err = invoke(*argv)
    assert got == code and words in err


def test_presets_lists_every_preset(invoke):
    from drawstudio.train.presets import PRESETS

    code, out, _ = invoke("presets")
    assert code == 0 and all(name in out for name in PRESETS)


def test_gui_hands_every_option_to_the_studio(monkeypatch, invoke):
    handed = []
    monkeypatch.setattr("drawstudio.studio.app.main", lambda argv, prog: handed.append((argv, prog)) or 0)
    assert invoke("gui", "--run", "runs/demo", "--autostart")[0] == 0
    assert handed == [(["--run", "runs/demo", "--autostart"], "drawstudio gui")]
