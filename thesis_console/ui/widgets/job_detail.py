"""The detail panel of the selected job: summary, arguments, meta, result, traceback, timeline, raw fields.

It reads ``session.reader.detail(id)`` (asynchronously, the latest request wins) and shows every part
in a read-only text box with a Copy button. Pickled data is shown as the core decides: a ``pickled``
payload is described by its size and never unpickled here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QPalette, QTextOption
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.types import JobDetail, JobRow, JobState, Payload, TimelineEvent
from thesis_console.ui import theme
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.models.formatting import fmt_bytes, fmt_duration, fmt_full_time
from thesis_console.ui.models.job_table import attempts_text, topic_of
from thesis_console.ui.models.progress_delegate import text_on

log = logging.getLogger("thesis_console.ui.detail")

DETAIL_DELAY_MS = 80
"""Moving the cursor quickly through a table reads only the row it stops on."""


def payload_text(payload: Payload) -> str:
    """How a decoded value reads in the panel."""
    note = f"\n\n({payload.note})" if payload.note else ""
    if payload.kind == "missing":
        return "(none)" + note
    if payload.kind == "pickled":
        return (
            f"Pickled data, {fmt_bytes(payload.size)} — not unpickled: unpickling data read from Redis can run "
            "arbitrary code, and this connection profile does not trust pickle." + note
        )
    if payload.kind == "binary":
        return f"Binary data, {fmt_bytes(payload.size)}" + note
    if payload.kind == "error":
        return f"Could not decode: {payload.note or payload.value}"
    if payload.kind in ("json", "unpickled"):
        try:
            text = json.dumps(payload.value, indent=2, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            text = repr(payload.value)
        prefix = "(unpickled: trusted profile)\n" if payload.kind == "unpickled" else ""
        return prefix + text + note
    return ("" if payload.value is None else str(payload.value)) + note


def timeline_text(events: tuple[TimelineEvent, ...]) -> str:
    lines = []
    for ev in events:
        when = fmt_full_time(ev.at) or "?"
        line = f"{when}  {ev.what}"
        if ev.outcome:
            line += f" → {ev.outcome}"
        if ev.ended_at is not None and ev.at is not None:
            line += f" after {fmt_duration(ev.ended_at - ev.at)}"
        if ev.worker:
            line += f"  on {ev.worker}"
        if ev.detail:
            line += f"\n    {ev.detail}"
        lines.append(line)
    return "\n".join(lines) or "(no events recorded)"


def summary_pairs(row: JobRow, detail: JobDetail | None) -> list[tuple[str, str]]:
    pairs = [
        ("Id", row.id),
        ("Queue", row.queue),
        ("State", row.state.value + (f" (RQ status {row.status})" if row.status and row.status != row.state.value else "")),
        ("Topic", topic_of(row)),
        ("Function", (detail.function if detail else None) or ""),
        ("Stage", row.stage or ""),
        ("Attempts", attempts_text(row)),
        ("Enqueued", fmt_full_time(row.enqueued_at)),
        ("Started", fmt_full_time(row.started_at)),
        ("Ended", fmt_full_time(row.ended_at)),
        ("Duration", fmt_duration(row.duration_s)),
        ("Worker", row.worker or ""),
    ]
    if row.scheduled_for:
        pairs.append(("Scheduled for", fmt_full_time(row.scheduled_for)))
    if row.error_line:
        pairs.append(("Error", row.error_line))
    if row.problem:
        pairs.append(("Problem", row.problem))
    return [(label, value) for label, value in pairs if value]


class CopyableText(QWidget):
    """A read-only monospace text box with a Copy button."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"detail-{name}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setProperty("role", "code")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setIcon(theme.themed_icon("copy"))
        self.copy_button.setToolTip(f"Copy the {name} to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.copy_button)
        layout.addWidget(self.text, 1)
        layout.addLayout(row)

    def set_text(self, text: str) -> None:
        if self.text.toPlainText() != text:
            bar = self.text.verticalScrollBar()
            keep = bar.value()
            self.text.setPlainText(text)
            bar.setValue(keep)

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.text.toPlainText())


