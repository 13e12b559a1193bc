"""What the CLI's options do to the numbers: logging averages, the plain model, the canvas,
where settings come from (defaults < --preset < --config < flags), the class a conditional
sample draws, and which split and bound `eval` reports."""

import json

import pytest
import torch

from drawstudio.config import RunConfig, start_lr
from drawstudio.train import checkpoint as ckpt
from drawstudio.train.metrics import read_metrics
from drawstudio.train.presets import PRESETS, apply_preset
from drawstudio.train.runs import open_run

TINY_BINARIZED = ("--T", "2", "--hidden", "16", "--z", "4", "--batch-size", "8", "--eval-every", "0", "--quiet")


def train_records(run):
    return [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"]


def stored_config(run):
    return json.loads((run / "config.json").read_text())


def test_log_every_records_the_mean_of_the_steps_since_the_last_record(tmp_path, tiny_train_argv, run_cli):
    assert run_cli(*tiny_train_argv(tmp_path / "each", "--steps", "5", "--log-every", "1"))[0] == 0
    assert run_cli(*tiny_train_argv(tmp_path / "every3", "--steps", "5", "--log-every", "3"))[0] == 0
    each = train_records(tmp_path / "each")
    grouped = train_records(tmp_path / "every3")
    assert [r["step"] for r in each] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in grouped] == [3, 5]  # and the last step, however the count falls
    for record, steps in zip(grouped, ([1, 2, 3], [4, 5])):
        for key in ("loss", "recon", "kl", "grad_norm"):
            mean = sum(each[s - 1][key] for s in steps) / len(steps)
            assert record[key] == pytest.approx(mean, rel=1e-5), (record["step"], key)


def test_plain_and_fused_models_train_to_the_same_losses_from_the_same_seed(tmp_path, tiny_train_argv, run_cli):
    assert run_cli(*tiny_train_argv(tmp_path / "fused", "--steps", "3", "--log-every", "1"))[0] == 0
    assert run_cli(*tiny_train_argv(tmp_path / "plain", "--steps", "3", "--log-every", "1", "--plain"))[0] == 0
    assert stored_config(tmp_path / "plain")["train"]["fused"] is False
    assert stored_config(tmp_path / "fused")["train"]["fused"] is True
    fused, plain = train_records(tmp_path / "fused"), train_records(tmp_path / "plain")
    assert [r["loss"] for r in plain] == pytest.approx([r["loss"] for r in fused], rel=1e-4)
    assert fused[0]["loss"] != fused[2]["loss"]  # the steps trained: equal losses are not a constant


def test_canvas_init_sets_the_starting_canvas_the_model_draws_on(tmp_path, tiny_train_argv, run_cli):
    run = tmp_path / "run"
    assert run_cli(*tiny_train_argv(run, "--steps", "1", "--canvas-init", "-2.5"))[0] == 0
    assert stored_config(run)["model"]["canvas_init"] == -2.5
    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[0])
    canvas0 = state["model"]["canvas0"]
    assert canvas0.shape == (1, 28, 28) and torch.all(canvas0 == -2.5)  # not learned without --learn-canvas


def test_presets_lists_every_preset_with_its_source(run_cli, capsys):
    from drawstudio.cli.main import main

    capsys.readouterr()
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"{name}: {preset['source']}" for name, preset in PRESETS.items()]


def test_settings_come_from_defaults_then_preset_then_config_file_then_flags(tmp_path, shared_data, run_cli):
    config = tmp_path / "start.json"
    config.write_text(json.dumps({"model": {"read_n": 3, "read_gamma_init": 7, "z_size": 7},
                                  "train": {"lr": 0.002, "seed": 11, "decay_every": 5}}))
    run = tmp_path / "run"
    code, stderr = run_cli("train", "--run", run, "--config", config, "--preset", "mnist-attention",
                           "--data-dir", shared_data / "binarized_mnist", "--steps", "1", "--lr", "0.003",
                           *TINY_BINARIZED)
    assert code == 0, stderr
    stored = stored_config(run)
    preset = PRESETS["mnist-attention"]
    assert (stored["model"]["read_n"], stored["model"]["read_gamma_init"]) == (3, 7)  # the file over the preset
    assert stored["train"]["decay_every"] == 5  # the file's, not the preset's fitted to the run's length
    assert stored["model"]["write_n"] == preset["model"]["write_n"] == 5  # the preset where the file is silent
    assert stored["model"]["read_sigma_init"] == preset["model"]["read_sigma_init"] == 0.5
    assert stored["train"]["dataset"] == "binarized-mnist" and stored["train"]["binarize"] == "none"
    assert (stored["model"]["T"], stored["model"]["enc_size"], stored["model"]["z_size"]) == (2, 16, 4)  # flags
    assert stored["train"]["lr"] == 0.003  # a flag over the config file
    assert stored["train"]["seed"] == 11  # the config file over the default


