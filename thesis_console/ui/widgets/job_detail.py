"""The detail panel of the selected job: summary, arguments, meta, result, traceback, timeline, raw fields.

It reads the job through ``ConsoleController.detail`` (asynchronously, the latest request wins) and
shows every part in a read-only text box with a Copy button. Pickled data is shown as the core
decides: a ``pickled`` payload is described by its size and never unpickled here.

The panel keeps its job when the job leaves the table (canceled, retried, deleted by anyone): it
says where the job went and when ("now canceled, 12:03:07") and offers the actions that apply to
its new state (from the core's policy table). It says so when the job's hash contradicts the
registry that lists it. The header has a fixed height, so the tabs never move.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QPalette, QResizeEvent, QTextOption
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.policy import JobAction, allowed_actions, verdict
from thesis_console.core.types import JobDetail, JobRow, JobState, Payload, TimelineEvent
from thesis_console.ui import theme
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.models.formatting import fmt_bytes, fmt_duration, fmt_full_time
from thesis_console.ui.models.job_table import attempts_text, shows_progress, topic_of
from thesis_console.ui.models.progress_delegate import text_on
from thesis_console.ui.tasks import spawn

log = logging.getLogger("thesis_console.ui.detail")

DETAIL_DELAY_MS = 80
"""Moving the cursor quickly through a table reads only the row it stops on."""


TIME_KEYS = ("_at", "_time", "time", "timestamp", "heartbeat", "since", "until")
"""Meta keys whose numbers are Unix times (shown as local date and time)."""
EPOCH_RANGE = (946_684_800, 4_102_444_800)  # 2000 to 2100: a number outside is not a time


def readable_times(value: Any, key: str = "") -> Any:
    """``value`` with the Unix times under time-like keys written as local date and time."""
    if isinstance(value, dict):
        return {k: readable_times(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [readable_times(v, key) for v in value]
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and key.lower().endswith(TIME_KEYS)
        and EPOCH_RANGE[0] <= value <= EPOCH_RANGE[1]
    ):
        return fmt_full_time(float(value))
    return value


def arguments_text(args: Payload, kwargs: Payload) -> str:
    """The Args tab: args and kwargs, or one notice when both are the same undecoded (pickled) data."""
    if args.kind == kwargs.kind and args.kind in ("pickled", "binary", "error") and payload_text(args) == payload_text(kwargs):
        return f"args and kwargs:\n{payload_text(args)}"
    return f"args:\n{payload_text(args)}\n\nkwargs:\n{payload_text(kwargs)}"


def contradiction(detail: JobDetail) -> str | None:
    """What is wrong when the registries that list the job disagree with the status in its hash."""
    listed = detail.listed_in
    row = detail.row
    if not listed or row.state in listed:
        return None
    where = " and ".join(s.value for s in listed)
    said = row.status or "nothing"
    return f"listed in the {where} registry, but its hash says {said}"


def payload_text(payload: Payload) -> str:
    """How a decoded value reads in the panel."""
    note = f"\n\n({payload.note})" if payload.note else ""
    if payload.kind == "missing":
        return "(none)" + note
    if payload.kind == "pickled":
        # The core's note says again that it was not unpickled: the sentence here says it once.
        extra = "" if "unpickled" in payload.note else note
        return (
            f"Pickled data, {fmt_bytes(payload.size)} — not unpickled: unpickling data read from Redis can run "
            "arbitrary code, and this connection profile does not trust pickle." + extra
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
    state = row.state.value + (f" (RQ status {row.status})" if row.status and row.status != row.state.value else "")
    wrong = contradiction(detail) if detail is not None else None
    pairs = [
        ("Id", row.id),
        ("Queue", row.queue),
        ("State", state + (f" — contradiction: {wrong}" if wrong else "")),
        ("Topic", topic_of(row)),
        ("Function", (detail.function if detail else None) or ""),
        # A job waiting again keeps the progress of its earlier attempt: not this job's progress now.
        ("Stage", (row.stage or "") if shows_progress(row.state) else ""),
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


ACTIONS = (JobAction.RETRY, JobAction.PROMOTE, JobAction.CANCEL, JobAction.STOP, JobAction.DELETE)
ACTION_TEXT = {
    JobAction.RETRY: "Retry",
    JobAction.PROMOTE: "Enqueue now",
    JobAction.CANCEL: "Cancel…",
    JobAction.STOP: "Stop…",
    JobAction.DELETE: "Delete…",
}


def breakable(text: str) -> str:
    """``text`` with a line-break opportunity after each dot and slash (a zero-width space), so a long
    dotted function name or path wraps in a narrow panel instead of widening it. Copy uses the plain
    values, never these."""
    return text.replace(".", ".\u200b").replace("/", "/\u200b") if len(text) > 24 else text


class JobDetailPanel(QWidget):
    """Shows one job; follow the table's cursor with :meth:`show_row`, and :meth:`job_left` the table.

    Signals:
        actionRequested(JobAction, JobRow): a button asked for an action on the job shown.
    """

    actionRequested = Signal(object, object)

    def __init__(self, controller: ConsoleController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.row: JobRow | None = None
        self.detail: JobDetail | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self.left_at: float | None = None
        """When the job shown left the table it was selected in (None while it is listed there)."""
        self.gone = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("No job selected")
        self.title.setObjectName("detailTitle")
        self.title.setProperty("role", "heading")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("%p% · stage")
        keep_space = self.progress.sizePolicy()
        keep_space.setRetainSizeWhenHidden(True)  # the tabs below must not move as it comes and goes
        self.progress.setSizePolicy(keep_space)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setObjectName("detailStatus")
        self.status.setProperty("role", "hint")
        self.status.setWordWrap(True)
        self.status.setFixedHeight(2 * self.status.fontMetrics().lineSpacing() + 4)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.action_row = QWidget()
        actions_layout = QHBoxLayout(self.action_row)
        actions_layout.setContentsMargins(0, 0, 0, 0)
        self.action_buttons: dict[JobAction, QPushButton] = {}
        for action in ACTIONS:
            button = QPushButton(ACTION_TEXT[action])
            button.setObjectName(f"detail-{action.value}")
            button.clicked.connect(lambda _checked=False, a=action: self._request(a))
            button.hide()
            self.action_buttons[action] = button
            actions_layout.addWidget(button)
        actions_layout.addStretch(1)
        keep_row = self.action_row.sizePolicy()
        keep_row.setRetainSizeWhenHidden(True)
        self.action_row.setSizePolicy(keep_row)
        self.action_row.setFixedHeight(self.action_row.sizeHint().height() or 30)
        layout.addWidget(self.title)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.action_row)

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
        # In a scroll area: a long summary scrolls instead of raising the window's minimum height.
        summary_area = QScrollArea()
        summary_area.setWidget(self.summary_page)
        summary_area.setWidgetResizable(True)
        summary_area.setFrameShape(QFrame.Shape.NoFrame)
        summary_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # long values wrap
        self.tabs.addTab(summary_area, "Summary")
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
        controller.connectionChanged.connect(lambda _state: self._update_actions())
        controller.busyChanged.connect(lambda _busy: self._update_actions())
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
        self.left_at = None
        self.gone = False
        self.status.setText("")
        self._render()
        if row is not None:
            self._delay.start()

    @Slot(object)
    def job_left(self, row: JobRow) -> None:
        """``row``'s job left the table it was selected in: keep showing it, read where it went."""
        if self.row is None or row.id != self.row.id:
            return
        if self.left_at is None:
            self.left_at = time.time()
        self.reload()

    def reload(self) -> None:
        if self.row is not None and not self.gone:
            self._delay.start(0)

    def _on_snapshot(self, _snapshot: object) -> None:
        # A running job changes under our eyes: keep its progress and timeline current.
        if self.row is not None and self.row.state in (JobState.ACTIVE, JobState.WAITING, JobState.SCHEDULED):
            self.reload()

    def _request(self, action: JobAction) -> None:
        if self.row is not None and not self.gone:
            self.actionRequested.emit(action, self.row)

    def _update_actions(self) -> None:
        """Offer the actions that apply to the job's state now (the policy table decides)."""
        row = self.row
        allowed = allowed_actions(row.state, row.backend) if row is not None and not self.gone else frozenset()
        c = self.controller
        for action, button in self.action_buttons.items():
            button.setVisible(action in allowed)
            if c.read_only:
                enabled, tip = False, "disabled: this connection profile is read-only"
            elif not c.is_connected():
                enabled, tip = False, "not connected"
            elif c.busy:
                enabled, tip = False, "another action is running"
            else:
                enabled, tip = True, f"{ACTION_TEXT[action].rstrip('…')} this job"
            if row is not None and not verdict(action, row.state, row.backend).allowed:
                enabled, tip = False, verdict(action, row.state, row.backend).reason
            button.setEnabled(enabled)
            button.setToolTip(tip)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if self.row is not None:
            title = self.title.toolTip() or self.row.id
            self.title.setText(self.title.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, max(100, self.title.width())))

    def _status_role(self, role: str) -> None:
        if self.status.property("role") != role:
            self.status.setProperty("role", role)
            self.status.style().unpolish(self.status)
            self.status.style().polish(self.status)

    def where_it_went(self) -> str:
        """``now canceled, 12:03:07`` once the job left its table; "" while it is listed there."""
        if self.left_at is None or self.row is None:
            return ""
        when = time.strftime("%H:%M:%S", time.localtime(self.left_at))
        return f"now deleted, {when}" if self.gone else f"now {self.row.state.value}, {when}"

    def _load(self) -> None:
        if self.row is None or not self.controller.attached:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = spawn(self._read(self._generation, self.row), "read a job's detail")

    async def _read(self, generation: int, row: JobRow) -> None:
        try:
            detail = await self.controller.detail(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation != self._generation:
                return
            if self.left_at is not None and "not found" in str(exc):
                self.gone = True  # deleted: the panel keeps what it last read
                self._render()
            else:
                self.status.setText(f"Could not read this job: {exc}")
            return
        if generation != self._generation:
            return
        self.detail = detail
        self.row = detail.row
        self._render()

    # ----------------------------------------------------------------- output
    def _render(self) -> None:
        row, detail = self.row, self.detail
        self.tabs.setVisible(row is not None)
        self._update_actions()
        if row is None:
            self.title.setText("No job selected")
            self.progress.hide()
            self.status.setText("Select a job to see its arguments, result, traceback and timeline.")
            self._status_role("hint")
            self._fill_summary([])
            for section in self.sections.values():
                section.set_text("")
            return
        title = topic_of(row) or row.id
        self.title.setText(self.title.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, max(100, self.title.width())))
        self.title.setToolTip(title)
        notes = [n for n in (self.where_it_went(), contradiction(detail) if detail else None) if n]
        if notes or self.left_at is not None or detail is not None:
            text = "; ".join(notes)
            if text != self.status.text():
                self.status.setText(text)
            # A contradiction is a problem with the data; where the job went is news.
            self._status_role("warning" if detail is not None and contradiction(detail) else "")
        if row.progress is not None and shows_progress(row.state) and not self.gone:
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
        self.sections["arguments"].set_text(arguments_text(detail.args, detail.kwargs))
        meta = detail.meta
        if meta.kind in ("json", "unpickled"):
            meta = Payload(meta.kind, readable_times(meta.value), meta.size, meta.note)
        self.sections["meta"].set_text(payload_text(meta))
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
                if field.text() != breakable(value):
                    field.setText(breakable(value))
            return
        while form.rowCount():
            form.removeRow(0)
        self._summary_labels = labels
        self._summary_fields = []
        for label, value in pairs:
            field = QLabel(breakable(value))
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
