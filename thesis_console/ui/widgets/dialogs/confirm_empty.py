"""Confirm emptying a state of a queue by typing the queue's name (a deliberate act, not a reflex click)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout, QWidget

from thesis_console.core.types import JobState
from thesis_console.ui.models.formatting import fmt_count


class ConfirmEmptyDialog(QDialog):
    """Enabled only once the typed text equals the queue name exactly."""

    def __init__(self, queue: str, state: JobState, count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.state = state
        self.setWindowTitle(f"Empty {state.value} jobs")
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        warning = QLabel(
            f"This deletes all {fmt_count(count)} {state.value} jobs of the queue <b>{queue}</b>, "
            "with their results. It cannot be undone."
        )
        warning.setWordWrap(True)
        warning.setProperty("role", "warning")
        layout.addWidget(warning)
        layout.addWidget(QLabel(f"Type the queue name <b>{queue}</b> to confirm:"))
        self.confirm_edit = QLineEdit()
        self.confirm_edit.setObjectName("confirmQueueName")
        self.confirm_edit.setPlaceholderText(queue)
        layout.addWidget(self.confirm_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.addButton(f"Empty {state.value}", QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.confirm_edit.textChanged.connect(lambda text: self.ok_button.setEnabled(text == queue))

    def accept(self) -> None:
        if self.confirm_edit.text() == self.queue:
            super().accept()
