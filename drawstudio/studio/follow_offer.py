"""The answer to opening a run another process trains: who trains it, and an offer to follow it
live instead (read-only, as `--follow` does) rather than resume it as a second writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


class FollowOffer(QMessageBox):
    """Non-modal, like the window's error box: it never blocks a run the window already shows."""

    def __init__(self, parent: QWidget, title: str, follow: Callable[[Path], object]):
        super().__init__(QMessageBox.Icon.Information, title, "", QMessageBox.StandardButton.Cancel, parent)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setInformativeText("Follow it live instead? The studio then shows its curves and drawings as it "
                                "trains, and writes nothing to the run.")
        self.follow_button = self.addButton("Follow it live", QMessageBox.ButtonRole.AcceptRole)
        self.setDefaultButton(self.follow_button)
        self.run_dir = Path()  # set by `offer`, before the box can be seen
        self.follow_button.clicked.connect(lambda: follow(self.run_dir))

    def offer(self, run_dir: Path, reason: str) -> None:
        self.run_dir = Path(run_dir)
        self.setText(reason)
        self.show()