def test_a_config_file_is_checked_over_the_preset_it_is_laid_on(tmp_path, run_cli):
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps({"model": {"read_n": 40}}))  # fits the 60x60 canvases, not 28x28 digits
    over_two_digits = apply_preset(RunConfig().to_dict(), "two-digit-mnist")
    assert RunConfig.settings_in(wide, under=over_two_digits) == {"model": {"read_n": 40}, "train": {}}
    code, stderr = run_cli("train", "--run", tmp_path / "run", "--config", wide, "--preset", "mnist-attention")
    assert code != 0 and f"{wide}: read_n=40 a 40x40 grid does not fit a 28x28 image" in stderr
    assert not (tmp_path / "run").exists()


def test_a_presets_schedule_is_fitted_to_the_length_asked_for_but_not_over_a_flag(tmp_path, shared_data, run_cli):
    run = tmp_path / "run"
    code, stderr = run_cli("train", "--run", run, "--preset", "mnist-attention", "--data-dir",
                           shared_data / "binarized_mnist", "--epochs", "0.004", *TINY_BINARIZED[:-1],
                           "--log-every", "1")  # 50,000 images at batch 8: 25 steps, 1/500 of the preset's
    assert code == 0, stderr
    train = stored_config(run)["train"]
    assert (train["steps"], train["decay_start"], train["decay_every"]) == (25, 16, 3)
    assert train["lr"] == start_lr(stored_config(run)["model"]["T"])  # the rule's rate, for the T the run has
    # step k trains at the rate after k − 1 steps: held for 16, then halving every 3, to an eighth at step 25
    expected = [train["lr"] * 0.5 ** (max(0, k - 16) / 3) for k in range(25)]
    assert [r["lr"] for r in train_records(run)] == pytest.approx(expected)
    given = tmp_path / "given"
    assert run_cli("train", "--run", given, "--preset", "mnist-attention", "--data-dir", shared_data / "binarized_mnist",
                   "--steps", "25", "--decay-start", "5", *TINY_BINARIZED)[0] == 0
    assert (stored_config(given)["train"]["decay_start"], stored_config(given)["train"]["decay_every"]) == (5, 3)


def test_the_benchmark_presets_clip_leaves_the_paper_models_ordinary_gradients_unscaled(tmp_path, shared_data,
                                                                                          run_cli):
    run = tmp_path / "run"
    code, stderr = run_cli("train", "--run", run, "--preset", "mnist-attention", "--data-dir",
                           shared_data / "binarized_mnist", "--steps", "3", "--eval-every", "0", "--log-every", "1",
                           "--threads", "1", "--quiet")  # the paper's model at batch 64
    assert code == 0, stderr
    clip = stored_config(run)["train"]["grad_clip"]
    norms = [r["grad_norm"] for r in train_records(run)]
    # a clip at 10 would scale every one of these steps (docs/experiments/benchmark-schedule.md)
    assert len(norms) == 3 and all(10 < norm < clip for norm in norms), (norms, clip)


def test_a_config_file_alone_gives_the_run_its_values(tmp_path, tiny_train_argv, run_cli):
    config = tmp_path / "start.json"
    config.write_text(json.dumps({"model": {"read_n": 3, "canvas_init": -1.0}, "train": {"grad_clip": 2.5}}))
    run = tmp_path / "run"
    assert run_cli(*tiny_train_argv(run, "--steps", "1", "--config", str(config)))[0] == 0
    stored = stored_config(run)
    assert (stored["model"]["read_n"], stored["model"]["canvas_init"], stored["train"]["grad_clip"]) == (3, -1.0, 2.5)


def test_decay_start_holds_the_rate_of_a_run_made_on_the_command_line(tmp_path, tiny_train_argv, run_cli):
    run = tmp_path / "run"
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "3", "--lr", "0.002", "--lr-decay", "0.5",
                                            "--decay-every", "1", "--decay-start", "2", "--log-every", "1"))
    assert code == 0, stderr
    assert stored_config(run)["train"]["decay_start"] == 2
    lrs = [r["lr"] for r in train_records(run)]
    assert lrs == pytest.approx([2e-3, 2e-3, 2e-3])
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "4", "--decay-start", "0"))
    assert code != 0 and "cannot change decay_start: 2 → 0 of an existing run" in stderr


