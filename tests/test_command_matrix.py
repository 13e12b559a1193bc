"""Every verb of `drawstudio` on every kind of run, in the orders a user might type them: each
ends with its result (checked) or a one-line error with exit 1 or 2, never a traceback.

The runs are tiny (T=2, 8 hidden units, 2 steps) on tiny synthetic datasets built here, one
template run per kind, copied for each case so that no case sees another's leftovers.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drawstudio.cli import main

TINY = ("--T", "2", "--hidden", "8", "--z", "4", "--batch-size", "8", "--eval-every", "0", "--steps", "2", "--quiet")
COLOUR = ("--channels", "3", "--height", "8", "--width", "8", "--likelihood", "logistic", "--binarize", "none")


@dataclass(frozen=True)
class Kind:
    flags: tuple[str, ...]  # what `train` needs besides TINY; {data} is the synthetic data root
    conditional: bool = False
    labelled: bool = True
    test_images: int = 20
    valid_images: int = 0


KINDS = {
    "unconditional": Kind(("--dataset", "mnist", "--data-dir", "{data}/mnist")),
    "conditional": Kind(("--dataset", "mnist", "--data-dir", "{data}/mnist", "--conditional"), conditional=True),
    "no-attention": Kind(("--dataset", "mnist", "--data-dir", "{data}/mnist", "--no-attention")),
    "colour-classes": Kind(("--dataset", "{data}/colour-classes", "--conditional", *COLOUR), conditional=True,
                           test_images=3),
    "colour-flat": Kind(("--dataset", "{data}/colour-flat", *COLOUR), labelled=False, test_images=3),
    "two-digit": Kind(("--dataset", "two-digit-mnist", "--data-dir", "{data}/mnist", "--height", "60", "--width", "60"),
                      labelled=False),
    "binarized": Kind(("--dataset", "binarized-mnist", "--data-dir", "{data}/binarized"), labelled=False,
                      test_images=10, valid_images=10),
    "one-split": Kind(("--dataset", "mnist", "--data-dir", "{data}/t10k-only"), test_images=10),
}


def _idx(path: Path, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array, np.uint8)
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + array.tobytes(), mtime=0))


def _mnist_split(directory: Path, prefix: str, n: int, rng: np.random.Generator) -> None:
    _idx(directory / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
    _idx(directory / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def _colour_images(directory: Path, classes: bool, rng: np.random.Generator) -> None:
    for i in range(30):
        path = directory / (f"class{i % 2}" if classes else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """MNIST-like IDX (60 train, 20 test), t10k files only (60: 10 held out), binarized
    MNIST (40/10/10), colour PNG folders with and without class subfolders."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    _mnist_split(root / "mnist", "train", 60, rng)
    _mnist_split(root / "mnist", "t10k", 20, rng)
    _mnist_split(root / "t10k-only", "t10k", 60, rng)
    (root / "binarized").mkdir()
    np.savez(root / "binarized" / "mnist_binarized.npz",
             **{f"X_{split}": (rng.random((n, 784)) > 0.5).astype(np.float32)
                for split, n in (("train", 40), ("valid", 10), ("test", 10))})
    _colour_images(root / "colour-classes", True, rng)
    _colour_images(root / "colour-flat", False, rng)
    return root


def train_argv(kind: str, data_root: Path, run: Path) -> list[str]:
    return ["train", "--run", str(run), *(f.format(data=data_root) for f in KINDS[kind].flags), *TINY]


@pytest.fixture(scope="module")
def templates(data_root, tmp_path_factory):
    """template(kind) -> a trained 2-step run of that kind (built once, never modified)."""
    built: dict[str, Path] = {}

    def template(kind: str) -> Path:
        if kind not in built:
            run = tmp_path_factory.mktemp(kind) / "run"
            assert main(train_argv(kind, data_root, run)) == 0
            built[kind] = run
        return built[kind]

    return template


