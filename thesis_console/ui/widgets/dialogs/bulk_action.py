"""The progress of an action on many jobs: a bar, a Cancel button, and afterwards what was done and skipped.

The job actions run the action through the controller and feed this dialog: the core calls
:meth:`BulkActionDialog.progress` with ``(done, total)`` after each chunk; Cancel sets
:attr:`BulkActionDialog.cancel_event`, which the core checks between chunks, so the jobs not reached
stay as they were. :meth:`BulkActionDialog.finish` shows the outcome, with the core's skip reasons.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from thesis_console.core.bulk_retry import is_not_reached
from thesis_console.core.types import ActionResult
from thesis_console.ui.models.formatting import fmt_count, plural
from thesis_console.ui.notices import group_by_reason

REASONS_SHOWN = 6


@dataclass(frozen=True)
class BulkWords:
    """How one bulk action reads in its dialog (plain text; the dialog escapes it)."""

    title: str
    """The window title: ``Retry all failed jobs``."""
    doing: str
    """While it runs: ``Retrying the failed jobs of thesis``."""
    did: str
    """Afterwards, before the count: ``Retried``."""
    where: str
    """Afterwards, after the count: ``of thesis``."""
    left: str
    """What the jobs not reached after a Cancel are: ``left failed``."""


class BulkActionDialog(QDialog):
    """Shows a bulk action while it runs and how it ended."""

    def __init__(self, words: BulkWords, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bulkActionDialog")
        self.words = words
        self.cancel_event = asyncio.Event()
        self.running = True
        self.setWindowTitle(words.title)
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        self.label = QLabel(f"{html.escape(words.doing)}…")
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
        if not self.cancel_event.is_set():
            self.label.setText(f"{html.escape(self.words.doing)}: {fmt_count(done)} of {fmt_count(total)}")

    def finish(self, result: ActionResult | None, error: str | None) -> None:
        """Show the outcome and offer Close."""
        self.running = False
        if error is not None or result is None:
            self.label.setText(f"{html.escape(self.words.title)}: {html.escape(error or 'no result')}")
        else:
            canceled = {i for i, why in result.skipped.items() if is_not_reached(why)}
            text = f"{self.words.did} {plural(len(result.done), 'job')} {html.escape(self.words.where)}."
            if canceled:
                text += f" Canceled: {plural(len(canceled), 'job')} {html.escape(self.words.left)}."
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
