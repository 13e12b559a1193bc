"""The first screen: explore a trained model that ships with DRAW Studio, or train a new run."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from drawstudio.errors import DrawStudioError
from drawstudio.pretrained.catalog import available

NEW_RUN = "new run"
OPEN_RUN = "open run"


class StartDialog(QDialog):
    """`choice` after exec(): a shipped model's name, NEW_RUN or OPEN_RUN."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("DRAW Studio")
        self.choice: str | None = None
        layout = QHBoxLayout(self)
        layout.addWidget(self._explore_group(), 3)
        layout.addWidget(self._train_group(), 2)

    def _explore_group(self) -> QGroupBox:
        group = QGroupBox("Explore a trained model")
        column = QVBoxLayout(group)
        column.addWidget(QLabel("Models trained and shipped with DRAW Studio: scrub their drawing, sample,\n"
                                "export, or continue training one. They open in a second."))
        self.models = QListWidget()
        self.models.setObjectName("trained models")
        self.models.setWordWrap(True)  # a card's numbers wrap rather than scroll sideways
        self.models.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.models.setMinimumWidth(420)
        try:
            found = available()
        except DrawStudioError as error:
            found = []
            column.addWidget(QLabel(str(error)))
        for model in found:
            item = QListWidgetItem(f"{model.title}\n{model.headline()}")
            item.setData(Qt.ItemDataRole.UserRole, model.name)
            item.setToolTip(str(model.card.get("summary", "")))
            self.models.addItem(item)
        if found:
            self.models.setCurrentRow(0)
        else:
            self.models.setEnabled(False)
            column.addWidget(QLabel("No trained models in this installation."))
        self.models.itemActivated.connect(lambda _item: self._explore())
        column.addWidget(self.models)
        self.explore_button = QPushButton("Explore")
        self.explore_button.setEnabled(bool(found))
        self.explore_button.clicked.connect(self._explore)
        column.addWidget(self.explore_button, alignment=Qt.AlignmentFlag.AlignRight)
        return group

    def _train_group(self) -> QGroupBox:
        group = QGroupBox("Train")
        column = QVBoxLayout(group)
        column.addWidget(QLabel("Train DRAW from scratch and watch it\nlearn to draw, live."))
        self.new_button = QPushButton("Train a new run…")
        self.new_button.setDefault(not self.models.count())
        self.new_button.clicked.connect(lambda: self._choose(NEW_RUN))
        column.addWidget(self.new_button)
        open_button = QPushButton("Open a run…")
        open_button.clicked.connect(lambda: self._choose(OPEN_RUN))
        column.addWidget(open_button)
        column.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)
        return group

    def _explore(self) -> None:
        item = self.models.currentItem()
        if item is not None:
            self._choose(item.data(Qt.ItemDataRole.UserRole))

    def _choose(self, choice: str) -> None:
        self.choice = choice
        self.accept()
