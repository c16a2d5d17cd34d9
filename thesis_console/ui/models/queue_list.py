"""The side list of queues with their counts, updated in place from each snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from thesis_console.core.types import Backend, JobState, QueueCounts
from thesis_console.ui.models import roles
from thesis_console.ui.models.diff import Change, Insert, Remove, diff
from thesis_console.ui.models.formatting import fmt_count, paused_text

AnyIndex = QModelIndex | QPersistentModelIndex

SUMMARY_STATES = (JobState.WAITING, JobState.ACTIVE, JobState.SCHEDULED, JobState.FAILED)


BACKEND_LABELS = {Backend.RQ: "RQ", Backend.BULLMQ: "BullMQ"}
"""The badge beside each queue's name: which queue system it belongs to."""


def summary(counts: QueueCounts) -> str:
    """``12 waiting · 3 active · 1 failed`` (states with jobs only; ``empty`` when none)."""
    parts = [f"{fmt_count(counts.count(s))} {s.value}" for s in SUMMARY_STATES if counts.count(s)]
    text = " · ".join(parts) if parts else ("idle" if counts.total else "empty")
    return f"paused · {text}" if counts.paused else text


class QueueListModel(QAbstractListModel):
    """Queues in name order; the display is the name, the second line (``COUNT_ROLE`` / tooltip) the counts."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queues: list[QueueCounts] = []
        self._alerts: dict[str, int] = {}

    @property
    def queues(self) -> list[QueueCounts]:
        return self._queues

    def row_of(self, name: str) -> int:
        for i, q in enumerate(self._queues):
            if q.name == name:
                return i
        return -1

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._queues)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._queues) or index.column() != 0:
            return None
        q = self._queues[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return q.name
        if role in (roles.ID_ROLE, Qt.ItemDataRole.EditRole):
            return q.name
        if role == roles.ROW_ROLE:
            return q
        if role == roles.COUNT_ROLE:
            return summary(q)
        if role == roles.ALERT_ROLE:
            return self._alerts.get(q.name, 0)
        alerts = self._alerts.get(q.name, 0)
        alert_text = [f"{alerts} alert{'s' if alerts > 1 else ''} firing"] if alerts else []
        badge = BACKEND_LABELS[q.backend]
        if role == Qt.ItemDataRole.ToolTipRole:
            head = f"{q.name} ({badge} queue)"
            paused = [paused_text(q.paused, q.paused_by, q.paused_at)] if q.paused else []
            return "\n".join([head, *paused, *alert_text] + [f"{s.value}: {fmt_count(q.count(s))}" for s in JobState])
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{q.name}, {badge} queue: {summary(q)}" + "".join(f", {t}" for t in alert_text)
        return None

    def set_alert_counts(self, counts: dict[str, int]) -> None:
        """Unacknowledged firing alerts per queue, for the badges; only rows whose count changed repaint."""
        changed = {name for name in set(counts) | set(self._alerts) if counts.get(name, 0) != self._alerts.get(name, 0)}
        self._alerts = {name: n for name, n in counts.items() if n}
        for name in changed:
            row = self.row_of(name)
            if row >= 0:
                idx = self.index(row, 0)
                self.dataChanged.emit(idx, idx)

    def update(self, queues: Sequence[QueueCounts], keep: str | None = None) -> None:
        """Show ``queues`` (sorted by name); ``keep`` names a queue to list even when the server has none of it."""
        wanted = {q.name: q for q in queues}
        if keep and keep not in wanted:
            wanted[keep] = QueueCounts(keep)
        new = [wanted[name] for name in sorted(wanted)]
        for op in diff(self._queues, new, key=lambda q: q.name):
            if isinstance(op, Remove):
                self.beginRemoveRows(QModelIndex(), op.start, op.start + op.count - 1)
                del self._queues[op.start : op.start + op.count]
                self.endRemoveRows()
            elif isinstance(op, Insert):
                self.beginInsertRows(QModelIndex(), op.start, op.start + len(op.rows) - 1)
                self._queues[op.start : op.start] = list(op.rows)
                self.endInsertRows()
            elif isinstance(op, Change):
                self._queues[op.index] = op.row
                idx = self.index(op.index, 0)
                self.dataChanged.emit(idx, idx)