class JobDetailPanel(QWidget):
    """Shows one job; follow the table's cursor with :meth:`show_row`.

    Signals:
    """


    def __init__(self, controller: ConsoleController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.row: JobRow | None = None
        self.detail: JobDetail | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("No job selected")
        self.title.setProperty("role", "heading")
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p% · stage")
        self.progress.hide()
        self.status = QLabel("")
        self.status.setProperty("role", "hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("detailTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.tabBar().setExpanding(False)
        self.tabs.setUsesScrollButtons(True)
        self.setMinimumWidth(300)
        self.summary_page = QWidget()
        self.summary_form = QFormLayout(self.summary_page)
        self.summary_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self._summary_labels: list[str] = []
        self._summary_fields: list[QLabel] = []
        self.summary_copy: QPushButton | None = None
        self.tabs.addTab(self.summary_page, "Summary")
        self.sections: dict[str, CopyableText] = {}
        for key, title in (
            ("arguments", "Args"),
            ("meta", "Meta"),
            ("result", "Result"),
            ("traceback", "Traceback"),
            ("timeline", "Timeline"),
            ("raw", "Raw"),
        ):
            section = CopyableText(key)
            self.sections[key] = section
            self.tabs.addTab(section, title)
        layout.addWidget(self.tabs, 1)
        layout.addStretch(0)

        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(DETAIL_DELAY_MS)
        self._delay.timeout.connect(self._load)
        controller.snapshotChanged.connect(self._on_snapshot)
        self._render()

    # ----------------------------------------------------------------- input
    @Slot(object)
    def show_row(self, row: JobRow | None) -> None:
        """Follow the selected row; the detail is read after a short pause."""
        same_job = row is not None and self.row is not None and row.id == self.row.id
        self.row = row
        if not same_job:
            self.detail = None
            self._generation += 1
        self._render()
        if row is not None:
            self._delay.start()

    def reload(self) -> None:
        if self.row is not None:
            self._delay.start(0)

    def _on_snapshot(self, _snapshot: object) -> None:
        # A running job changes under our eyes: keep its progress and timeline current.
        if self.row is not None and self.row.state in (JobState.ACTIVE, JobState.WAITING, JobState.SCHEDULED):
            self.reload()

    def _load(self) -> None:
        if self.row is None or not self.controller.attached:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = spawn(self._read(self._generation, self.row.id), "read a job's detail")

    async def _read(self, generation: int, job_id: str) -> None:
        try:
            detail = await self.controller.detail(job_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._generation:
                self.status.setText(f"Could not read this job: {exc}")
            return
        if generation != self._generation:
            return
        self.detail = detail
        self.row = detail.row
        self.status.setText("")
        self._render()

    # ----------------------------------------------------------------- output
    def _render(self) -> None:
        row, detail = self.row, self.detail
        self.tabs.setVisible(row is not None)
        if row is None:
            self.title.setText("No job selected")
            self.progress.hide()
            self.status.setText("Select a job to see its arguments, result, traceback and timeline.")
            self._fill_summary([])
            for section in self.sections.values():
                section.set_text("")
            return
        self.title.setText(topic_of(row) or row.id)
        if row.progress is not None and row.state in (JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED):
            self.progress.setValue(max(0, min(100, int(row.progress))))
            palette = self.progress.palette()
            bar_color = QColor(theme.current().state_color(row.state.value))
            palette.setColor(QPalette.ColorRole.Highlight, bar_color)
            palette.setColor(QPalette.ColorRole.HighlightedText, text_on(bar_color))
            self.progress.setPalette(palette)
            self.progress.setFormat(f"%p% · {row.stage}" if row.stage else "%p%")
            self.progress.show()
        else:
            self.progress.hide()
        self._fill_summary(summary_pairs(row, detail))
        if detail is None:
            for section in self.sections.values():
                if not section.plain_text():
                    section.set_text("Loading…")
            return
        args = payload_text(detail.args)
        kwargs = payload_text(detail.kwargs)
        self.sections["arguments"].set_text(f"args:\n{args}\n\nkwargs:\n{kwargs}")
        self.sections["meta"].set_text(payload_text(detail.meta))
        self.sections["result"].set_text(payload_text(detail.result))
        self.sections["traceback"].set_text(detail.traceback or "(no traceback)")
        self.sections["timeline"].set_text(timeline_text(detail.timeline))
        self.sections["raw"].set_text("\n".join(f"{k}: {v}" for k, v in sorted(detail.raw_fields.items())))

    def _fill_summary(self, pairs: list[tuple[str, str]]) -> None:
        form = self.summary_form
        labels = [label for label, _ in pairs]
        if labels == self._summary_labels:
            # Same rows as before (a refresh of the same job): update the texts in place, no flicker.
            for (_, value), field in zip(pairs, self._summary_fields, strict=True):
                if field.text() != value:
                    field.setText(value)
            return
        while form.rowCount():
            form.removeRow(0)
        self._summary_labels = labels
        self._summary_fields = []
        for label, value in pairs:
            field = QLabel(value)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setWordWrap(True)
            self._summary_fields.append(field)
            form.addRow(f"{label}:", field)
        if pairs:
            self.summary_copy = QPushButton("Copy summary")
            self.summary_copy.setIcon(theme.themed_icon("copy"))
            self.summary_copy.clicked.connect(self.copy_summary)
            form.addRow("", self.summary_copy)

    def summary_text(self) -> str:
        if self.row is None:
            return ""
        return "\n".join(f"{k}: {v}" for k, v in summary_pairs(self.row, self.detail) if v)

    def copy_summary(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.summary_text())

    def section_text(self, key: str) -> str:
        return self.sections[key].plain_text()

    def wait_detail(self) -> Any:
        """The task reading the detail now, if any (tests)."""
        return self._task
