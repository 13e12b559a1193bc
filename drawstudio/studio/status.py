"""The status bar's permanent fields: state, step, epoch, images/s, elapsed training time, device."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QStatusBar

from drawstudio.studio.history import MetricsHistory
from drawstudio.train.run_state import RunState

RATE_WINDOW = 20  # logged steps averaged for images/s; one step's rate jitters too much to read


class StatusFields:
    def __init__(self, bar: QStatusBar):
        self.labels = {name: QLabel() for name in ("state", "step", "epoch", "rate", "elapsed", "device")}
        for label in self.labels.values():
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
        self._shown: tuple = ()
        self.update(RunState.NO_RUN, None, "")

    def update(self, state: RunState, history: MetricsHistory | None, device: str) -> None:
        last = history.last_train if history is not None else None
        rates = history.train["images_per_s"].values[-RATE_WINDOW:] if history is not None else np.zeros(0)
        shown = (state, device, None if last is None else last["step"])
        if shown == self._shown:
            return
        self._shown = shown
        self.labels["state"].setText(f"<b>{state}</b>")
        self.labels["device"].setText(_device_text(device, last))
        if last is None:
            for name in ("step", "epoch", "rate", "elapsed"):
                self.labels[name].setText("")
            return
        self.labels["step"].setText(f"step {last['step']:,}")
        self.labels["epoch"].setText(f"epoch {last.get('epoch', 0):.2f}")
        self.labels["rate"].setText(f"{float(np.mean(rates)):,.0f} images/s" if len(rates) else "")
        self.labels["elapsed"].setText(f"trained {_duration(last.get('elapsed', 0.0))}")


def _device_text(device: str, last: dict | None) -> str:
    """The device, with the CPU thread count training uses now (it follows the machine's load)."""
    threads = None if last is None else last.get("threads")
    if threads is None or not device.startswith("cpu"):
        return device
    ranks = last.get("ranks", 1)
    per_rank = f"{ranks} processes of " if ranks > 1 else ""
    return f"cpu ({per_rank}{threads} thread{'' if threads == 1 else 's'}{' each' if ranks > 1 else ''})"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