@pytest.fixture(autouse=True)
def quick_classifier(monkeypatch):
    monkeypatch.setattr("drawstudio.classifier.DEFAULT_STEPS", 5)


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
    assert {"kind": "resume", "step": 2, "checkpoint": "step-000000002.pt"} in records


def _other_model(kind, run, code, out, err):
    assert code == 1 and "different model" in err


def _conditional_again(kind, run, code, out, err):
    assert code == 1 and "only apply to new runs" in err


VERBS = {
    "eval --json": (("eval", "--json"), _eval_json),
    "eval": (("eval",), _eval_text),
    "eval --split valid": (("eval", "--json", "--split", "valid"), _eval_valid),
    "eval --iw-samples": (("eval", "--json", "--iw-samples", "2"), _eval_iw),
    "eval --max-images --split train": (("eval", "--json", "--split", "train", "--max-images", "3"), _eval_train_subset),
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
def test_every_verb_on_every_kind_of_run_ends_in_its_result_or_one_error_line(kind_name, verb, templates, tmp_path,
                                                                            invoke):
    run = Path(shutil.copytree(templates(kind_name), tmp_path / "run"))
    argv, check = VERBS[verb]
    code, out, err = invoke(argv[0], "--run", run, *argv[1:])
    check(KINDS[kind_name], run, code, out, err)


@pytest.mark.parametrize("kind_name", ["conditional", "colour-classes"])
def test_eval_before_classifier_trains_it_and_later_evals_reuse_it(kind_name, templates, tmp_path, invoke):
    run = Path(shutil.copytree(templates(kind_name), tmp_path / "run"))
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


def test_a_run_killed_before_its_first_checkpoint_refuses_eval_then_resumes(templates, tmp_path, invoke):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(templates("unconditional") / "config.json", run / "config.json")
    for verb in ("eval", "sample", "classifier"):
        code, _, err = invoke(verb, "--run", run)
        assert code == 1 and "no checkpoint yet" in err
    assert invoke("train", "--run", run, "--quiet")[0] == 0
    code, out, _ = invoke("eval", "--run", run, "--json")
    assert code == 0 and _check_eval_json(out, KINDS["unconditional"])["checkpoint"] == "step-000000002.pt"


def test_conditional_on_a_dataset_without_labels_is_refused(data_root, tmp_path, invoke):
    code, _, err = invoke(*train_argv("colour-flat", data_root, tmp_path / "run"), "--conditional")
    assert code == 1 and "has no class labels" in err and not (tmp_path / "run").exists()


def test_samples_to_an_unwritable_place_are_one_error_line(templates, tmp_path, invoke):
    run = Path(shutil.copytree(templates("unconditional"), tmp_path / "run"))
    (tmp_path / "a-file").write_text("not a folder")
    code, _, err = invoke("sample", "--run", run, "--n", "1", "--png", tmp_path / "a-file" / "grid.png")
    assert code == 1 and "cannot write the samples" in err


@pytest.mark.parametrize("argv, code, words", [
    ((), 2, "required: command"),
    (("eval",), 2, "--run"),
    (("train", "--run", "x", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("bench", "--batch-sizes", "x"), 1, "comma-separated integers"),
    (("bench", "--steps", "0"), 1, "must be positive"),
    (("gui", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("gui", "--follow"), 2, "--follow needs --run"),
])
def test_usage_mistakes_are_one_error_line(argv, code, words, invoke):
    got, _, err = invoke(*argv)
    assert got == code and words in err


def test_presets_lists_every_preset(invoke):
    from drawstudio.presets import PRESETS

    code, out, _ = invoke("presets")
    assert code == 0 and all(name in out for name in PRESETS)


def test_gui_hands_every_option_to_the_studio(monkeypatch, invoke):
    handed = []
    monkeypatch.setattr("drawstudio.studio.app.main", lambda argv, prog: handed.append((argv, prog)) or 0)
    assert invoke("gui", "--run", "runs/demo", "--autostart")[0] == 0
    assert handed == [(["--run", "runs/demo", "--autostart"], "drawstudio gui")]
