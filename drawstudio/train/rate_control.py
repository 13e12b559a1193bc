"""The run's learning rate over time: the schedule's segments, the changes the user makes,
and the plateau rule that lowers the rate when the held-out bound stalls. Every change
becomes a "schedule" record for metrics.jsonl; the plateau rule's carry `"rule": "plateau"`
and the bound they reacted to. Like the trainer that owns it, it knows nothing of threads.
"""

from __future__ import annotations

from typing import Any

from drawstudio.config import TrainConfig, validate_schedule
from drawstudio.train import schedule


class RateControl:
    def __init__(self, train: TrainConfig):
        self.train = train  # read at every evaluation, so a resumed run's new plateau settings apply
        self.segments = [schedule.first_segment(train)]
        self.plateau = schedule.Plateau()

    def lr(self, step: int) -> float:
        return schedule.learning_rate(step, self.segments)

    def change(self, step: int, lr: float | None = None, decay: float | None = None,
               every: int | None = None) -> dict[str, Any]:
        """A change of the schedule from `step` on (unset values carry on); → its record.
        An impossible value is refused with a ConfigError and changes nothing."""
        validate_schedule(lr, decay, every)
        return self._change(step, lr=lr, decay=decay, every=every)

    def observe(self, step: int, split: str, bound: float, images: int = 0) -> dict[str, Any] | None:
        """Feed the plateau rule an evaluation of the held-out bound on `images` images; → the
        record of the lowering it made, or None."""
        self.plateau, lower = schedule.plateau_step(self.plateau, bound, self.train.plateau_patience, images)
        if not lower:
            return None
        record = self._change(step, lr=self.lr(step) * self.train.plateau_factor)
        record.update(rule="plateau", split=split, best=self.plateau.best)
        return record

    def _change(self, step: int, **values: Any) -> dict[str, Any]:
        self.segments = schedule.change(self.segments, step, **values)
        current = self.segments[-1]
        return {"kind": "schedule", "step": step, "lr": current.lr, "decay": current.decay, "every": current.every}

    def state_dict(self) -> dict[str, Any]:
        return {"schedule": schedule.to_list(self.segments),
                "plateau": {"best": self.plateau.best, "stale": self.plateau.stale, "images": self.plateau.images}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """From a checkpoint's "schedule" and (when present: older checkpoints lack it) "plateau".
        A plateau memory written before it held its image count has the count the checkpoint's
        config evaluated on, when that was a number."""
        self.segments = schedule.from_list(state["schedule"])
        stored = state.get("plateau")
        if stored is None:
            self.plateau = schedule.Plateau()
            return
        images = stored.get("images", state.get("config", {}).get("train", {}).get("eval_images"))
        self.plateau = schedule.Plateau(float(stored["best"]), int(stored["stale"]), int(images or 0))
