"""The progress of a retry of every failed job of a queue (a :class:`BulkActionDialog`)."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from thesis_console.ui.widgets.dialogs.bulk_action import BulkActionDialog, BulkWords


class RetryAllDialog(BulkActionDialog):
    """Shows a bulk retry of ``queue`` while it runs and how it ended."""

    def __init__(self, queue: str, parent: QWidget | None = None) -> None:
        words = BulkWords(
            title="Retry all failed jobs",
            doing=f"Retrying the failed jobs of {queue}",
            did="Retried",
            where=f"of {queue}",
            left="left failed",
        )
        super().__init__(words, parent)
        self.queue = queue
