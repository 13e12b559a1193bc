"""The history's encoding and bookkeeping as values: quantisation, stored types, what a decoded
snapshot holds, pickles refused, the budget's edge and files that vanished."""

import dataclasses

import numpy as np

from drawstudio.train import history
from drawstudio.train.history import HistoryWriter, decode, encode, kept_by_rule, load_entry, snapshot_path, stored_steps
from test_history import fake_snapshot


def test_step_zero_is_never_kept():
    assert not kept_by_rule(0, 1000) and kept_by_rule(1000, 1000) and kept_by_rule(1, 1000)


def test_canvases_are_quantised_with_out_of_range_values_clipped_and_nan_as_black():
    values = np.array([-0.5, 1.5, np.nan, 0.5, 0.2], np.float32)
    assert history.quantise(values).tolist() == [0, 255, 0, 128, 51]


def test_a_snapshot_is_stored_in_compact_types_and_decoded_to_float32():
    snapshot = dataclasses.replace(fake_snapshot(5), labels=np.arange(3, dtype=np.int32),
                                   sample_labels=np.array([2, 1], dtype=np.int32),
                                   kl_per_step=np.arange(4, dtype=np.float64))
    arrays = encode(snapshot)
    assert arrays["kl_per_step"].dtype == np.float32
    assert arrays["labels"].dtype == np.int64 and arrays["sample_labels"].dtype == np.int64
    decoded = decode(arrays)
    assert decoded.reconstructions.dtype == np.float32 and decoded.originals.dtype == np.float32
    assert decoded.read.gx.dtype == np.float32 and decoded.kl_per_step.dtype == np.float32
    assert decoded.sample_labels.tolist() == [2, 1]
    assert decoded.read_glimpses.shape == (4, 3, 2, 1, 0, 0) and decoded.read_glimpses.dtype == np.float32
    assert decoded.write_patches.shape == (4, 3, 1, 0, 0) and decoded.write_patches.dtype == np.float32


def test_a_history_file_holding_a_pickle_is_refused(tmp_path):
    arrays = encode(fake_snapshot(1))
    arrays["labels"] = np.array([object(), 1, 2], dtype=object)
    path = tmp_path / "step-000000001.npz"
    np.savez(path, **arrays)
    assert load_entry(path) is None


def test_writing_says_whether_a_snapshot_was_kept(tmp_path):
    writer = HistoryWriter(tmp_path, 0)
    assert writer.after_step(1, lambda: fake_snapshot(1)) is True
    assert writer.after_step(3, lambda: fake_snapshot(3)) is False
    assert writer.after_step(1, lambda: fake_snapshot(1)) is False  # already stored


def test_a_history_exactly_at_its_budget_is_not_thinned(tmp_path):
    size = history.encoded_size(fake_snapshot(1))
    writer = HistoryWriter(tmp_path, 0, budget=size)
    writer.write(fake_snapshot(1))
    assert stored_steps(tmp_path) == [1] and writer.bytes == size


def test_thinning_past_a_file_that_vanished_goes_on(tmp_path):
    size = history.encoded_size(fake_snapshot(1))
    writer = HistoryWriter(tmp_path, 0, budget=int(size * 1.5))
    writer.write(fake_snapshot(1))
    snapshot_path(tmp_path, 1).unlink()  # removed by someone else
    writer.write(fake_snapshot(2))
    assert stored_steps(tmp_path) == [2]


def test_attention_far_below_float16_s_range_is_kept_as_its_lowest_value():
    snapshot = fake_snapshot(1)
    snapshot.read.gx[0, 0] = -1e6
    assert encode(snapshot)["read_gx"][0, 0] == -np.finfo(np.float16).max


def test_a_history_is_started_in_a_run_folder_that_does_not_exist_yet(tmp_path):
    HistoryWriter(tmp_path / "a" / "run", 0).write(fake_snapshot(1))
    assert stored_steps(tmp_path / "a" / "run") == [1]


def test_a_history_that_cannot_be_saved_says_where_and_why(tmp_path):
    import shutil

    import pytest

    from drawstudio.errors import RunDirError

    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirError) as raised:
        HistoryWriter(tmp_path / "file", 0)
    assert str(raised.value) == f"{tmp_path / 'file' / 'history'}: could not save the training history (Not a directory)"
    run = tmp_path / "run"
    writer = HistoryWriter(run, 0)
    shutil.rmtree(run)
    with pytest.raises(RunDirError) as raised:
        writer.write(fake_snapshot(1))
    assert str(raised.value) == f"{run}: could not save the training history (the run directory is gone)"
