"""Confirm emptying a state of a queue by typing the queue's name (a deliberate act, not a reflex click).

The button that deletes says how many jobs it deletes; the one that keeps them is the default, so
Enter never empties anything.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from thesis_console.core.types import JobState
from thesis_console.ui.confirmations import empty_question


class ConfirmEmptyDialog(QDialog):
    """Its delete button is enabled only once the typed text equals the queue name exactly."""

    def __init__(self, queue: str, state: JobState, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.state = state
        question = empty_question(queue, state, count)
        self.setWindowTitle(question.title)
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        warning = QLabel(html.escape(question.text))
        warning.setWordWrap(True)
        warning.setProperty("role", "warning")
        layout.addWidget(warning)
        layout.addWidget(QLabel(f"Type the queue name <b>{html.escape(queue)}</b> to confirm:"))
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setObjectName("confirmQueueName")
        self.confirm_edit.setPlaceholderText(queue)
        layout.addWidget(self.confirm_edit)
        self.buttons = QDialogButtonBox()
        self.ok_button = self.buttons.addButton(question.act, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.keep_button = self.buttons.addButton(question.keep, QDialogButtonBox.ButtonRole.RejectRole)
        self.ok_button.setEnabled(False)
        self.ok_button.setAutoDefault(False)
        self.keep_button.setDefault(True)
        self.ok_button.clicked.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.confirm_edit.textChanged.connect(lambda text: self.ok_button.setEnabled(text == queue))

    def accept(self) -> None:
        if self.confirm_edit.text() == self.queue:
            super().accept()
