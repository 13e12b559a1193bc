"""The learning-rate schedule: exponential decay that the user, or the plateau rule, may
re-anchor at any step.

    lr(step) = lr0 · rate^((max(step, hold) − max(start, hold)) / every)

for the newest segment whose `start` ≤ step, where `hold` is the run's `decay_start`: the
decay's clock stands still before it, so a run may train at its full rate first and anneal
after. A change made while training runs starts a new segment at the current step; a segment
that leaves the rate unset continues from the learning rate the schedule had reached, so
changing only the decay never jumps.

The plateau rule lowers the rate by a factor when the held-out bound stops improving; it
only decides when (`plateau_step`), and the change is a new segment like a user's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from drawstudio.config import TrainConfig, validate_schedule


@dataclass(frozen=True)
class Segment:
    start: int  # first step this segment governs
    lr: float  # learning rate at `start`
    decay: float  # factor applied every `every` steps
    every: int
    decay_start: int = 0  # the decay counts no step before this one (the run's `decay_start`)

    def lr_at(self, step: int) -> float:
        decayed = max(step, self.decay_start) - max(self.start, self.decay_start)
        return self.lr * self.decay ** (decayed / self.every)


def first_segment(train: TrainConfig) -> Segment:
    """The schedule a run starts with, from its training settings."""
    return Segment(0, train.lr, train.lr_decay, train.decay_every, train.decay_start)


def current_segment(step: int, segments: list[Segment]) -> Segment:
    """The segment that governs `step`."""
    active = [s for s in segments if s.start <= step]
    return active[-1] if active else segments[0]


def learning_rate(step: int, segments: list[Segment]) -> float:
    """The learning rate at `step` (pure)."""
    return current_segment(step, segments).lr_at(step)


def change(
    segments: list[Segment], step: int, lr: float | None = None, decay: float | None = None, every: int | None = None
) -> list[Segment]:
    """The schedule after a change at `step`; unset values carry on from the current segment."""
    current = current_segment(step, segments)
    new = Segment(
        start=step,
        lr=current.lr_at(step) if lr is None else lr,
        decay=current.decay if decay is None else decay,
        every=current.every if every is None else every,
        decay_start=current.decay_start,
    )
    return [s for s in segments if s.start < step] + [new]


def from_records(first: Segment, records: list[dict[str, Any]]) -> list[Segment]:
    """The schedule a run's metrics records describe (pure): `first` from its config, each
    "schedule" record a change at its step, and a "resume" record that carries the schedule
    restored from a checkpoint replacing what came before (changes lost to a kill included)."""
    segments = [first]
    for record in records:
        if record["kind"] == "schedule":
            segments = change(segments, int(record["step"]), record["lr"], record["decay"], int(record["every"]))
        elif record["kind"] == "resume" and "schedule" in record:
            segments = from_list(record["schedule"])
    return segments


def to_list(segments: list[Segment]) -> list[dict[str, Any]]:
    return [asdict(s) for s in segments]


def from_list(items: list[dict[str, Any]]) -> list[Segment]:
    """Segments stored by `to_list` (in a checkpoint or a resume record); ValueError or
    ConfigError when they cannot be a schedule, so a damaged file is refused, not trained on."""
    # schedules stored before the decay could wait have no "decay_start": theirs began at once
    segments = [Segment(int(i["start"]), float(i["lr"]), float(i["decay"]), int(i["every"]),
                        int(i.get("decay_start", 0))) for i in items]
    if not segments:
        raise ValueError("the learning-rate schedule has no segments")
    for earlier, later in zip(segments, segments[1:]):
        if later.start <= earlier.start:  # `change` replaces a segment at the same step, never adds one
            raise ValueError(f"the schedule's segments are out of order (step {later.start} after {earlier.start})")
    for segment in segments:
        validate_schedule(segment.lr, segment.decay, segment.every, segment.decay_start)
    return segments


@dataclass(frozen=True)
class Plateau:
    """What the plateau rule remembers between evaluations."""

    best: float = math.inf  # the lowest bound seen so far
    stale: int = 0  # evaluations since the best one (or since the last lowering)
    images: int = 0  # how many images the best was measured on (0: not known)


def plateau_step(state: Plateau, bound: float, patience: int, images: int = 0) -> tuple[Plateau, bool]:
    """Feed one evaluation's bound, measured on `images` images, to the plateau rule (pure). → the
    new state, and whether the learning rate is to be lowered now: after `patience` evaluations
    in a row that did not beat the best. The count restarts after a lowering, so a run that stays
    stuck is lowered again only after another `patience` evaluations; `patience` 0 turns the rule
    off. The periodic evaluation uses fixed images and fixed noise, so any gain is the model's,
    not chance's; a bound on another number of images (a resume with a new --eval-images) is
    another measure, and it starts the memory afresh rather than being beaten by a best it cannot
    be compared with."""
    if images and state.images and images != state.images:
        return Plateau(bound, 0, images), False
    if bound < state.best:
        return Plateau(bound, 0, images or state.images), False
    stale = state.stale + 1
    if patience and stale >= patience:
        return Plateau(state.best, 0, state.images), True
    return Plateau(state.best, stale, state.images), False
