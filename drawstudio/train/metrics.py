"""The run's append-only `metrics.jsonl`: one JSON object per line, each with a "kind".

kinds: "train" (one per logged step), "eval", "schedule" (a learning-rate change),
"resume" (training restarted from the checkpoint at "step"), "checkpoint", "nonfinite",
"ranks" (a studio's training went on from "step" on "ranks" processes of "threads" threads, "why").

A kill can leave a torn last line; the writer starts a fresh line before appending and
the reader skips lines that do not parse. Steps logged after the last checkpoint and
then lost to a kill are logged again after the resume; the reader keeps the newer ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO


class MetricsWriter:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._file: TextIO | None = None

    def _open(self) -> TextIO:
        if self._file is None:
            needs_newline = self.path.exists() and _ends_without_newline(self.path)
            self._file = open(self.path, "a", encoding="utf-8")
            if needs_newline:
                self._file.write("\n")
        return self._file

    def write(self, record: dict[str, Any]) -> None:
        handle = self._open()
        handle.write(json.dumps(record, allow_nan=True) + "\n")
        handle.flush()

    def sync(self) -> None:
        """Make what was written survive a power cut (called with every checkpoint)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _ends_without_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def parse_lines(text: str) -> list[dict[str, Any]]:
    """Records from complete lines; torn or foreign lines are skipped."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "kind" in record:
            records.append(record)
    return records


def drop_replayed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Remove step records that a later "resume" replays (they were lost to a kill)."""
    kept: list[dict[str, Any]] = []
    for record in records:
        if record["kind"] == "resume":
            resumed_at = record.get("step", 0)
            kept = [r for r in kept if r.get("step", 0) <= resumed_at or r["kind"] in ("resume", "schedule")]
        kept.append(record)
    return kept


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All records of a run, as the run would have written them without interruptions."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return drop_replayed(parse_lines(text))


class MetricsFollower:
    """Reads records another process appends, a complete line at a time (the studio's follow mode)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[dict[str, Any]]:
        """Records appended since the last poll. A "resume" record tells the caller to
        drop its own records beyond that step."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < self._offset:  # the file was replaced: start over
                    self._offset, self._partial = 0, b""
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        complete, _, self._partial = data.rpartition(b"\n")
        return parse_lines(complete.decode("utf-8", errors="replace"))
