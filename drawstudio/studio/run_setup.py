"""The run setup dialog: dataset, model and training settings for a new run.

A preset (the paper's settings for one experiment, `drawstudio.train.presets`) fills the
fields in one go; they stay editable, and the preset's note says where its settings come
from and whether the fields still hold them. Every edit rebuilds the `RunConfig` and runs
its `validate()`, so the dialog explains an impossible combination in the engine's own
words and refuses to create it. The dialog is built from one builder per group (preset,
data, model, training, run folder); a missing dataset that has a download source can be
fetched from its data group (`studio/dataset_download.py`), and the defaults it starts from
come from `studio/new_run.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea,
                               QSpinBox, QVBoxLayout, QWidget)

from drawstudio.config import BINARIZE_MODES, LIKELIHOODS, ModelConfig, RunConfig, TrainConfig, start_lr
from drawstudio.data import DatasetInfo, available_datasets
from drawstudio.errors import DrawStudioError
from drawstudio.export.tensorboard import INSTALL_HINT
from drawstudio.export.tensorboard import available as tensorboard_available
from drawstudio.settings_help import TENSORBOARD_DIR, help_for
from drawstudio.studio.dataset_download import DownloadRow
from drawstudio.studio.lr_pane import ScientificSpinBox
from drawstudio.studio.new_run import (RUNS_ROOT, dataset_classes, dataset_shape, default_dataset, default_run_dir,
                                       preset_dataset, unchecked_config)
from drawstudio.studio.setup_fields import (DEVICES, MODEL_INTS, TRAIN_INTS, choice, factor_box, fieldless_settings,
                                            float_box, int_field, preset_note)
from drawstudio.studio.theme import THEME
from drawstudio.train.presets import PRESETS, SCHEDULE, apply_preset, fitted_schedule

CUSTOM = ""  # the preset picker's entry for settings of one's own
FOLDER = "folder"  # the picker entry for a folder of images


class RunSetupDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, dataset: str | None = None, data_dir: str | None = None,
                 check_online: bool = True, preset: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("New DRAW run")
        self._infos: dict[str, DatasetInfo] = {}
        self._run_dir_edited = False
        self.downloads = DownloadRow(check_online)
        self.downloads.download.clicked.connect(lambda: self.downloads.start(self._data_dir()))
        self.downloads.finished.connect(self._download_finished)

        self.ints: dict[str, QSpinBox] = {}
        layout = QVBoxLayout(self)
        # the settings scroll on a short (laptop) screen; the run folder and the buttons stay in view
        settings = QWidget()
        column = QVBoxLayout(settings)
        column.setContentsMargins(0, 0, 0, 0)
        for group in (self._preset_group(), self._data_group(data_dir), self._model_group(), self._training_group()):
            column.addWidget(group)
        self.scroll = QScrollArea()
        self.scroll.setWidget(settings)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setMinimumWidth(settings.sizeHint().width() + self.scroll.verticalScrollBar().sizeHint().width())
        screen = QApplication.primaryScreen()
        room = screen.availableGeometry().height() - 160 if screen is not None else settings.sizeHint().height()
        self.scroll.setMinimumHeight(min(settings.sizeHint().height(), max(200, room)))
        layout.addWidget(self.scroll, 1)
        layout.addLayout(self._run_row())
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {THEME.css('error_text')}")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        # a new run starts training at once; "Create only" leaves it paused at step 0
        self.start_after = True
        self.create_only = self.buttons.addButton("Create only", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create = self.buttons.addButton("Create and start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.create.setDefault(True)
        self.create_only.clicked.connect(lambda: setattr(self, "start_after", False))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        for field, widget in self.setting_widgets().items():
            widget.setToolTip(help_for(field))
        if not tensorboard_available():
            self.tensorboard.setEnabled(False)
            self.tensorboard.setToolTip(f"needs the tensorboard package: {INSTALL_HINT}")
        for widget in (self.attention, self.conditional):
            widget.toggled.connect(self._validate)
        for combo in (self.channels, self.likelihood, self.binarize, self.device):
            combo.currentIndexChanged.connect(self._validate)
        for box in (self.lr, self.lr_decay, self.plateau_factor, self.grad_clip, self.ema_decay):
            box.valueChanged.connect(self._validate)
        # the rate follows the model's T (config.start_lr) until the user sets one
        self.lr.valueChanged.connect(lambda: setattr(self, "_lr_follows_T", False))
        self._lr_follows_T = True
        self.ints["T"].valueChanged.connect(self._T_changed)
        self._scan(dataset)
        if preset:
            self.choose_preset(preset)
            if dataset:  # named on the command line: it wins over the preset's
                self._scan(dataset)

    def _preset_group(self) -> QGroupBox:
        """A preset: the paper's settings for one experiment, and where they come from."""
        self.preset = QComboBox()
        self.preset.addItem("none: my own settings", CUSTOM)
        for name in PRESETS:
            self.preset.addItem(name, name)
        self.preset.setToolTip("The paper's settings for one of its experiments; every field stays editable")
        self.preset.activated.connect(self._preset_picked)
        self.preset_note = QLabel()
        self.preset_note.setWordWrap(True)
        preset_box = QGroupBox("Preset")
        preset_form = QFormLayout(preset_box)
        preset_form.addRow("paper experiment", self.preset)
        preset_form.addRow(self.preset_note)
        self.preset_note.setVisible(False)
        return preset_box

    def _data_group(self, data_dir: str | None) -> QGroupBox:
        """Where the data is, which dataset, and its download when it is missing."""
        self.data_dir = QLineEdit(data_dir or "")
        self.data_dir.setPlaceholderText("the usual places")
        self.data_dir.editingFinished.connect(self._scan)
        self.dataset = QComboBox()
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a folder of images (one subfolder per class)")
        self.folder.textChanged.connect(self._validate)
        browse_folder = QPushButton("Browse…")
        browse_folder.clicked.connect(self._browse_folder)

        data_box = QGroupBox("Data")
        data_form = QFormLayout(data_box)
        data_form.addRow("data folder", self.data_dir)
        data_form.addRow("dataset", self.dataset)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse_folder)
        data_form.addRow("image folder", folder_row)
        data_form.addRow(self.downloads)
        return data_box

    def _model_group(self) -> QGroupBox:
        """The model's sizes and kind."""
        model_defaults = ModelConfig()
        self._fieldless_model: dict[str, Any] = fieldless_settings(model_defaults)
        model_box = QGroupBox("Model")
        model_grid = QGridLayout(model_box)
        for index, (name, label, low, high) in enumerate(MODEL_INTS):
            self.ints[name] = int_field(model_grid, index, label, low, high, getattr(model_defaults, name))
            self.ints[name].valueChanged.connect(self._validate)
        self.attention = QCheckBox("selective attention (read/write boxes)")
        self.attention.setChecked(model_defaults.attention)
        self.conditional = QCheckBox("conditional on class labels")
        self.channels = QComboBox()
        self.channels.addItem("grey (1)", 1)
        self.channels.addItem("colour (3)", 3)
        self.likelihood = choice(LIKELIHOODS, model_defaults.likelihood)
        rows = len(MODEL_INTS) // 2
        model_grid.addWidget(self.attention, rows, 0, 1, 2)
        model_grid.addWidget(self.conditional, rows, 2, 1, 2)
        model_grid.addWidget(QLabel("channels"), rows + 1, 0)
        model_grid.addWidget(self.channels, rows + 1, 1)
        model_grid.addWidget(QLabel("likelihood"), rows + 1, 2)
        model_grid.addWidget(self.likelihood, rows + 1, 3)
        return model_box

    def _training_group(self) -> QGroupBox:
        """How to train: steps, batch, learning-rate schedule, device, logs."""
        train_defaults = TrainConfig(**SCHEDULE)  # a schedule that works, not a constant rate
        train_box = QGroupBox("Training")
        train_grid = QGridLayout(train_box)
        for index, (name, label, low, high) in enumerate(TRAIN_INTS):
            self.ints[name] = int_field(train_grid, index, label, low, high, getattr(train_defaults, name))
            self.ints[name].valueChanged.connect(self._validate)
        self._fitted_steps = train_defaults.steps
        self.ints["steps"].valueChanged.connect(self._steps_changed)
        self.lr = ScientificSpinBox()
        self.lr.setValue(train_defaults.lr)
        self.lr_decay = factor_box(train_defaults.lr_decay)
        self.plateau_factor = factor_box(train_defaults.plateau_factor)
        self.grad_clip = float_box(0.0, 1e9, 2, train_defaults.grad_clip)
        self.ema_decay = float_box(0.0, 0.99999, 5, train_defaults.ema_decay)
        self.binarize = choice(BINARIZE_MODES, train_defaults.binarize)
        self.device = choice(DEVICES, train_defaults.device)
        rows = (len(TRAIN_INTS) + 1) // 2
        labelled = (("learning rate", self.lr), ("decay rate", self.lr_decay),
                    ("plateau: lr factor", self.plateau_factor), ("clip gradient norm (0 = off)", self.grad_clip),
                    ("average weights: decay (0 = off)", self.ema_decay), ("binarize", self.binarize),
                    ("device", self.device))
        for offset, (label, widget) in enumerate(labelled):
            row, col = rows + offset // 2, 2 * (offset % 2)
            train_grid.addWidget(QLabel(label), row, col)
            train_grid.addWidget(widget, row, col + 1)
        self.tensorboard = QCheckBox(f"TensorBoard logs (in the run folder's {TENSORBOARD_DIR}/)")
        train_grid.addWidget(self.tensorboard, rows + (len(labelled) + 1) // 2, 0, 1, 4)  # the row after them
        return train_box

    def _run_row(self) -> QHBoxLayout:
        """Where the new run's folder goes."""
        self.run_dir = QLineEdit()
        self.run_dir.textEdited.connect(self._run_dir_typed)
        browse_run = QPushButton("Browse…")
        browse_run.clicked.connect(self._browse_run_dir)
        run_row = QHBoxLayout()
        run_row.addWidget(QLabel("run folder"))
        run_row.addWidget(self.run_dir, 1)
        run_row.addWidget(browse_run)
        return run_row

    def setting_widgets(self) -> dict[str, QWidget]:
        """The widget that sets each config field (its tooltip is the field's help)."""
        return {**self.ints, "attention": self.attention, "num_classes": self.conditional, "channels": self.channels,
                "likelihood": self.likelihood, "lr": self.lr, "lr_decay": self.lr_decay,
                "plateau_factor": self.plateau_factor, "grad_clip": self.grad_clip, "ema_decay": self.ema_decay,
                "binarize": self.binarize,
                "device": self.device, "data_dir": self.data_dir, "dataset": self.dataset,
                "tensorboard": self.tensorboard}

    # ---- preset -------------------------------------------------------------------

    def choose_preset(self, name: str) -> None:
        """Pick preset `name` (or CUSTOM) as if from the picker."""
        self.preset.setCurrentIndex(self.preset.findData(name))
        self._preset_picked()

    def _preset_picked(self) -> None:
        """Fill the fields with the picked preset's settings on top of the current ones."""
        name = self.preset.currentData()
        if name != CUSTOM:
            self._show_config(unchecked_config(apply_preset(self.config().to_dict(), name)), preset_dataset(name))
        self._validate()

    def _T_changed(self, T: int) -> None:
        if self._lr_follows_T:
            self.lr.blockSignals(True)
            self.lr.setValue(start_lr(T))
            self.lr.blockSignals(False)
            self._validate()

    def _steps_changed(self, steps: int) -> None:
        """A new length: a picked preset's schedule, while its fields still hold it fitted to the
        length before, is fitted to this one (edited by hand, it is left alone)."""
        name, before = self.preset.currentData(), self._fitted_steps
        self._fitted_steps = steps
        if name == CUSTOM:
            return
        fitted_before = fitted_schedule(name, before)
        if all(self.ints[key].value() == value for key, value in fitted_before.items()):
            for key, value in fitted_schedule(name, steps).items():
                self.ints[key].setValue(value)

    def _show_config(self, config: RunConfig, dataset: str | None) -> None:
        """Set the model and training fields from `config`, then pick `dataset` (None: an image
        folder). The dataset comes last because a named dataset fixes the image shape."""
        model, train = config.model, config.train
        self._fieldless_model = fieldless_settings(model)
        for name, *_ in MODEL_INTS:
            self.ints[name].setValue(getattr(model, name))
        for name, *_ in TRAIN_INTS:
            self.ints[name].setValue(getattr(train, name))
        self.attention.setChecked(model.attention)
        self.channels.setCurrentIndex(self.channels.findData(model.channels))
        self.likelihood.setCurrentText(model.likelihood)
        self.lr.setValue(train.lr)
        self._lr_follows_T = train.lr == start_lr(model.T)  # a preset's rate is the rule's
        self.lr_decay.setValue(train.lr_decay)
        self.plateau_factor.setValue(train.plateau_factor)
        self.grad_clip.setValue(train.grad_clip)
        self.ema_decay.setValue(train.ema_decay)
        self.binarize.setCurrentText(train.binarize)
        self.device.setCurrentText(train.device)
        self.dataset.setCurrentIndex(self.dataset.findData(dataset or FOLDER))

    def _holds_preset(self, name: str) -> bool:
        """Whether the fields still hold every setting of preset `name`: applying it again would
        change nothing, and the dataset is the preset's (or a folder, for a folder preset)."""
        current = self.config().to_dict()
        same_dataset = self.dataset.currentData() == (preset_dataset(name) or FOLDER)
        return same_dataset and apply_preset(current, name, current["train"]["steps"]) == current

    def _show_preset_note(self) -> None:
        name = self.preset.currentData()
        self.preset_note.setVisible(name != CUSTOM)
        if name == CUSTOM:
            return
        self.preset_note.setText(preset_note(name, edited=not self._holds_preset(name)))

    # ---- dataset ------------------------------------------------------------------

    def _scan(self, wanted: str | None = None) -> None:
        """List the datasets found with the current data folder, keeping the choice if possible."""
        current = wanted or self.dataset.currentData()
        infos = available_datasets(self._data_dir())
        self._infos = {info.name: info for info in infos}
        self.dataset.blockSignals(True)
        self.dataset.clear()
        for info in infos:
            self.dataset.addItem(info.name if info.present else f"{info.name} (not found)", info.name)
        self.dataset.addItem("image folder…", FOLDER)
        if current and current not in self._infos and current != FOLDER and Path(current).expanduser().is_dir():
            self.folder.setText(current)
            current = FOLDER
        choice = current if current in self._infos or current == FOLDER else default_dataset(infos)
        self.dataset.setCurrentIndex(max(0, self.dataset.findData(choice)))
        self.dataset.blockSignals(False)
        self._dataset_changed()

    def _data_dir(self) -> str | None:
        return self.data_dir.text().strip() or None

    def _dataset_name(self) -> str:
        chosen = self.dataset.currentData()
        return self.folder.text().strip() if chosen == FOLDER else chosen

    def _dataset_changed(self) -> None:
        chosen = self.dataset.currentData()
        self.folder.setEnabled(chosen == FOLDER)
        info = self._infos.get(chosen)
        self.downloads.show_dataset(info, info.note if info else "images are resized to the model's height and width")
        shape = dataset_shape(chosen) if chosen != FOLDER else None
        for widget in (self.ints["height"], self.ints["width"], self.channels):
            widget.setEnabled(shape is None)
        if shape is not None:
            self.channels.setCurrentIndex(self.channels.findData(shape[0]))
            self.ints["height"].setValue(shape[1])
            self.ints["width"].setValue(shape[2])
        self.conditional.setEnabled(chosen == FOLDER or dataset_classes(chosen) > 0)
        if not self._run_dir_edited:
            self.run_dir.setText(str(default_run_dir(self._dataset_name() or "folder")))
        self._validate()

    def _download_finished(self, problem: str) -> None:
        self._scan()
        if problem:
            self.problem.setText(problem)

    # ---- run folder and validation -------------------------------------------------

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images")
        if folder:
            self.folder.setText(folder)

    def _browse_run_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Where to keep the run", str(RUNS_ROOT))
        if folder:
            self._run_dir_typed()
            self.run_dir.setText(str(Path(folder) / default_run_dir(self._dataset_name() or "folder").name))

    def _run_dir_typed(self) -> None:
        self._run_dir_edited = True

    def config(self) -> RunConfig:
        """The settings as a RunConfig (not yet validated)."""
        model = ModelConfig(**self._fieldless_model, **{name: self.ints[name].value() for name, *_ in MODEL_INTS},
                            attention=self.attention.isChecked(), channels=self.channels.currentData(),
                            likelihood=self.likelihood.currentText())
        train = TrainConfig(**{name: self.ints[name].value() for name, *_ in TRAIN_INTS},
                            dataset=self._dataset_name(), data_dir=self._data_dir(), lr=self.lr.value(),
                            lr_decay=self.lr_decay.value(), plateau_factor=self.plateau_factor.value(),
                            grad_clip=self.grad_clip.value(), ema_decay=self.ema_decay.value(),
                            binarize=self.binarize.currentText(),
                            device=self.device.currentText(),
                            tensorboard=TENSORBOARD_DIR if self.tensorboard.isChecked() else None)
        if self.conditional.isChecked() and self.conditional.isEnabled():
            model.num_classes = dataset_classes(train.dataset)
        return RunConfig(model, train)

    def chosen_run_dir(self) -> Path:
        return Path(self.run_dir.text().strip()).expanduser()

    def problem_text(self) -> str:
        """Why the settings cannot make a run, or "" when they can."""
        chosen = self.dataset.currentData()
        folder = self._dataset_name()
        if chosen == FOLDER and not (folder and Path(folder).expanduser().is_dir()):  # Path("") is "."
            return "choose a folder of images"
        try:
            self.config().validate()
        except DrawStudioError as error:
            return str(error)
        info = self._infos.get(chosen)
        if info is not None and not info.present:
            return f"{info.name} is not on this machine: {info.note}"
        if not self.run_dir.text().strip():
            return "choose a run folder"
        return ""

    def _validate(self) -> None:
        self._show_preset_note()
        problem = self.problem_text()
        self.problem.setText(problem)
        for button in (self.create, self.create_only):
            button.setEnabled(not problem)
