"""The main window: panes in docks, transport, menus and shortcuts, the redraw timer, and
what persists between sessions (layout, recent runs, view settings).

Threading: the window only touches widgets from the GUI thread. Engine events arrive
through the `Bridge` (queued); panes keep the newest snapshot and redraw it from the
redraw timer, so training never waits for painting and painting never waits for training.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QInputDialog, QMainWindow, QMessageBox, QWidget

from drawstudio.errors import DrawStudioError, RunLockedError
from drawstudio.studio import window_layout
from drawstudio.studio.bridge import Bridge
from drawstudio.studio.canvas_pane import CanvasPane
from drawstudio.studio.curves_pane import CurvesPane
from drawstudio.studio.exports import Exports
from drawstudio.studio.follow_offer import FollowOffer
from drawstudio.studio.glimpse_pane import GlimpsePane
from drawstudio.studio.history import MetricsHistory
from drawstudio.studio.lr_pane import LrPane
from drawstudio.studio.run_dialogs import RunDialogs
from drawstudio.studio.status import StatusFields
from drawstudio.studio.timeline import Timeline
from drawstudio.studio.training_steps import TrainingSteps
from drawstudio.studio.window_actions import WindowActions
from drawstudio.studio.window_settings import WindowSettings
from drawstudio.train.opened_run import OpenedRun, open_following, open_trained_model, open_training
from drawstudio.train.run_state import RunState

# Redraw timer. Each tick redraws at most one pane (the next one, in turn, with something new),
# so one event-loop iteration paints one pane, not the whole window: painting a pane can take
# 30 ms on a CPU, the window ~100. Every frame painted is CPU taken from training.
RENDER_MS = 50
# While training runs on this machine the drawing animation shows at most this many frames a
# second (skipping steps, at the chosen speed): each frame paints two panes.
TRAINING_FRAME_RATE = 4.0
SNAPSHOT_SECONDS = 2.0  # while training: how often the training thread draws a snapshot
HIDDEN_SNAPSHOT_SECONDS = 1e9  # no pane shows snapshots: don't spend training time on them
APP_NAME = "DRAW Studio"


class MainWindow(RunDialogs, QMainWindow):
    def __init__(self, settings: QSettings | None = None, snapshot_seconds: float = SNAPSHOT_SECONDS,
                 follow_poll_seconds: float = 1.0):
        super().__init__()
        self.saved = WindowSettings(settings if settings is not None else QSettings("drawstudio", "DRAW Studio"))
        self.exports = Exports(self)
        self.snapshot_seconds = snapshot_seconds
        self.follow_poll_seconds = follow_poll_seconds
        self.run: OpenedRun | None = None
        self.state = RunState.NO_RUN
        self.history = MetricsHistory()
        self.timeline = Timeline(self)
        self.bridge = Bridge(self)
        self.setWindowTitle(APP_NAME)
        self.setDockNestingEnabled(True)

        self.training_steps = TrainingSteps(self.timeline, parent=self)
        self.canvas = CanvasPane(self.timeline, self.training_steps.bar)
        self.glimpses = GlimpsePane(self.timeline)
        self.curves = CurvesPane(self.history)
        self.lr_pane = LrPane(self.history)
        self.setCentralWidget(self.canvas)
        self.docks = {
            "glimpses": self._dock("Glimpses and write patches", self.glimpses, Qt.DockWidgetArea.BottomDockWidgetArea),
            "curves": self._dock("Training curves", self.curves, Qt.DockWidgetArea.RightDockWidgetArea),
            "lr": self._dock("Learning rate", self.lr_pane, Qt.DockWidgetArea.RightDockWidgetArea),
            "heatmap": self._dock("KL heatmap", self.training_steps.heatmap, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self._message_box: QMessageBox | None = None
        self.follow_offer = FollowOffer(self, APP_NAME, self.follow_run)
        self._next_pane = 0  # the pane whose turn it is to redraw
        # the first open fits the screen; later ones restore the user's geometry and arrangement
        restored = self.saved.restore_geometry(self)
        self.opens_maximised = not restored and self.fit_to_screen()
        self._default_layout()

        self.menu_actions = WindowActions(self)
        self.status = StatusFields(self.statusBar())

        self.bridge.records.connect(self._on_records)
        self.bridge.snapshot_ready.connect(self.training_steps.offer_live)
        self.training_steps.shown.connect(self._on_snapshot)
        self.bridge.state_changed.connect(self._set_state)
        self.bridge.error.connect(self.show_error)
        self.canvas.sample_labels_requested.connect(self._sample_labels_requested)
        self.lr_pane.error.connect(self.show_error)
        self.curves.references.error.connect(self.show_error)
        self.lr_pane.applied.connect(self.show_status)

        self.render_timer = QTimer(self)
        self.render_timer.setInterval(RENDER_MS)
        self.render_timer.timeout.connect(self.render)
        self.render_timer.start()
        self.saved.restore(self)
        self._update_actions()

    def _default_layout(self) -> None:
        """Curves and learning rate down the right at full height, glimpses and the KL heatmap
        under the canvas, tabbed where the window's size leaves them too little room
        (restoreState replaces this with the user's own arrangement)."""
        window_layout.arrange(self, self.docks, window_layout.plan_for(self.size()))

    def fit_to_screen(self) -> bool:
        """The geometry of a first open on the window's screen; True when the window is to open
        maximised (a laptop's screen)."""
        available = window_layout.available_geometry(self)
        self.setGeometry(window_layout.first_geometry(available))
        return window_layout.opens_maximised(available.size())

    def reset_layout(self) -> None:
        """The window and its docks as they first open on the screen the window is on."""
        if not self.isMaximized() and self.fit_to_screen():
            self.showMaximized()
        self._default_layout()

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ---- opening runs ---------------------------------------------------------------

    def open_trained_model(self, name: str, data_dir: str | None = None) -> bool:
        """Show the shipped model `name` read-only (its drawing is computed on a thread of its own)."""
        return self._open(lambda: open_trained_model(name, data_dir=data_dir or self.saved.data_dir() or None))

    def open_run(self, run_dir: Path, config: Any = None, data_dir: str | None = None) -> bool:
        """Train `run_dir`: a new run from `config`, or the existing run resumed. False (with
        the reason shown) when it cannot be opened."""
        return self._open(lambda: open_training(run_dir, config, data_dir=data_dir,
                                                snapshot_interval=self.snapshot_seconds))

    def follow_run(self, run_dir: Path) -> bool:
        """Watch `run_dir` while another process trains it."""
        return self._open(lambda: open_following(run_dir, poll_seconds=self.follow_poll_seconds))

    def _open(self, make: Callable[[], OpenedRun]) -> bool:
        self.close_run()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        opened: OpenedRun | None = None
        try:
            opened = make()
            if opened.session is not None:
                session = opened.session
                session.set_sample_labels(self._labels_for(opened))
                # the untrained (or resumed) model's drawing before any step: training has not started,
                # so this is the one snapshot the GUI thread computes itself
                self.training_steps.offer_live(session.snapshot_now())
        except DrawStudioError as error:
            if opened is not None:
                opened.close()
            if isinstance(error, RunLockedError):
                self.follow_offer.offer(error.run_dir, str(error))
            else:
                self.show_error(str(error))
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self._install(opened)
        return True

    def _labels_for(self, opened: OpenedRun) -> list[int] | None:
        self.canvas.set_classes(opened.classes)
        return self.canvas.sample_labels()

    def _install(self, opened: OpenedRun) -> None:
        self.run = opened
        self.history.extend(opened.history)
        self.curves.reset()
        if opened.pretrained is not None:
            self.lr_pane.set_run(opened.config.train, None, "a trained model: the schedule it was trained with")
        else:
            self.lr_pane.set_run(opened.config.train, opened.session)
        if opened.session is None:
            opened.set_sample_labels(self._labels_for(opened))
        self.bridge.attach(opened.source)
        self.training_steps.set_run(opened.run_dir, trained_model=opened.pretrained is not None)
        if opened.session is not None:
            self._set_state(opened.session.state)
        else:
            self._set_state(RunState.WAITING if opened.viewer is not None else RunState.FOLLOWING)
        # torch, Qt and the run leave a few hundred thousand long-lived objects; a full garbage
        # collection walking them holds the GIL for 100-200 ms, freezing the window and training
        # alike. Frozen objects are never scanned again.
        gc.freeze()
        opened.start_source()
        if opened.pretrained is not None:
            self.setWindowTitle(f"{opened.pretrained} — {APP_NAME} (trained model, read-only)")
            self.show_status(f"opened the trained model {opened.pretrained}: "
                             + (f"{opened.note}; " if opened.note else "scrub, sample, export; ")
                             + "Training ▸ Continue training from here… makes a new run of it")
        else:
            self.setWindowTitle(f"{opened.run_dir.name} — {APP_NAME}{' (following)' if opened.read_only else ''}")
            self.saved.remember(opened.run_dir)  # a shipped model is no run to reopen from Recent runs
            self.menu_actions.fill_recent(self.saved.recent_runs())
            self.show_status(f"opened {opened.run_dir}" + (" (read-only)" if opened.read_only else ""))
        self._update_actions()

    def close_run(self) -> None:
        """Stop what the open run is doing (training writes a checkpoint) and forget it."""
        if self.run is None:
            return
        run, self.run = self.run, None
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            run.close()
        finally:
            QApplication.restoreOverrideCursor()
        self.bridge.detach()
        self.training_steps.set_run(None)
        self.history.clear()
        for pane in (self.canvas, self.glimpses, self.curves):
            pane.set_snapshot(None)
        self.lr_pane.set_run(None, None)
        self._set_state(RunState.NO_RUN)

    # ---- transport --------------------------------------------------------------------

    def _session(self) -> Any:
        return self.run.session if self.run is not None else None

    def toggle_training(self) -> None:
        session = self._session()
        if self.run is None:
            self.show_run_setup()
        elif self.run.pretrained is not None:
            self.show_status("a trained model is read-only: Training ▸ Continue training from here… "
                             "makes a new run of it")
        elif session is None:
            self.show_status("this run is followed read-only; its own process trains it")
        elif session.state == RunState.RUNNING:
            session.pause()
        elif session.state == RunState.FINISHED or self.history.step >= self.run.config.train.steps:
            self.show_status(f"the run reached its {self.run.config.train.steps} steps: "
                             "Training ▸ Extend run… to train longer")
        elif self._ensure_live():
            self.run.session.start()

    def _ensure_live(self) -> bool:
        """A stopped or failed session's thread is gone: reopen the run (it resumes) to go on."""
        session = self._session()
        if session.state not in (RunState.STOPPED, RunState.FAILED):
            return True
        return self.open_run(self.run.run_dir)

    def step_once(self) -> None:
        if self._session() is not None and self._ensure_live():
            self.run.session.step_once()

    def stop_training(self) -> None:
        session = self._session()
        if session is not None:
            session.stop(timeout=0)  # the thread checkpoints and reports "stopped"; don't wait for it here

    def save_checkpoint(self) -> None:
        session = self._session()
        if session is not None:
            session.request_checkpoint()
            self.show_status("checkpoint requested")

    def evaluate_now(self) -> None:
        session = self._session()
        if session is not None:
            session.request_eval()

    def extend_run(self) -> None:
        session = self._session()
        if session is None:
            return
        planned, reached = self.run.config.train.steps, self.history.step
        steps, ok = QInputDialog.getInt(self, "Extend run", "Train until step:", max(planned, reached) + 10_000,
                                        reached + 1, 1_000_000_000)
        if ok:
            session.extend(steps)

    def _sample_labels_requested(self, labels: list[int] | None) -> None:
        if self.run is not None:
            self.run.set_sample_labels(labels)

    # ---- engine events (GUI thread, via the bridge) ---------------------------------------

    def _on_records(self, records: list[dict[str, Any]]) -> None:
        self.history.extend(records)

    def _on_snapshot(self, snapshot: Any) -> None:
        for pane in (self.canvas, self.glimpses, self.curves):
            pane.set_snapshot(snapshot)

    def _set_state(self, state: str) -> None:
        self.state = RunState(state)  # the bridge's signal carries the label
        training = self.state.training
        self.timeline.set_max_frame_rate(TRAINING_FRAME_RATE if training else None)
        self._update_actions()

    # ---- messages ---------------------------------------------------------------------

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 10_000)

    def show_error(self, message: str) -> None:
        """An engine or user error: in the status bar and in a non-modal message box that the
        next error reuses (errors never stack up dialogs, and never block training)."""
        self.statusBar().showMessage(message, 30_000)
        if self._message_box is None:
            self._message_box = QMessageBox(QMessageBox.Icon.Warning, APP_NAME, "", QMessageBox.StandardButton.Ok,
                                            self)
            self._message_box.setWindowModality(Qt.WindowModality.NonModal)
        self._message_box.setText(message)
        self._message_box.show()

    @property
    def last_error(self) -> str:
        return self._message_box.text() if self._message_box is not None else ""

    # ---- redraw timer -----------------------------------------------------------------

    def _on_screen(self, pane: QWidget) -> bool:
        """Whether any of `pane` can be seen: not minimised, hidden, tabbed away or covered by a dock."""
        return not self.isMinimized() and pane.isVisible() and not pane.visibleRegion().isEmpty()

    def render(self) -> None:
        panes = [pane for pane in (self.canvas, self.glimpses, self.curves, self.lr_pane) if self._on_screen(pane)]
        shows_snapshots = any(pane is not self.lr_pane for pane in panes)
        session = self._session()
        if session is not None:
            wanted = self.snapshot_seconds if shows_snapshots else HIDDEN_SNAPSHOT_SECONDS
            if session.snapshot_interval != wanted:
                session.snapshot_interval = wanted
                if shows_snapshots:
                    session.request_snapshot()
        for offset in range(len(panes)):
            turn = (self._next_pane + offset) % len(panes)
            if panes[turn].refresh():
                self._next_pane = turn + 1
                break
        self.status.update(self.state, self.history if self.run is not None else None,
                           self.run.device if self.run is not None else "")
        if self.menu_actions.gif_action.isEnabled() != (self.canvas.animation() is not None):
            self._update_actions()

    def _update_actions(self) -> None:
        session = self.run.session if self.run is not None else None
        self.menu_actions.update(self.state, session is not None, self.run is not None,
                                 self.canvas.animation() is not None,
                                 self.run is not None and self.run.pretrained is not None)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.render_timer.stop()
        self.saved.save(self)
        self.close_run()
        super().closeEvent(event)
