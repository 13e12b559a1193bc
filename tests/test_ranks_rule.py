"""The ranks rule: how many processes `drawstudio train` trains in when no --ranks is given, and
the line that says so. The model's work a step is counted by hand for the paper's model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA

from drawstudio.cli import ranks as launcher
from drawstudio.config import ModelConfig, RunConfig, TrainConfig
from drawstudio.model.flops import forward_flops_per_image, train_flops_per_image
from drawstudio.system.ranks_rule import MIN_RANK_GFLOP, ranks_for
from drawstudio.train import rank_choice

PAPER_GFLOP = 370_622_976 / 1e9  # one image's training step on the paper's model, counted below


def test_the_papers_model_takes_370_6_mflop_a_training_step_per_image_counted_by_hand():
    # one glimpse, 2 FLOPs a multiply-add: the encoder LSTM from the 2×2×2 read and h_dec (264 → 1024)
    # and from h_enc (256 → 1024); Q(z | h_enc) (256 → 2·100); the decoder LSTM from z (100 → 1024)
    # and h_dec (256 → 1024); the 5×5 write (256 → 25); two attention heads (256 → 5); the read
    # filterbanks F_Y x F_Xᵀ for x and x̂ (2·2·(2·28·28 + 2·28·2)); the write F_Yᵀ w F_X (2·(28·5·5 + 28·5·28))
    glimpse = (2 * 264 * 1024 + 2 * 256 * 1024 + 2 * 256 * 200 + 2 * 100 * 1024 + 2 * 256 * 1024 + 2 * 256 * 25
               + 2 * 2 * 256 * 5 + 2 * 2 * (2 * 784 + 2 * 56) + 2 * (700 + 3920))
    assert glimpse == 1_930_328
    assert forward_flops_per_image(ModelConfig()) == 64 * glimpse
    assert train_flops_per_image(ModelConfig()) == 3 * 64 * glimpse == 370_622_976


def test_two_free_cores_train_the_papers_model_on_two_ranks_at_batch_128_but_in_one_process_at_64():
    assert 64 * PAPER_GFLOP >= MIN_RANK_GFLOP > 32 * PAPER_GFLOP  # 23.7 and 11.9 GFLOP a rank
    assert ranks_for(2, 128, PAPER_GFLOP) == 2
    assert ranks_for(2, 64, PAPER_GFLOP) == 1


def test_each_rank_needs_a_free_core():
    assert ranks_for(1, 128, PAPER_GFLOP) == 1
    assert ranks_for(0, 128, PAPER_GFLOP) == 1


@pytest.mark.parametrize("cores, batch, ranks", [
    (4, 128, 2),  # 4 ranks would get 11.9 GFLOP each, 3 do not split 128
    (4, 256, 4),
    (8, 240, 4),  # 8, 6, 5 ranks: 11.1, 14.8, 17.8 GFLOP; 7 does not split 240
    (3, 192, 3),
])
def test_more_cores_take_the_most_ranks_whose_even_slices_still_carry_the_threshold(cores, batch, ranks):
    assert ranks_for(cores, batch, PAPER_GFLOP) == ranks


def test_a_slice_of_exactly_the_threshold_is_enough_and_one_just_under_it_is_not():
    assert ranks_for(2, 2, MIN_RANK_GFLOP) == 2
    assert ranks_for(2, 2, MIN_RANK_GFLOP * 0.999) == 1


def test_a_batch_that_does_not_split_over_every_core_goes_to_fewer_ranks():
    assert ranks_for(3, 128, 1.0) == 2


def paper_run(batch_size: int, **train: object) -> RunConfig:
    return RunConfig(model=ModelConfig(), train=TrainConfig(dataset="mnist", batch_size=batch_size, **train))


@pytest.fixture
def two_cores(monkeypatch):
    """A 2-core machine whose free cores the test sets: `two_cores.free`; `.measured` counts the looks."""
    class Machine:
        free, measured = 2, 0

        def free_cores(self) -> int:
            self.measured += 1
            return self.free

    machine = Machine()
    monkeypatch.setattr(rank_choice, "default_threads", lambda: 2)
    monkeypatch.setattr(rank_choice, "free_cores", machine.free_cores)
    return machine


def test_the_rule_chooses_a_rank_per_free_core_and_says_why_with_the_slices_work(two_cores):
    ranks, threads, why = rank_choice.automatic(paper_run(128))
    assert (ranks, threads) == (2, 1)
    assert why == (": the ranks rule, one rank per free core while each rank's slice of a step carries at least "
                   "20 GFLOP (here 64 images × 0.371 = 23.7); --ranks 1 trains in one process")


def test_on_a_busy_machine_the_rule_trains_in_one_process_and_says_what_took_the_cores(two_cores):
    two_cores.free = 1
    assert rank_choice.automatic(paper_run(128)) == (1, 0, (
        "training in one process: other processes keep 1 of the 2 cores busy, and the ranks rule wants a free "
        "core for each rank"))


def test_four_free_cores_give_two_ranks_of_two_threads_where_four_slices_would_be_too_small(monkeypatch):
    monkeypatch.setattr(rank_choice, "default_threads", lambda: 4)
    monkeypatch.setattr(rank_choice, "free_cores", lambda: 4)
    assert rank_choice.automatic(paper_run(128))[:2] == (2, 2)


@pytest.mark.parametrize("run", [
    paper_run(64),  # too little work a rank
    RunConfig(model=ModelConfig(T=16), train=TrainConfig(dataset="mnist", batch_size=128)),
    paper_run(128, threads=2),  # the user chose one process's threads
    paper_run(128, compile=True),
])
def test_where_ranks_cannot_win_or_the_user_chose_the_rule_says_nothing_and_measures_nothing(two_cores, run):
    assert rank_choice.automatic(run) == (1, 0, "")
    assert two_cores.measured == 0


def test_a_gpu_run_is_left_to_one_process(two_cores, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert rank_choice.automatic(paper_run(128)) == (1, 0, "")
    assert two_cores.measured == 0


def paper_argv(run: Path, *extra: str) -> list[str]:
    return ["train", "--run", str(run), "--dataset", "mnist", "--data-dir", str(SHARED_DATA / "mnist"),
            "--batch-size", "128", "--steps", "1", *extra]


def test_train_without_ranks_starts_the_ranks_the_rule_chose_with_the_command_line_as_given(
        two_cores, tmp_path, run_cli, monkeypatch):
    started = []
    monkeypatch.setattr(launcher, "run_ranks", lambda command, ranks, threads: started.append(
        (command, ranks, threads)) or 0)
    code, err = run_cli(*paper_argv(tmp_path / "run"))
    assert code == 0
    assert started == [([sys.executable, "-m", "drawstudio", *paper_argv(tmp_path / "run")], 2, 1)]
    assert err.startswith("training on 2 ranks of 1 thread each (gloo): the ranks rule, one rank per free core")
    assert not (tmp_path / "run").exists()  # the ranks write the run, not the launcher


def test_train_without_ranks_on_a_busy_machine_trains_here_after_saying_so(two_cores, tmp_path, run_cli, monkeypatch):
    two_cores.free = 1
    trained = []
    monkeypatch.setattr(launcher, "run_ranks", lambda *args: pytest.fail("ranks were started"))
    monkeypatch.setattr(launcher, "cmd_train", lambda args, settings: trained.append(settings[0].train.batch_size) or 0)
    code, err = run_cli(*paper_argv(tmp_path / "run"))
    assert (code, trained) == (0, [128])
    assert err.startswith("training in one process: other processes keep 1 of the 2 cores busy")


def test_a_rank_without_ranks_trains_itself_and_asks_no_rule(two_cores, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    trained = []
    monkeypatch.setattr(launcher, "cmd_train", lambda args: trained.append(args.run) or 0)
    assert run_cli(*paper_argv(tmp_path / "run")) == (0, "")
    assert trained == [tmp_path / "run"] and two_cores.measured == 0


def test_sizes_no_process_can_allocate_are_left_to_the_trainers_error_without_a_look_at_the_cores(two_cores):
    huge = RunConfig(model=ModelConfig(enc_size=3_000_000_000, dec_size=3_000_000_000),
                     train=TrainConfig(dataset="mnist", batch_size=128))
    assert rank_choice.automatic(huge) == (1, 0, "")
    assert two_cores.measured == 0
