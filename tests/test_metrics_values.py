"""metrics.jsonl as values: what the writer appends after a torn line, which records the
reader keeps after a resume, and what the follower returns a complete line at a time."""

import json
import os
from pathlib import Path

from drawstudio.train import metrics as metrics_module
from drawstudio.train.metrics import MetricsFollower, MetricsWriter, drop_replayed, parse_lines, read_metrics


def test_the_writer_appends_one_json_line_per_record_and_reopens_after_close(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    writer.write({"kind": "train", "step": 1, "loss": float("nan")})
    assert path.read_text() == '{"kind": "train", "step": 1, "loss": NaN}\n'  # flushed at once
    writer.sync()
    writer.close()
    writer.close()  # twice is fine
    writer.write({"kind": "eval", "step": 2})
    writer.close()
    assert path.read_text().splitlines()[1] == '{"kind": "eval", "step": 2}'


def test_the_writer_starts_a_fresh_line_after_a_torn_one_but_not_in_an_empty_file(tmp_path):
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"kind": "train", "step": 1}\n{"kind": "tr')
    writer = MetricsWriter(torn)
    writer.write({"kind": "resume", "step": 1})
    writer.close()
    assert torn.read_text() == '{"kind": "train", "step": 1}\n{"kind": "tr\n{"kind": "resume", "step": 1}\n'
    for name, text in (("empty.jsonl", ""), ("whole.jsonl", '{"kind": "x"}\n')):
        path = tmp_path / name
        path.write_text(text)
        writer = MetricsWriter(path)
        writer.write({"kind": "y"})
        writer.close()
        assert path.read_text() == text + '{"kind": "y"}\n'


def test_the_reader_skips_torn_and_foreign_lines():
    text = '{"kind": "train", "step": 1}\n{"kind": "tr\n[1, 2]\n{"step": 3}\n\n{"kind": "eval", "step": 2}'
    assert parse_lines(text) == [{"kind": "train", "step": 1}, {"kind": "eval", "step": 2}]


def test_a_resume_drops_the_step_records_after_its_step_but_keeps_resumes_and_schedule_changes():
    records = [{"kind": "train", "step": 1}, {"kind": "train", "step": 2}, {"kind": "schedule", "step": 3},
               {"kind": "resume", "step": 3}, {"kind": "train", "step": 4}, {"kind": "train", "step": 5},
               {"kind": "checkpoint"}, {"kind": "resume", "step": 4}, {"kind": "train", "step": 5}]
    assert drop_replayed(records) == [
        {"kind": "train", "step": 1}, {"kind": "train", "step": 2}, {"kind": "schedule", "step": 3},
        {"kind": "resume", "step": 3}, {"kind": "train", "step": 4}, {"kind": "checkpoint"},
        {"kind": "resume", "step": 4}, {"kind": "train", "step": 5}]


def test_a_resume_without_a_step_counts_as_step_zero_and_so_does_a_record_without_one():
    records = [{"kind": "note"}, {"kind": "train", "step": 0}, {"kind": "train", "step": 1}, {"kind": "resume"}]
    assert drop_replayed(records) == [{"kind": "note"}, {"kind": "train", "step": 0}, {"kind": "resume"}]


def test_resumes_and_schedule_changes_beyond_a_later_resume_are_kept():
    records = [{"kind": "schedule", "step": 8}, {"kind": "resume", "step": 9}, {"kind": "eval", "step": 9},
               {"kind": "resume", "step": 5}]
    assert drop_replayed(records) == [{"kind": "schedule", "step": 8}, {"kind": "resume", "step": 9},
                                      {"kind": "resume", "step": 5}]


def open_handles(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


def test_sync_forces_the_metrics_file_to_disk_and_close_releases_it(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    writer = MetricsWriter(path)
    synced = []
    monkeypatch.setattr(metrics_module.os, "fsync", synced.append)
    writer.sync()
    assert synced == []  # nothing open yet
    writer.write({"kind": "train"})
    writer.sync()
    assert len(synced) == 1 and os.path.realpath(f"/proc/self/fd/{synced[0]}") == str(path.resolve())
    assert open_handles(path) == 1
    writer.close()
    assert open_handles(path) == 0


def test_reading_a_run_without_metrics_gives_no_records_and_bad_bytes_do_not_stop_it(tmp_path):
    assert read_metrics(tmp_path / "missing.jsonl") == []
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"kind": "train", "step": 1}\n\xff\xfe\n{"kind": "resume", "step": 0}\n')
    assert read_metrics(path) == [{"kind": "resume", "step": 0}]


def test_the_follower_returns_complete_lines_once_and_keeps_a_partial_line_for_later(tmp_path):
    path = tmp_path / "metrics.jsonl"
    follower = MetricsFollower(path)
    assert follower.poll() == []  # no file yet
    path.write_text('{"kind": "train", "step": 1}\n{"kind": "tra')
    assert follower.poll() == [{"kind": "train", "step": 1}]
    assert follower.poll() == []
    with open(path, "a") as handle:
        handle.write('in", "step": 2}\n')
    assert follower.poll() == [{"kind": "train", "step": 2}]
    assert follower.poll() == []
    with open(path, "ab") as handle:
        handle.write(b'{"kind": "eval", "step": 3, "note": "\xff"}\n')
    assert follower.poll() == [{"kind": "eval", "step": 3, "note": "\ufffd"}]  # a bad byte does not stop it
    assert follower.poll() == []
    path.write_text(json.dumps({"kind": "eval", "step": 9}) + "\n")  # replaced by a shorter file
    assert follower.poll() == [{"kind": "eval", "step": 9}]
