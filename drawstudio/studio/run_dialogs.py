"""The questions the main window asks before it opens a run: the first screen, a new run's
settings, which folder to open or follow, and where a trained model's continuation goes.
`MainWindow` inherits them; what they open goes through its `open_*` methods."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication, QFileDialog

from drawstudio.errors import DrawStudioError
from drawstudio.studio.new_run import default_run_dir
from drawstudio.studio.run_setup import RunSetupDialog
from drawstudio.studio.start_dialog import NEW_RUN, OPEN_RUN, StartDialog
from drawstudio.train.opened_run import open_training


class RunDialogs:
    """Mixed into `MainWindow`, whose `saved`, `run`, `snapshot_seconds`, `open_run`, `_open`,
    `toggle_training`, `show_status` and `show_error` these use."""

    def show_run_setup(self, dataset: str | None = None, data_dir: str | None = None, preset: str | None = None,
                       start: bool | None = None) -> bool:
        """Ask for a new run's settings, open it and start it (as the dialog's button said, unless
        `start` says); False when cancelled or it could not be opened."""
        dialog = RunSetupDialog(self, dataset, data_dir or self.saved.data_dir() or None,
                                preset=preset)
        if dialog.exec() != RunSetupDialog.DialogCode.Accepted:
            return False
        config = dialog.config()
        self.saved.remember_data_dir(config.train.data_dir)
        # opening reads the dataset and builds the model before the window can paint again
        self.show_status(f"creating the run: loading {config.train.dataset} and building the model…")
        QApplication.processEvents()
        if not self.open_run(dialog.chosen_run_dir(), config):
            return False
        if dialog.start_after if start is None else start:
            self.toggle_training()
            self.show_status(f"training started: the first step of the T={config.model.T} model is on its way")
        return True

    def show_start(self) -> bool:
        """The first screen: explore a trained model or train a new run. False when cancelled."""
        dialog = StartDialog(self)
        if dialog.exec() != StartDialog.DialogCode.Accepted or dialog.choice is None:
            return False
        if dialog.choice == NEW_RUN:
            return self.show_run_setup()
        if dialog.choice == OPEN_RUN:
            self.choose_run_to_open()
            return self.run is not None
        return self.open_trained_model(dialog.choice)

    def continue_from_pretrained(self) -> None:
        """A new run from the open trained model's weights; the shipped file is only read."""
        if self.run is None or self.run.pretrained is None:
            return
        from drawstudio.pretrained.loading import pretrained_run_config

        name = self.run.pretrained
        default = default_run_dir(f"{name}-continued")
        folder = QFileDialog.getSaveFileName(self, f"New run from {name}", str(default))[0]
        if not folder:
            return
        try:
            config = pretrained_run_config(name)
        except DrawStudioError as error:
            self.show_error(str(error))
            return
        config.train.data_dir = self.saved.data_dir() or None
        self._open(lambda: open_training(Path(folder), config, snapshot_interval=self.snapshot_seconds,
                                         pretrained=name))

    def choose_run_to_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run to train")
        if folder:
            self.open_run(Path(folder))

    def choose_run_to_follow(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Follow a run (read-only)")
        if folder:
            self.follow_run(Path(folder))
