"""The run-setup dialog's download row: a note on the chosen dataset, a Download button
shown when it is missing and has a download source, enabled once the machine is found to
be online (checked in the background: the check can take seconds offline), and a progress
bar while it downloads on a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from drawstudio.data import DatasetInfo, load_dataset, online
from drawstudio.errors import DrawStudioError


class _Worker(QObject):
    """Reports from a background thread, delivered queued to the GUI thread."""

    online = Signal(bool)
    progress = Signal(int, int, str)  # done, total (0 when unknown), what
    finished = Signal(str)  # "" on success, else the error message


class DownloadRow(QWidget):
    finished = Signal(str)  # a download ended: "" when it succeeded, else why not

    def __init__(self, check_online: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self._worker = _Worker()  # no parent: a download thread may outlive the dialog and still report
        self._worker.online.connect(self.set_online)
        self._worker.progress.connect(self._progress)
        self._worker.finished.connect(self._finished)
        self._online = False
        self._info: DatasetInfo | None = None
        self.threads: list[threading.Thread] = []
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.download = QPushButton("Download")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.download)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        if check_online:
            self._in_background(lambda: self._worker.online.emit(online()))

    def show_dataset(self, info: DatasetInfo | None, note: str) -> None:
        """The chosen dataset (None: a folder of images) and what to say about it."""
        self._info = info
        self.note.setText(note)
        self._update()

    def set_online(self, is_online: bool) -> None:
        self._online = is_online
        self._update()

    def start(self, data_dir: str | None) -> None:
        """Download the shown dataset into `data_dir` (None: the usual place)."""
        assert self._info is not None
        name = self._info.name
        self.download.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)

        def fetch() -> None:
            try:
                load_dataset(name, data_dir, download=True,
                             progress=lambda done, total, what: self._worker.progress.emit(done, total or 0, what))
            except DrawStudioError as error:
                self._worker.finished.emit(str(error))
            else:
                self._worker.finished.emit("")

        self._in_background(fetch)

    def _update(self) -> None:
        missing = self._info is not None and not self._info.present and self._info.downloadable
        self.download.setVisible(missing)
        self.download.setEnabled(missing and self._online)
        self.download.setToolTip("" if self._online else "no internet connection was found")

    def _progress(self, done: int, total: int, what: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.progress.setFormat(f"{what}: {done / 2**20:.1f} MiB")

    def _finished(self, problem: str) -> None:
        self.progress.setVisible(False)
        self.finished.emit(problem)

    def _in_background(self, work: Callable[[], None]) -> None:
        thread = threading.Thread(target=work, name="drawstudio-setup", daemon=True)
        self.threads.append(thread)
        thread.start()
