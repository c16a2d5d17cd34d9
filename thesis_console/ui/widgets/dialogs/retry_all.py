"""The progress of a bulk retry: a bar, a Cancel button, and afterwards what was done and skipped.

The job actions run the retry (``actions.retry_all_failed`` through the controller) and feed this
dialog: the core calls :meth:`RetryAllDialog.progress` with ``(done, total)`` after each chunk; Cancel
sets :attr:`RetryAllDialog.cancel_event`, which the core checks between chunks, so the jobs not
reached stay failed. :meth:`RetryAllDialog.finish` shows the outcome, with the core's skip reasons.
"""

from __future__ import annotations

import asyncio
import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from thesis_console.core.bulk_retry import NOT_REACHED
from thesis_console.core.types import ActionResult
from thesis_console.ui.models.formatting import fmt_count, plural
from thesis_console.ui.notices import group_by_reason

REASONS_SHOWN = 6


class RetryAllDialog(QDialog):
    """Shows a bulk retry of ``queue`` while it runs and how it ended."""

    def __init__(self, queue: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.cancel_event = asyncio.Event()
        self.running = True
        self.setWindowTitle("Retry all failed jobs")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        self.label = QLabel(f"Retrying the failed jobs of <b>{html.escape(queue)}</b>…")
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the first (done, total) arrives
        self.bar.setFormat("%v of %m")
        self.skips = QLabel("")
        self.skips.setObjectName("retrySkips")
        self.skips.setWordWrap(True)
        self.skips.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.skips)
        layout.addWidget(self.buttons)

    def progress(self, done: int, total: int) -> None:
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(min(done, total))
        self.label.setText(
            f"Retrying the failed jobs of <b>{html.escape(self.queue)}</b>: {fmt_count(done)} of {fmt_count(total)}"
        )

    def finish(self, result: ActionResult | None, error: str | None) -> None:
        """Show the outcome and offer Close."""
        self.running = False
        if error is not None or result is None:
            self.label.setText(f"Retry all failed: {html.escape(error or 'no result')}")
        else:
            canceled = {i for i, why in result.skipped.items() if why == NOT_REACHED}
            text = f"Retried {plural(len(result.done), 'job')} of <b>{html.escape(self.queue)}</b>."
            if canceled:
                text += f" Canceled: {plural(len(canceled), 'job')} left failed."
            self.label.setText(text)
            other = {i: why for i, why in result.skipped.items() if i not in canceled}
            if other:
                self.skips.setText(skip_lines(other))
                self.skips.show()
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
                self.bar.setValue(1)
        self.buttons.clear()
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.buttons.setEnabled(True)

    def reject(self) -> None:
        """Cancel (between chunks) while running; close afterwards."""
        if self.running:
            if not self.cancel_event.is_set():
                self.cancel_event.set()
                self.label.setText("Canceling after the current chunk…")
                self.buttons.setEnabled(False)
            return
        super().reject()


def skip_lines(skipped: dict[str, str]) -> str:
    """The skipped jobs grouped by the core's reason, largest group first, with a few ids each (HTML)."""
    by_reason = group_by_reason(skipped)
    lines = [f"Skipped {plural(len(skipped), 'job')}:"]
    for why, ids in sorted(by_reason.items(), key=lambda item: -len(item[1]))[:REASONS_SHOWN]:
        sample = ", ".join(ids[:3]) + (", …" if len(ids) > 3 else "")
        lines.append(f"• {fmt_count(len(ids))} — {html.escape(why)} ({html.escape(sample)})")
    if len(by_reason) > REASONS_SHOWN:
        lines.append(f"• and {len(by_reason) - REASONS_SHOWN} other reasons")
    return "<br>".join(lines)