def test_a_decay_asked_for_on_resume_applies_even_when_it_equals_the_one_the_run_was_created_with(
        tmp_path, tiny_train_argv, run_cli):
    run = tmp_path / "run"
    assert run_cli(*tiny_train_argv(run, "--steps", "2", "--lr", "0.002", "--lr-decay", "1"))[0] == 0
    assert run_cli(*tiny_train_argv(run, "--steps", "4", "--lr-decay", "0.5", "--decay-every", "1"))[0] == 0
    code, stderr = run_cli(*tiny_train_argv(run, "--steps", "6", "--lr-decay", "1"))  # created with 1
    assert code == 0, stderr
    lrs = [r["lr"] for r in train_records(run)]
    assert lrs == pytest.approx([2e-3, 2e-3, 2e-3, 1e-3, 5e-4, 5e-4])  # halving from step 2, held from step 4


def test_sample_label_draws_that_class_and_another_label_draws_differently(tmp_path, tiny_train_argv, run_cli,
                                                                           monkeypatch):
    from drawstudio.model.draw import Draw

    run = tmp_path / "run"
    assert run_cli(*tiny_train_argv(run, "--steps", "1", "--conditional"))[0] == 0
    asked = []
    drawn = []
    generate = Draw.generate

    def recording_generate(self, n, labels=None, noise=None):
        asked.append(None if labels is None else labels.tolist())
        canvases, attention = generate(self, n, labels, noise)
        drawn.append(canvases)
        return canvases, attention

    monkeypatch.setattr(Draw, "generate", recording_generate)
    for label in ("3", "5"):
        code, stderr = run_cli("sample", "--run", run, "--n", "4", "--label", label, "--png", tmp_path / f"{label}.png",
                               "--gif", tmp_path / f"{label}.gif")
        assert code == 0, stderr
    assert run_cli("sample", "--run", run, "--n", "12", "--png", tmp_path / "all.png",
                   "--gif", tmp_path / "all.gif")[0] == 0
    assert asked == [[3] * 4, [5] * 4, [k % 10 for k in range(12)]]
    assert not torch.equal(drawn[0], drawn[1])  # same seed and noise: only the class differs


def test_eval_and_sample_run_on_the_threads_asked_for_and_refuse_an_impossible_count(tiny_run, run_cli, tmp_path):
    before = torch.get_num_threads()
    try:
        for argv in (["eval", "--run", tiny_run, "--max-images", "8"],
                     ["sample", "--run", tiny_run, "--n", "2", "--png", tmp_path / "s.png", "--gif", tmp_path / "s.gif"]):
            torch.set_num_threads(2)
            code, stderr = run_cli(*argv, "--threads", "1")
            assert code == 0, stderr
            assert torch.get_num_threads() == 1, argv[0]
        code, stderr = run_cli("eval", "--run", tiny_run, "--threads", "-1")
        assert code == 1 and "threads=-1" in stderr and "must be 0 (default) or more" in stderr
    finally:
        torch.set_num_threads(before)


def test_eval_reports_the_split_and_the_iw_bound_it_was_asked_for(tmp_path, shared_data, run_cli, capsys):
    run = tmp_path / "run"
    assert run_cli("train", "--run", run, "--dataset", "binarized-mnist", "--data-dir",
                   shared_data / "binarized_mnist", "--steps", "2", *TINY_BINARIZED)[0] == 0
    from drawstudio.cli.main import main

    capsys.readouterr()
    assert main(["eval", "--run", str(run), "--split", "valid", "--iw-samples", "3", "--max-images", "40",
                 "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    direct = open_run(run).evaluate("valid", 40, iw_samples=3, log=False)
    assert (reported["split"], reported["images"], reported["iw_samples"]) == ("valid", 40, 3)
    for key in ("nll", "recon", "kl", "iw_nll"):
        assert reported[key] == pytest.approx(direct[key], rel=1e-6), key
    test_split = open_run(run).evaluate("test", 40, iw_samples=3, log=False)
    assert reported["nll"] != pytest.approx(test_split["nll"], rel=1e-6)  # another split's images


def test_train_names_the_split_of_each_evaluation_it_prints(tmp_path, run_kind_data, capsys):
    from run_kinds import train_argv

    from drawstudio.cli.main import main

    assert main([*train_argv("binarized", run_kind_data, tmp_path / "run"), "--eval-every", "2"]) == 0
    printed = capsys.readouterr()
    lines = [line for line in (printed.out + printed.err).splitlines() if "NLL bound" in line]
    assert [line.split(" NLL bound")[0] for line in lines] == ["step 0: test", "step 0: valid", "step 2: test",
                                                               "step 2: valid"]
