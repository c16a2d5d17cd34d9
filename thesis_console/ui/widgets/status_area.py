"""The status area: which connection this is and how it is doing, always visible.

Shows profile, server, Redis version and round-trip time, a badge for connected / connecting /
reconnecting (with a live countdown to the next attempt and the reason) / failed, a read-only badge,
and the latest notice (a new failed job, an error, an action's outcome) with its time, and an Undo
button for :data:`~thesis_console.ui.notices.UNDO_SECONDS` when the notice can be undone.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QStyle, QStyleOption, QToolButton, QWidget

from thesis_console.core.types import ConnectionPhase, ConnectionState
from thesis_console.ui.notices import UNDO_SECONDS, Level, Notice

PHASE_TEXT = {
    ConnectionPhase.CONNECTING: "connecting",
    ConnectionPhase.CONNECTED: "connected",
    ConnectionPhase.RECONNECTING: "reconnecting",
    ConnectionPhase.FAILED: "not connected",
}


def describe(state: ConnectionState, now: float | None = None) -> str:
    """One line about the connection, as the status area shows it next to the badge."""
    now = time.time() if now is None else now
    parts = [state.profile, state.server]
    if state.version:
        parts.append(f"Redis {state.version}")
    if state.phase == ConnectionPhase.CONNECTED and state.round_trip_ms is not None:
        parts.append(f"{state.round_trip_ms:.1f} ms")
    if state.phase == ConnectionPhase.RECONNECTING:
        if state.retry_at is not None:
            wait = max(0, int(round(state.retry_at - now)))
            parts.append(f"retrying in {wait} s" if wait else "retrying now")
        if state.reason:
            parts.append(state.reason)
    elif state.phase == ConnectionPhase.FAILED and state.reason:
        parts.append(state.reason)
    return " · ".join(p for p in parts if p)


class ElidedLabel(QLabel):
    """A one-line label that, when its text does not fit, drops the middle ("…") instead of clipping
    an end; the whole text is its tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        super().setText(text)
        self.setToolTip(text)

    def shown_text(self) -> str:
        """The text as painted (elided in the middle when it does not fit)."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle, max(0, width))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_Widget, option, painter, self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())


class StatusArea(QWidget):
    """Lives in the main window's status bar; fed by ``ConsoleController.connectionChanged``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: ConnectionState | None = None
        self.limited = ""
        """Why reads are refused although connected (missing ACL rights); empty when they work."""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(8)
        self.badge = QLabel("not connected")
        self.badge.setObjectName("connectionBadge")
        self.badge.setProperty("phase", "failed")
        self.details = ElidedLabel("")
        self.details.setObjectName("connectionDetails")
        self.read_only = QLabel("read-only")
        self.read_only.setObjectName("readOnlyBadge")
        self.read_only.setToolTip("This connection profile is read-only: every action that changes Redis is disabled.")
        self.read_only.hide()
        self.message = ElidedLabel("")
        self.message.setObjectName("statusMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.badge)
        layout.addWidget(self.read_only)
        layout.addWidget(self.details, 3)
        self.undo_button = QToolButton()
        self.undo_button.setText("Undo")
        self.undo_button.setAutoRaise(True)
        self.undo_button.setObjectName("undoButton")
        self.undo_button.clicked.connect(self.undo)
        keep_space = self.undo_button.sizePolicy()
        keep_space.setRetainSizeWhenHidden(True)  # the status bar does not jump as Undo comes and goes
        self.undo_button.setSizePolicy(keep_space)
        self.undo_button.hide()
        self._undo: Notice | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_SECONDS * 1000)
        self._undo_timer.timeout.connect(self._drop_undo)
        layout.addWidget(self.message, 2)
        layout.addWidget(self.undo_button)
        self._countdown = QTimer(self)
        self._countdown.setInterval(250)
        self._countdown.timeout.connect(self._render)

    def set_limited(self, reason: str) -> None:
        """Connected, but a read was refused for want of ACL rights: a warning badge (cleared with "")."""
        self.limited = reason
        if self.state is not None:
            self.set_state(self.state)

    def begin(self, profile: str) -> None:
        """A new connection starts: the previous one's state, errors and Undo are gone."""
        self.state = None
        self.limited = ""
        self._countdown.stop()
        self._set_badge("connecting", ConnectionPhase.CONNECTING.value)
        self.read_only.hide()
        self.details.setText(profile)
        self.show_message("")
        self._drop_undo()

    def _set_badge(self, text: str, phase: str) -> None:
        self.badge.setText(text)
        if self.badge.property("phase") != phase:
            self.badge.setProperty("phase", phase)
            # Re-polish so the [phase=...] style rule applies.
            self.badge.style().unpolish(self.badge)
            self.badge.style().polish(self.badge)

    @Slot(object)
    def set_state(self, state: ConnectionState) -> None:
        self.state = state
        if state.phase == ConnectionPhase.CONNECTED and self.limited:
            self._set_badge("connected, limited rights", "limited")
            self.badge.setToolTip(self.limited)
        else:
            self._set_badge(PHASE_TEXT.get(state.phase, state.phase.value), state.phase.value)
            self.badge.setToolTip("")
        self.read_only.setVisible(state.read_only)
        if state.phase == ConnectionPhase.RECONNECTING:
            self._countdown.start()
        else:
            self._countdown.stop()
        self._render()

    def _render(self) -> None:
        if self.state is None:
            return
        text = describe(self.state)
        if text != self.details.text():
            self.details.setText(text)

    @Slot(object)
    def show_notice(self, notice: Notice) -> None:
        """Show ``notice`` with the time it happened, and its Undo (for a while) when it has one."""
        self.show_message(notice.text, notice.level)
        self._drop_undo()
        if notice.undo is not None:
            self._undo = notice
            self.undo_button.setToolTip(f"Undo: {notice.text}")
            self.undo_button.show()
            self._undo_timer.start()

    def undo(self) -> None:
        """Undo the latest notice's action (once)."""
        notice, self._undo = self._undo, None
        self._drop_undo()
        if notice is not None and notice.undo is not None:
            notice.undo()

    def _drop_undo(self) -> None:
        self._undo = None
        self._undo_timer.stop()
        self.undo_button.hide()

    def show_message(self, text: str, level: str = Level.INFO) -> None:
        """Show a notice (``info``, ``warning`` or ``error``) with the time it happened."""
        stamped = f"{time.strftime('%H:%M:%S')} {text}" if text else ""
        self.message.setText(stamped)
        if self.message.property("level") != level:
            self.message.setProperty("level", level)
            self.message.style().unpolish(self.message)
            self.message.style().polish(self.message)

    def text(self) -> str:
        """Everything the area shows, as one string (tests and accessibility)."""
        parts = [self.badge.text()]
        if self.read_only.isVisible() or (self.state is not None and self.state.read_only):
            parts.append("read-only")
        parts += [self.details.text(), self.message.text()]
        return " | ".join(p for p in parts if p)
