"""The training history on disk: which steps it keeps, its size bound, crash safety, reading it back."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from drawstudio.config import RunConfig

from drawstudio.train import history
from drawstudio.train.history import (BUDGET_BYTES, EARLY_STEPS, HistoryReader, HistoryWriter, kept_by_rule,
                                      read_history, snapshot_path, spacing_of, stored_steps)
from drawstudio.train.snapshot import Attention, Snapshot


def fake_snapshot(step: int, T: int = 4, n: int = 3, size: int = 8, seed: int | None = None) -> Snapshot:
    """A snapshot of random canvases (incompressible: the history's worst case for size)."""
    rng = np.random.default_rng(step if seed is None else seed)

    def attention() -> Attention:
        return Attention(*(rng.uniform(0, size, (T, n)).astype(np.float32) for _ in range(5)), n=2)

    return Snapshot(
        step=step, originals=rng.random((n, 1, size, size), np.float32), labels=np.arange(n),
        reconstructions=rng.random((T, n, 1, size, size), np.float32), read=attention(), write=attention(),
        read_glimpses=np.zeros((T, n, 2, 1, 2, 2), np.float32), write_patches=np.zeros((T, n, 1, 2, 2), np.float32),
        samples=rng.random((T, n, 1, size, size), np.float32), sample_write=attention(), sample_labels=None,
        kl_per_step=rng.random(T).astype(np.float32),
    )


def disk_bytes(run) -> int:
    return sum(p.stat().st_size for p in history.history_dir(run).iterdir())


def test_papers_model_history_stays_under_budget_for_100k_steps_and_keeps_the_rules_steps(tmp_path):
    """100,000 steps of the paper's shapes (T=64, 16+16 images of 28×28) with incompressible
    canvases: the bound holds after every write, and the kept steps are the rule's."""
    writer = HistoryWriter(tmp_path, resumed_step=0)
    written = []
    for step in range(1, 100_001):
        if writer.after_step(step, lambda: fake_snapshot(step, T=64, n=16, size=28)):
            written.append(step)
            assert disk_bytes(tmp_path) <= BUDGET_BYTES
    assert writer.spacing > history.BASE_SPACING  # it had to thin
    expected = [s for s in range(1, 100_001) if kept_by_rule(s, writer.spacing)]
    assert stored_steps(tmp_path) == expected
    assert stored_steps(tmp_path)[:len(EARLY_STEPS)] == list(EARLY_STEPS)
    assert len(written) < 60  # sparse: a snapshot costs a forward pass


def test_a_history_that_compresses_well_thins_less(tmp_path):
    writer = HistoryWriter(tmp_path, resumed_step=0, budget=60_000)
    for step in range(1, 20_001):
        writer.after_step(step, lambda: fake_snapshot(step, n=2, size=8))
    assert disk_bytes(tmp_path) <= 60_000
    assert stored_steps(tmp_path) == [s for s in range(1, 20_001) if kept_by_rule(s, writer.spacing)]


def test_early_snapshots_over_the_budget_lose_the_oldest_first(tmp_path):
    budget = int(3.5 * history.encoded_size(fake_snapshot(1)))
    writer = HistoryWriter(tmp_path, resumed_step=0, budget=budget)
    for step in range(1, 600):
        writer.after_step(step, lambda: fake_snapshot(step))
    assert disk_bytes(tmp_path) <= budget
    assert stored_steps(tmp_path) == [100, 200, 500]


def test_spacing_is_recovered_from_the_files_of_a_reopened_run():
    assert spacing_of([1, 2, 5, 500]) == 1_000
    assert spacing_of([1, 2, 4_000, 8_000, 12_000]) == 4_000
    assert spacing_of([1, 16_000, 32_000]) == 16_000


def test_round_trip_quantises_canvases_to_half_a_grey_level(tmp_path):
    original = fake_snapshot(7)
    HistoryWriter(tmp_path, resumed_step=0).write(original)
    [entry] = read_history(tmp_path)
    back = entry.snapshot()
    assert back.step == 7
    for name in ("originals", "reconstructions", "samples"):
        assert np.abs(getattr(back, name) - getattr(original, name)).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_allclose(back.read.gx, original.read.gx, atol=8 * 2**-11)
    assert back.write.n == 2 and back.sample_write is not None
    np.testing.assert_array_equal(back.kl_per_step, original.kl_per_step)
    np.testing.assert_array_equal(back.labels, original.labels)
    assert back.read_glimpses.size == 0  # glimpses are not kept


def test_a_torn_write_and_a_damaged_file_are_ignored_and_the_torn_one_is_cleaned_up(tmp_path):
    writer = HistoryWriter(tmp_path, resumed_step=0)
    for step in (1, 2):
        writer.write(fake_snapshot(step))
    good = snapshot_path(tmp_path, 2).read_bytes()
    torn = history.history_dir(tmp_path) / ".step-000000005.npz.abcd1234.tmp"  # killed before its rename
    torn.write_bytes(good[: len(good) // 2])
    snapshot_path(tmp_path, 10).write_bytes(good[: len(good) // 2])  # cut short some other way
    assert [e.step for e in read_history(tmp_path)] == [1, 2]
    HistoryWriter(tmp_path, resumed_step=10)
    assert not torn.exists()


def test_resuming_drops_snapshots_of_steps_the_kill_lost(tmp_path):
    writer = HistoryWriter(tmp_path, resumed_step=0)
    for step in (1, 2, 5, 10):
        writer.write(fake_snapshot(step))
    HistoryWriter(tmp_path, resumed_step=5)
    assert stored_steps(tmp_path) == [1, 2, 5]


def test_reader_sees_new_snapshots_and_thinned_ones_go(tmp_path):
    one = history.encoded_size(fake_snapshot(1))
    writer = HistoryWriter(tmp_path, resumed_step=0, budget=len(EARLY_STEPS) * one + 2 * one + one // 2)
    reader = HistoryReader(tmp_path)
    assert reader.poll().added == []
    for step in range(1, 1_001):
        writer.after_step(step, lambda: fake_snapshot(step))
    assert [e.step for e in reader.poll().added] == list(EARLY_STEPS) + [1_000]
    for step in range(1_001, 3_001):
        writer.after_step(step, lambda: fake_snapshot(step))
    change = reader.poll()
    assert [e.step for e in change.added] == [2_000]  # 3,000 came and went with the thinning
    assert change.removed == [1_000]
    assert writer.spacing == 2_000


def test_training_writes_the_history_of_the_models_own_snapshots(tmp_path, tiny_config):
    from drawstudio.train.trainer import Trainer

    tiny_config.train.steps = 12
    trainer = Trainer(tiny_config, tmp_path / "run")
    while not trainer.finished:
        trainer.advance()
    trainer.close()
    assert stored_steps(tmp_path / "run") == [1, 2, 5, 10]
    stored = read_history(tmp_path / "run")[-1].snapshot()
    trainer = Trainer(tiny_config, tmp_path / "run")  # resumed at step 12
    assert stored_steps(tmp_path / "run") == [1, 2, 5, 10]
    assert stored.step == 10 and stored.T == tiny_config.model.T
    assert stored.reconstructions.shape[1] == 16 and stored.samples.shape[1] == 16
    fresh = trainer.snapshot(16, 16)  # step 12 now: different weights, so a different drawing
    assert not np.allclose(fresh.kl_per_step, stored.kl_per_step)
    trainer.close()


def test_the_history_snapshot_is_the_one_the_studio_would_show(tmp_path, tiny_config):
    from drawstudio.train.trainer import Trainer

    tiny_config.train.steps = 5
    trainer = Trainer(tiny_config, tmp_path / "run")
    while not trainer.finished:
        trainer.advance()
    live = trainer.snapshot(16, 16)
    trainer.close()
    stored = read_history(tmp_path / "run")[-1].snapshot()
    assert stored.step == live.step == 5
    np.testing.assert_allclose(stored.kl_per_step, live.kl_per_step, rtol=1e-6)
    assert np.abs(stored.samples - live.samples).max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("step", [3, 999, 1_001])
def test_steps_outside_the_rule_are_not_kept(step):
    assert not kept_by_rule(step, history.BASE_SPACING)


# ---- `drawstudio history` ---------------------------------------------------------------


def test_history_command_writes_one_captioned_frame_per_kept_step(tmp_path, run_cli):
    (tmp_path / "run").mkdir()
    RunConfig().save(tmp_path / "run" / "config.json")
    writer = HistoryWriter(tmp_path / "run", resumed_step=0)
    for step in (1, 2, 5):
        writer.write(fake_snapshot(step))
    code, err = run_cli("history", "--run", tmp_path / "run", "--gif", tmp_path / "t.gif", "--png", tmp_path / "t.png")
    assert code == 0, err
    gif = Image.open(tmp_path / "t.gif")
    assert gif.n_frames == 3
    frames = []
    for index in range(3):
        gif.seek(index)
        frames.append(np.asarray(gif.convert("L")))
    assert not np.array_equal(frames[0], frames[1])  # each frame is its own step's samples
    assert not np.array_equal(frames[0][:14], frames[1][:14])  # and its own caption
    sheet = Image.open(tmp_path / "t.png")
    assert sheet.size == (2 * gif.size[0], 2 * gif.size[1])  # 3 frames on a 2×2 sheet


def test_history_command_says_what_is_missing_in_one_line(tmp_path, run_cli, error_line):
    code, err = run_cli("history", "--run", tmp_path / "nowhere", "--gif", tmp_path / "t.gif")
    assert code == 1 and "no such run directory" in error_line(err)
    (tmp_path / "run").mkdir()
    RunConfig().save(tmp_path / "run" / "config.json")
    code, err = run_cli("history", "--run", tmp_path / "run", "--gif", tmp_path / "t.gif")
    assert code == 1 and "no training history yet" in error_line(err)
    assert not (tmp_path / "t.gif").exists()


def test_attention_beyond_float16s_range_is_kept_as_the_largest_value_without_warnings(tmp_path):
    snapshot = fake_snapshot(1)
    snapshot.write.delta[0, 0] = 1e9  # a diverging model
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HistoryWriter(tmp_path, resumed_step=0).write(snapshot)
    assert read_history(tmp_path)[0].snapshot().write.delta[0, 0] == np.finfo(np.float16).max


def test_a_full_disk_is_a_run_dir_error_naming_the_snapshot_file(tmp_path, monkeypatch):
    import errno

    from drawstudio.errors import RunDirError

    writer = HistoryWriter(tmp_path, resumed_step=0)

    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(history, "atomic_write", full)
    with pytest.raises(RunDirError, match=r"step-000000001\.npz: could not save the training history \(No space left"):
        writer.write(fake_snapshot(1))
    assert stored_steps(tmp_path) == []
