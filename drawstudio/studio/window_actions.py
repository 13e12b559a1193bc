"""The main window's actions (with their shortcuts), its toolbar and menus, and which
actions are enabled in which state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from drawstudio.train.run_state import RunState
from drawstudio.version import version


class WindowActions:
    def __init__(self, window: Any):
        self.window = window
        w, a = window, self._action
        self.new_action = a("&New run…", lambda: w.show_run_setup(), QKeySequence.StandardKey.New)
        self.open_action = a("&Open run…", w.choose_run_to_open, QKeySequence.StandardKey.Open,
                             "open a run folder to resume training it")
        self.follow_action = a("&Follow run…", w.choose_run_to_follow, "Ctrl+Shift+O",
                               "watch a run another process is training (read-only)")
        self.explore_action = a("E&xplore a trained model…", lambda: w.show_start(), "Ctrl+T",
                                "open one of the models trained and shipped with DRAW Studio (read-only)")
        self.continue_action = a("&Continue training from here…", w.continue_from_pretrained, None,
                                 "a new run that starts from this trained model's weights")
        self.checkpoint_action = a("&Save checkpoint", w.save_checkpoint, QKeySequence.StandardKey.Save)
        self.gif_action = a("Export animation as &GIF…", lambda: w.exports.gif())
        self.png_action = a("Export grid as &PNG…", lambda: w.exports.png())
        self.csv_action = a("Export metrics as &CSV…", lambda: w.exports.csv())
        self.quit_action = a("&Quit", w.close, QKeySequence.StandardKey.Quit)
        self.start_action = a("Start", w.toggle_training, "Space", "start / pause training (Space)")
        self.step_action = a("Step", w.step_once, "Ctrl+Space", "one training step")
        self.stop_action = a("Stop", w.stop_training, None, "stop training and write a checkpoint")
        self.eval_action = a("Test NLL now", w.evaluate_now, "Ctrl+E", "evaluate the test-set bound now")
        self.extend_action = a("Extend run…", w.extend_run, None, "train beyond the run's planned steps")
        self.prev_action = a("Previous drawing step", lambda: w.timeline.step(-1), "Left")
        self.next_action = a("Next drawing step", lambda: w.timeline.step(1), "Right")
        self.play_action = a("Play drawing", lambda: w.timeline.set_playing(not w.timeline.playing), "P")
        self.reset_layout_action = a("&Reset layout", w.reset_layout, None,
                                     "put the panes back where they open on this screen")
        self.about_action = a("&About DRAW Studio", self.show_about)
        self._toolbar()
        self._menus()

    def _action(self, text: str, slot: Any, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(tip or text)
        action.triggered.connect(slot)
        self.window.addAction(action)  # shortcuts work even when the menu bar is hidden
        return action

    def _toolbar(self) -> None:
        toolbar = self.window.addToolBar("Transport")
        toolbar.setObjectName("transport")
        for action in (self.start_action, self.step_action, self.stop_action, self.checkpoint_action,
                       self.eval_action):
            toolbar.addAction(action)

    def _menus(self) -> None:
        bar = self.window.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.new_action, self.open_action, self.follow_action, self.explore_action):
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Recent runs")
        file_menu.addSeparator()
        file_menu.addAction(self.checkpoint_action)
        for action in (self.gif_action, self.png_action, self.csv_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        training = bar.addMenu("&Training")
        for action in (self.start_action, self.step_action, self.stop_action, self.eval_action, self.extend_action,
                       self.continue_action):
            training.addAction(action)
        view = bar.addMenu("&View")
        for action in (self.play_action, self.prev_action, self.next_action):
            view.addAction(action)
        view.addSeparator()
        for dock in self.window.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addAction(self.reset_layout_action)
        bar.addMenu("&Help").addAction(self.about_action)
        self.fill_recent(self.window.saved.recent_runs())

    def show_about(self) -> None:
        QMessageBox.about(self.window, "About DRAW Studio", about_text())

    def fill_recent(self, recent: list[str]) -> None:
        self.recent_menu.clear()
        for folder in recent:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.window.open_run(Path(f)))
        self.recent_menu.setEnabled(bool(recent))

    def update(self, state: RunState, trains: bool, has_run: bool, has_drawing: bool, pretrained: bool) -> None:
        """Enable what the window's state allows: `trains` when it trains a run itself,
        `pretrained` when it shows a shipped model."""
        self.continue_action.setEnabled(pretrained)
        self.start_action.setText("Pause" if state == RunState.RUNNING else "Start")
        for action in (self.start_action, self.step_action, self.eval_action, self.extend_action,
                       self.checkpoint_action):
            action.setEnabled(trains or (action is self.start_action and not has_run))
        self.stop_action.setEnabled(trains and state in (RunState.RUNNING, RunState.PAUSED, RunState.FINISHED))
        for action in (self.gif_action, self.png_action):
            action.setEnabled(has_drawing)
        self.csv_action.setEnabled(has_run)


def about_text() -> str:
    """The About box's text. Its version is the one `drawstudio --version` and the installed
    wheel report, so a bug report names the same version from either."""
    return (f"<b>DRAW Studio</b> {version()}<br><br>"
            "Train the DRAW model (Gregor et al., 2015) and watch it draw, live.<br>"
            "CHANGELOG.md in the repository says what changed in each release.")
