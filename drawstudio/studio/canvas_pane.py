"""The canvas pane: a fixed batch beside its reconstruction, or samples from the prior, at
drawing step t, with the read and write attention boxes of that step.

All T canvases of a snapshot are tiled (as pixels ready to paint) once when the snapshot arrives;
scrubbing t is then indexing plus an image update without a copy, and only what depends
on t is redrawn: the canvas and the boxes, not the data beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from drawstudio.studio.grid_view import GridView, make_layout_widget
from drawstudio.studio.theme import THEME
from drawstudio.studio.snapshot_view import SnapshotView
from drawstudio.studio.tiles import box_paths, columns_for, origin, tile_pixels
from drawstudio.studio.timeline import Timeline
from drawstudio.studio.trajectory import TrajectoryOverlay, centre_path
from drawstudio.train.snapshot import Attention, Snapshot

RECONSTRUCTIONS, SAMPLES = "reconstructions", "samples"
SAMPLES_PER_CLASS = 6  # columns of the one-row-per-class sample grid
ALL_CLASSES = -1


@dataclass
class Frames:
    """One snapshot, laid out for one mode."""

    steps: np.ndarray  # (T, n, C, H, W) the canvases shown on the right, kept for export
    columns: int
    left: np.ndarray  # a single frame of tiled pixels: the data, or the finished samples
    right: np.ndarray  # (T, h, w) tiled pixels of the canvases
    outlines: dict[str, tuple[np.ndarray, np.ndarray] | None]  # read/write paths per step, right view
    left_read: tuple[np.ndarray, np.ndarray] | None  # read paths per step, left view


def build_frames(snapshot: Snapshot, mode: str, columns: int | None = None) -> Frames:
    """Tile every step of `snapshot` for `mode` and trace its attention boxes."""
    steps = snapshot.samples if mode == SAMPLES else snapshot.reconstructions
    _, n, _, height, width = steps.shape
    columns = columns or columns_for(n)

    def paths(attention: Attention | None) -> tuple[np.ndarray, np.ndarray] | None:
        return None if attention is None else box_paths(attention, columns, height, width)

    right = tile_pixels(steps, columns)
    if mode == SAMPLES:
        return Frames(steps, columns, right[-1], right, {"read": None, "write": paths(snapshot.sample_write)}, None)
    read = paths(snapshot.read)
    return Frames(steps, columns, tile_pixels(snapshot.originals, columns), right,
                  {"read": read, "write": paths(snapshot.write)}, read)


class CanvasPane(SnapshotView):
    sample_labels_requested = Signal(object)  # list[int] | None, for TrainingSession.set_sample_labels

    def __init__(self, timeline: Timeline, training_steps: QWidget | None = None, parent: QWidget | None = None):
        """`training_steps`: the training-step bar, shown under the drawing-step slider."""
        super().__init__(timeline, parent)
        self.frames: Frames | None = None
        self._class_names: list[str] = []

        self.mode = QComboBox()
        self.mode.addItem("Reconstructions", RECONSTRUCTIONS)
        self.mode.addItem("Samples from the prior", SAMPLES)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.class_picker = QComboBox()
        self.class_picker.setToolTip("Which class the prior draws (conditional runs)")
        self.class_picker.activated.connect(self._class_picked)
        self.class_label = QLabel("class:")
        self.show_read = QCheckBox("read box")
        self.show_write = QCheckBox("write box")
        for box, colour in ((self.show_read, "read"), (self.show_write, "write")):
            box.setChecked(True)
            box.setStyleSheet(f"color: {THEME.css(colour)}; font-weight: bold")
            box.toggled.connect(self.mark_dirty)
        controls = QHBoxLayout()
        for widget in (self.mode, self.class_label, self.class_picker):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.show_read)
        controls.addWidget(self.show_write)
        self.show_trajectory = QCheckBox("trajectory of image")
        self.show_trajectory.setToolTip("The path of the read and write centres over the drawing steps")
        self.trajectory_image = QSpinBox()
        self.trajectory_image.setRange(1, 1)
        for widget, signal in ((self.show_trajectory, self.show_trajectory.toggled),
                               (self.trajectory_image, self.trajectory_image.valueChanged)):
            controls.addWidget(widget)
            signal.connect(self._place_trajectory)

        self.graphics = make_layout_widget()
        self.left = GridView(self.graphics.ci, "data", 0, 0)
        self.right = GridView(self.graphics.ci, "canvas", 0, 1)
        for view in (self.left, self.right):
            view.add_outline("read", THEME.read)
        self.right.add_outline("write", THEME.write)
        self.trajectory = TrajectoryOverlay(self.right.view)

        self.play = QToolButton()
        self.play.setText("▶")
        self.play.setCheckable(True)
        self.play.setToolTip("Play the drawing")
        self.play.toggled.connect(timeline.set_playing)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 1)
        self.slider.setToolTip("Drawing step t (← / →)")
        self.slider.valueChanged.connect(timeline.set_t)
        self.step_label = QLabel("t = – / –")
        self.step_label.setMinimumWidth(90)
        self.loop = QCheckBox("loop")
        self.loop.setChecked(timeline.loop)
        self.loop.toggled.connect(self._set_loop)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(8)
        self.fps.setSuffix(" steps/s")
        self.fps.setToolTip("Playback speed")
        self.fps.valueChanged.connect(timeline.set_fps)
        transport = QHBoxLayout()
        for widget in (self.play, self.slider, self.step_label, self.loop, self.fps):
            transport.addWidget(widget)
        transport.setStretch(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(transport)
        if training_steps is not None:
            layout.addWidget(training_steps)

        timeline.changed.connect(self._t_changed)
        timeline.length_changed.connect(self._length_changed)
        timeline.playing_changed.connect(self.play.setChecked)
        self.set_classes(None)

    # ---- inputs -----------------------------------------------------------------

    def set_classes(self, names: list[str] | None) -> None:
        """Offer a class picker for a conditional model's samples (None hides it)."""
        self._class_names = list(names or [])
        self.class_picker.clear()
        self.class_picker.addItem("one row per class", ALL_CLASSES)
        for index, name in enumerate(self._class_names):
            self.class_picker.addItem(f"{index}: {name}", index)
        self._show_mode_controls()

    def _show_mode_controls(self) -> None:
        self.show_read.setEnabled(self.current_mode != SAMPLES)  # the prior only writes
        visible = bool(self._class_names) and self.current_mode == SAMPLES
        self.class_picker.setVisible(visible)
        self.class_label.setVisible(visible)

    @property
    def current_mode(self) -> str:
        return self.mode.currentData()

    def sample_labels(self) -> list[int] | None:
        """The labels the picker asks for; None for an unconditional model."""
        count = len(self._class_names)
        if not count:
            return None
        chosen = self.class_picker.currentData()
        if chosen is None or chosen == ALL_CLASSES:
            return [k for k in range(count) for _ in range(SAMPLES_PER_CLASS)]
        return [int(chosen)] * (SAMPLES_PER_CLASS * SAMPLES_PER_CLASS)  # a square grid of that class

    def _class_picked(self) -> None:
        self.sample_labels_requested.emit(self.sample_labels())

    def _mode_changed(self) -> None:
        self._show_mode_controls()
        self.mark_stale()

    def _set_loop(self, loop: bool) -> None:
        self.timeline.loop = loop

    def _t_changed(self, t: int) -> None:
        if self.slider.value() != t:
            self.slider.setValue(t)

    def _length_changed(self, T: int) -> None:
        self.slider.setRange(1, T)

    # ---- drawing (GUI timer) ------------------------------------------------------

    def _layout(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            self.frames = None
            self.left.clear()
            self.right.clear()
            return
        mode = self.current_mode
        per_class = mode == SAMPLES and snapshot.sample_labels is not None
        self.frames = build_frames(snapshot, mode, SAMPLES_PER_CLASS if per_class else None)
        self.left.show(self.frames.left)  # the same at every t
        self.left.set_captions(self._row_captions(snapshot) if per_class else [])
        # titles change with the snapshot, not with t (a title change re-lays out the whole view);
        # t is shown beside the slider
        step = f"training step {snapshot.step}"
        if mode == SAMPLES:
            self.left.set_title(f"samples, finished (t = {len(self.frames.right)}) · {step}")
            self.right.set_title("samples drawing σ(c_t)")
        else:
            self.left.set_title(f"data · {step}")
            self.right.set_title("reconstruction canvas σ(c_t)")
        self.timeline.set_length(snapshot.T)
        self.trajectory_image.setMaximum(self.frames.steps.shape[1])
        self._place_trajectory()

    def _place_trajectory(self) -> None:
        frames, snapshot = self.frames, self.snapshot
        if frames is None or snapshot is None or not self.show_trajectory.isChecked():
            self.trajectory.set_paths({})
        else:
            index = self.trajectory_image.value() - 1
            _, _, _, height, width = frames.steps.shape
            samples = self.current_mode == SAMPLES
            self.trajectory.set_paths({
                "read": None if samples else centre_path(snapshot.read, index, frames.columns, height, width),
                "write": centre_path(snapshot.sample_write if samples else snapshot.write, index, frames.columns,
                                     height, width),
            })
        self.mark_dirty()

    def _row_captions(self, snapshot: Snapshot) -> list[tuple[float, float, str]]:
        """The class the finished samples were asked for, on the first tile of each row that
        starts a new class (one caption when a single class fills the grid)."""
        _, n, _, height, width = snapshot.samples.shape
        captions = []
        previous = None
        for index in range(0, n, SAMPLES_PER_CLASS):
            label = int(snapshot.sample_labels[index])
            if label == previous:
                continue
            previous = label
            name = self._class_names[label] if label < len(self._class_names) else str(label)
            x, y = origin(index, SAMPLES_PER_CLASS, height, width)
            captions.append((x, y, name))
        return captions

    def _draw(self, t: int) -> None:
        frames = self.frames
        assert frames is not None
        index = min(t, len(frames.right)) - 1
        self.right.show(frames.right[index])
        shown = {"read": self.show_read.isChecked(), "write": self.show_write.isChecked()}
        for name, paths in frames.outlines.items():
            self.right.set_outlines(name, *(_at(paths, index) if shown[name] else (None, None)))
        left = frames.left_read if shown["read"] else None
        self.left.set_outlines("read", *_at(left, index))
        self.trajectory.show_step(t)
        self.step_label.setText(f"t = {t} / {len(frames.right)}")

    # ---- export -------------------------------------------------------------------

    def animation(self) -> np.ndarray | None:
        """(T, n, C, H, W) of the current mode, for a GIF."""
        return None if self.frames is None else self.frames.steps

    def current_images(self) -> np.ndarray | None:
        """(n, C, H, W) shown at the current step, for a PNG."""
        if self.frames is None:
            return None
        return self.frames.steps[min(self.timeline.t, len(self.frames.steps)) - 1]

    @property
    def columns(self) -> int | None:
        return None if self.frames is None else self.frames.columns


def _at(paths: tuple[np.ndarray, np.ndarray] | None, index: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    if paths is None:
        return None, None
    return paths[0][index], paths[1][index]
