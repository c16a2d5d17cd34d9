"""Retry every failed job of a queue with a progress bar and a Cancel button.

The core does the work in pipelined chunks (``actions.retry_all_failed``) and calls back with
``(done, total)`` after each chunk; Cancel sets an :class:`asyncio.Event` that the core checks between
chunks, so the jobs not reached stay failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import qasync
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from thesis_console.core.bulk_retry import NOT_REACHED
from thesis_console.core.types import ActionResult
from thesis_console.ui.controller import ConsoleController, resolve
from thesis_console.ui.models.formatting import fmt_count

log = logging.getLogger("thesis_console.ui.retry_all")


class RetryAllDialog(QDialog):
    """Runs the bulk retry while shown; :attr:`result_value` holds the core's answer afterwards."""

    def __init__(self, controller: ConsoleController, queue: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.queue = queue
        self.result_value: ActionResult | None = None
        self.error: str | None = None
        self.cancel_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.setWindowTitle("Retry all failed jobs")
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        self.label = QLabel(f"Retrying the failed jobs of <b>{queue}</b>…")
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first (done, total) arrives
        self.bar.setFormat("%v of %m")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.cancel_or_close)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.buttons)

    def start(self) -> None:
        """Begin the retry (call after show())."""
        self.task = asyncio.get_event_loop().create_task(self.run())

    def progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(min(done, total))
        self.label.setText(f"Retrying the failed jobs of <b>{self.queue}</b>: {fmt_count(done)} of {fmt_count(total)}")

    async def run(self) -> None:
        session = self.controller.session
        try:
            if session is None:
                raise ConnectionError("not connected")
            self.result_value = await resolve(
                session.actions.retry_all_failed(self.queue, progress=self.progress, cancel=self.cancel_event)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("retry all failed: %s", exc, exc_info=True)
            self.error = str(exc)
        self._finished()

    def _finished(self) -> None:
        result = self.result_value
        if self.error is not None:
            self.label.setText(f"Retry all failed: {self.error}")
        elif result is not None:
            canceled = sum(1 for why in result.skipped.values() if why == NOT_REACHED)
            text = f"Retried {fmt_count(len(result.done))} jobs of <b>{self.queue}</b>."
            if canceled:
                text += f" Canceled: {fmt_count(canceled)} left failed."
            # Grouped by the reason's head: "broken job hash", "already queued", "changed meanwhile", ...
            other = Counter(why.split(":", 1)[0] for why in result.skipped.values() if why != NOT_REACHED)
            if other:
                text += " Skipped: " + ", ".join(f"{fmt_count(n)} {head}" for head, n in other.most_common()) + "."
            self.label.setText(text)
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
                self.bar.setValue(1)
        self.buttons.clear()
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.controller.request_refresh()

    @qasync.asyncSlot()
    async def cancel_or_close(self) -> None:
        if self.task is not None and not self.task.done():
            self.cancel_event.set()
            self.label.setText("Cancelling after the current chunk…")
            self.buttons.setEnabled(False)
            await asyncio.shield(self.task)
            self.buttons.setEnabled(True)
            return
        self.accept()

    def reject(self) -> None:  # Escape / window close: cancel first, close when done
        if self.task is not None and not self.task.done():
            self.cancel_or_close()
            return
        super().reject()

    def summary(self) -> str:
        if self.error:
            return f"retry all failed: {self.error}"
        return self.result_value.summary if self.result_value else ""
