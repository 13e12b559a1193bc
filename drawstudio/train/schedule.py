"""The learning-rate schedule: exponential decay that the user may re-anchor at any step.

    lr(step) = lr0 · rate^((step − start) / every)

for the newest segment whose `start` ≤ step. A change made while training runs starts a
new segment at the current step; a segment that leaves the rate unset continues from
the learning rate the schedule had reached, so changing only the decay never jumps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Segment:
    start: int  # first step this segment governs
    lr: float  # learning rate at `start`
    decay: float  # factor applied every `every` steps
    every: int

    def lr_at(self, step: int) -> float:
        return self.lr * self.decay ** ((step - self.start) / self.every)


def learning_rate(step: int, segments: list[Segment]) -> float:
    """The learning rate at `step` (pure)."""
    active = [s for s in segments if s.start <= step]
    return (active[-1] if active else segments[0]).lr_at(step)


def change(
    segments: list[Segment], step: int, lr: float | None = None, decay: float | None = None, every: int | None = None
) -> list[Segment]:
    """The schedule after a change at `step`; unset values carry on from the current segment."""
    current = [s for s in segments if s.start <= step][-1]
    new = Segment(
        start=step,
        lr=current.lr_at(step) if lr is None else lr,
        decay=current.decay if decay is None else decay,
        every=current.every if every is None else every,
    )
    return [s for s in segments if s.start < step] + [new]


def to_list(segments: list[Segment]) -> list[dict[str, Any]]:
    return [asdict(s) for s in segments]


def from_list(items: list[dict[str, Any]]) -> list[Segment]:
    return [Segment(int(i["start"]), float(i["lr"]), float(i["decay"]), int(i["every"])) for i in items]
