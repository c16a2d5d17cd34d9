"""Alert occurrences in a table: severity, rule, queue, subject, message, start, end, acknowledged.

Adapts the core's :class:`~thesis_console.core.alerts.tracker.AlertRecord` values; updated in place by
key (the occurrence id), so the selection survives each evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from thesis_console.core.alerts.conditions import describe_duration
from thesis_console.core.alerts.rules import Severity
from thesis_console.core.alerts.tracker import AlertRecord
from thesis_console.ui.models import roles
from thesis_console.ui.models.diff import Change, Insert, Remove, diff
from thesis_console.ui.models.formatting import fmt_full_time, fmt_time

AnyIndex = QModelIndex | QPersistentModelIndex

COLUMNS: tuple[tuple[str, str], ...] = (
    ("severity", "Severity"),
    ("rule", "Rule"),
    ("queue", "Queue"),
    ("message", "Alert"),
    ("started", "Started"),
    ("ended", "Ended"),
    ("acknowledged", "Acknowledged"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)
ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


class AlertRecordsModel(QAbstractTableModel):
    """Occurrences, newest start first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._records: list[AlertRecord] = []
        self._colors: dict[Severity, QColor] = {}

    @property
    def records(self) -> list[AlertRecord]:
        return self._records

    def set_colors(self, warning: QColor, critical: QColor) -> None:
        self._colors = {Severity.WARNING: warning, Severity.CRITICAL: critical}
        if self._records:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._records) - 1, 0))

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section][1]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r, c = index.row(), index.column()
        if not index.isValid() or not 0 <= r < len(self._records) or not 0 <= c < len(COLUMNS):
            return None
        record = self._records[r]
        key = COLUMN_KEYS[c]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(record, key)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key in ("started", "ended", "acknowledged"):
                return fmt_full_time(getattr(record, f"{key}_at")) or None
            return record.message if key == "message" else None
        if role == Qt.ItemDataRole.ForegroundRole and key == "severity":
            return self._colors.get(record.severity)
        if role == roles.ID_ROLE:
            return record.id
        if role == roles.ROW_ROLE:
            return record
        return None

    def set_records(self, records: Sequence[AlertRecord]) -> None:
        """Show ``records`` (in their order), in place: rows keep their identity by occurrence id."""
        for op in diff(self._records, list(records), key=lambda r: r.id):
            if isinstance(op, Remove):
                self.beginRemoveRows(QModelIndex(), op.start, op.start + op.count - 1)
                del self._records[op.start : op.start + op.count]
                self.endRemoveRows()
            elif isinstance(op, Insert):
                self.beginInsertRows(QModelIndex(), op.start, op.start + len(op.rows) - 1)
                self._records[op.start : op.start] = list(op.rows)
                self.endInsertRows()
            elif isinstance(op, Change):
                self._records[op.index] = op.row
                self.dataChanged.emit(self.index(op.index, 0), self.index(op.index, len(COLUMNS) - 1))


def _display(record: AlertRecord, key: str) -> str:
    if key == "severity":
        return record.severity.value
    if key == "rule":
        return record.rule.value.replace("_", " ")
    if key == "queue":
        return record.queue
    if key == "message":
        return record.message
    if key == "started":
        return fmt_time(record.started_at)
    if key == "ended":
        if record.ended_at is None:
            return "firing"
        return f"{fmt_time(record.ended_at)} ({describe_duration(record.ended_at - record.started_at)})"
    if key == "acknowledged":
        return fmt_time(record.acknowledged_at)
    return ""
