"""Table models of the workers view: RQ workers, BullMQ workers and supervisors, updated in place from
each snapshot.

Each model holds frozen rows built from the snapshot (the core's value plus what the table derives
from it, such as the heartbeat age) and replays :func:`~thesis_console.ui.models.diff.diff` on
every refresh, so rows keep their identity and the selection survives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from thesis_console.core.supervisor_protocol import HEARTBEAT_S, SupervisorRecord, worker_owners
from thesis_console.core.types import BullLibrary, BullWorkerInfo, Snapshot, WorkerInfo
from thesis_console.ui.models import roles
from thesis_console.ui.models.diff import Change, Insert, Remove, diff
from thesis_console.ui.models.formatting import fmt_count, fmt_full_time

AnyIndex = QModelIndex | QPersistentModelIndex
Row = TypeVar("Row")

SUPERVISOR_STALE_S = 3 * HEARTBEAT_S
"""A supervisor that has not written its record for this long is shown as late."""
WORKER_STALE_S = 420.0
"""RQ's default worker TTL: an idle RQ worker heartbeats only about every 7 minutes, so later is late."""

WARNING_COLOR = QColor("#d9822b")


def fmt_age(seconds: float | None) -> str:
    """``now``, ``12 s``, ``4 min``, ``3 h``, ``2 d``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "now"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _age(taken_at: float, at: float | None) -> float | None:
    return None if at is None else max(0.0, taken_at - at)


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One column: its title, its text, and optionally a sort key, tooltip and alignment."""

    title: str
    text: Callable[[Row], str]
    sort: Callable[[Row], Any] | None = None
    tooltip: Callable[[Row], str] | None = None
    numeric: bool = False


class KeyedTableModel(QAbstractTableModel, Generic[Row]):
    """A read-only table of frozen rows, each with a unique key, updated in place with ``diff``."""

    columns: tuple[Column[Row], ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Row] = []

    def key(self, row: Row) -> Hashable:
        raise NotImplementedError

    def is_late(self, row: Row) -> bool:
        """Whether the row's heartbeat is late (its text is then drawn in the warning color)."""
        return False

    @property
    def rows(self) -> list[Row]:
        return self._rows

    def row_of(self, key: Hashable) -> int:
        for i, row in enumerate(self._rows):
            if self.key(row) == key:
                return i
        return -1

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.columns[section].title
            if role == Qt.ItemDataRole.TextAlignmentRole and self.columns[section].numeric:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(self.columns):
            return None
        row = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.UserRole:  # the sort key (QSortFilterProxyModel.setSortRole)
            return column.sort(row) if column.sort else column.text(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tooltip(row) if column.tooltip else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and self.is_late(row):
            return WARNING_COLOR
        if role == roles.ROW_ROLE:
            return row
        if role == roles.ID_ROLE:
            return self.key(row)
        return None

    def set_rows(self, new: Sequence[Row]) -> None:
        """Show ``new``: rows that stay keep their place (and their selection), others come and go."""
        last_column = len(self.columns) - 1
        for op in diff(self._rows, list(new), key=self.key):
            if isinstance(op, Remove):
                self.beginRemoveRows(QModelIndex(), op.start, op.start + op.count - 1)
                del self._rows[op.start : op.start + op.count]
                self.endRemoveRows()
            elif isinstance(op, Insert):
                self.beginInsertRows(QModelIndex(), op.start, op.start + len(op.rows) - 1)
                self._rows[op.start : op.start] = list(op.rows)
                self.endInsertRows()
            elif isinstance(op, Change):
                self._rows[op.index] = op.row
                self.dataChanged.emit(self.index(op.index, 0), self.index(op.index, last_column))


# --------------------------------------------------------------------------- RQ workers
@dataclass(frozen=True)
class WorkerRow:
    """An RQ worker as the table shows it."""

    info: WorkerInfo
    heartbeat_age_s: float | None
    supervisor: str = ""


IGNORES_PAUSE_MARK = "none: ignores pauses"
IGNORES_PAUSE_TIP = "A plain rq worker (no thesis-worker supervisor): it keeps taking jobs from paused queues."


def worker_rows(snapshot: Snapshot) -> list[WorkerRow]:
    """Rows for every RQ worker, each with the supervisor that runs it (if one says so)."""
    owner = worker_owners(snapshot.supervisors)
    return [
        WorkerRow(w, _age(snapshot.taken_at, w.last_heartbeat), owner.get(w.name, "")) for w in snapshot.workers
    ]


def _worker_tooltip(row: WorkerRow) -> str:
    w = row.info
    lines = [
        w.name,
        f"queues: {', '.join(w.queues) or '-'}",
        f"started: {fmt_full_time(w.birth)}",
        f"last heartbeat: {fmt_full_time(w.last_heartbeat)}",
        f"working time: {w.working_time_s:.1f} s",
    ]
    if w.problem:
        lines.append(f"problem: {w.problem}")
    return "\n".join(lines)


class WorkersTableModel(KeyedTableModel[WorkerRow]):
    """Every RQ worker registered in Redis, whoever started it."""

    columns = (
        Column[WorkerRow]("Worker", lambda r: r.info.name, tooltip=_worker_tooltip),
        Column[WorkerRow]("Host", lambda r: r.info.hostname),
        Column[WorkerRow]("PID", lambda r: "" if r.info.pid is None else str(r.info.pid), sort=lambda r: r.info.pid or 0, numeric=True),
        Column[WorkerRow]("State", lambda r: (r.info.state or "?") + (" (damaged)" if r.info.problem else ""), tooltip=lambda r: r.info.problem or ""),
        Column[WorkerRow]("Queues", lambda r: ", ".join(r.info.queues)),
        Column[WorkerRow]("Current job", lambda r: r.info.current_job or ""),
        Column[WorkerRow]("Succeeded", lambda r: fmt_count(r.info.successful), sort=lambda r: r.info.successful, numeric=True),
        Column[WorkerRow]("Failed", lambda r: fmt_count(r.info.failed), sort=lambda r: r.info.failed, numeric=True),
        Column[WorkerRow]("Heartbeat", lambda r: fmt_age(r.heartbeat_age_s), sort=lambda r: r.heartbeat_age_s or 0.0, tooltip=lambda r: f"last heartbeat {fmt_full_time(r.info.last_heartbeat)}", numeric=True),
        Column[WorkerRow]("Supervisor", lambda r: r.supervisor or r.info.supervisor or IGNORES_PAUSE_MARK, tooltip=lambda r: "" if r.info.honours_pause else IGNORES_PAUSE_TIP),
    )  # fmt: skip

    def key(self, row: WorkerRow) -> Hashable:
        return row.info.name

    def is_late(self, row: WorkerRow) -> bool:
        return row.heartbeat_age_s is not None and row.heartbeat_age_s > WORKER_STALE_S


# --------------------------------------------------------------------------- BullMQ workers
LIBRARY_TEXT = {BullLibrary.NODE: "Node", BullLibrary.PYTHON: "Python"}
UNNAMED = "(unnamed)"


def _bull_worker_tooltip(w: BullWorkerInfo) -> str:
    lines = [
        f"{LIBRARY_TEXT[w.library]} BullMQ worker {w.name or UNNAMED} on queue {w.queue}",
        f"connection name: {w.client_name}",
        f"connections: {w.connections} (the oldest from {w.address})",
    ]
    if not w.name:
        lines.append("unnamed workers on one host share a name, so they show as one row")
    return "\n".join(lines)


class BullWorkersTableModel(KeyedTableModel[BullWorkerInfo]):
    """Every BullMQ worker (Node or Python) connected to the server, from its client list."""

    columns = (
        Column[BullWorkerInfo]("Worker", lambda w: w.name or UNNAMED, tooltip=_bull_worker_tooltip),
        Column[BullWorkerInfo]("Library", lambda w: LIBRARY_TEXT[w.library]),
        Column[BullWorkerInfo]("Queue", lambda w: w.queue),
        Column[BullWorkerInfo]("Address", lambda w: w.address),
        Column[BullWorkerInfo]("Age", lambda w: fmt_age(w.age_s), sort=lambda w: w.age_s, numeric=True),
        Column[BullWorkerInfo]("Idle", lambda w: fmt_age(w.idle_s), sort=lambda w: w.idle_s, numeric=True),
        Column[BullWorkerInfo]("Connections", lambda w: str(w.connections), sort=lambda w: w.connections, numeric=True),
        Column[BullWorkerInfo]("Supervisor", lambda w: w.supervisor or "none"),
    )  # fmt: skip

    def key(self, row: BullWorkerInfo) -> Hashable:
        return (row.library, row.client_name, row.address)


# --------------------------------------------------------------------------- supervisors
@dataclass(frozen=True)
class SupervisorRow:
    """A supervisor as the table shows it, with counts summed over the RQ workers it runs."""

    record: SupervisorRecord
    heartbeat_age_s: float | None
    successful: int = 0
    failed: int = 0


def supervisor_rows(snapshot: Snapshot) -> list[SupervisorRow]:
    workers = {w.name: w for w in snapshot.workers}
    rows = []
    for record in snapshot.supervisors:
        own = [workers[name] for name in record.workers if name in workers]
        rows.append(
            SupervisorRow(
                record,
                _age(snapshot.taken_at, record.heartbeat_at),
                successful=sum(w.successful for w in own),
                failed=sum(w.failed for w in own),
            )
        )
    return rows


def autoscale_text(record: SupervisorRecord) -> str:
    if record.autoscale_min is None or record.autoscale_max is None:
        return "off"
    return f"{record.autoscale_min}–{record.autoscale_max}"


def _supervisor_tooltip(row: SupervisorRow) -> str:
    r = row.record
    return "\n".join(
        [
            r.id,
            f"started: {fmt_full_time(r.started_at)}",
            f"workers: {', '.join(r.workers) or '-'}",
            f"logs: {r.log_dir or '-'}",
        ]
    )


class SupervisorsTableModel(KeyedTableModel[SupervisorRow]):
    """Every ``thesis-worker`` supervisor on every host, from its record in Redis."""

    columns = (
        Column[SupervisorRow]("Supervisor", lambda r: r.record.id, tooltip=_supervisor_tooltip),
        Column[SupervisorRow]("Host", lambda r: r.record.host),
        Column[SupervisorRow]("PID", lambda r: str(r.record.pid), sort=lambda r: r.record.pid, numeric=True),
        Column[SupervisorRow]("State", lambda r: r.record.state),
        Column[SupervisorRow]("Workers", lambda r: f"{r.record.live} / {r.record.desired}", sort=lambda r: r.record.live, tooltip=lambda r: f"{r.record.live} running of {r.record.desired} wanted", numeric=True),
        Column[SupervisorRow]("Busy", lambda r: str(r.record.busy), sort=lambda r: r.record.busy, numeric=True),
        Column[SupervisorRow]("Autoscale", lambda r: autoscale_text(r.record)),
        Column[SupervisorRow]("Succeeded", lambda r: fmt_count(r.successful), sort=lambda r: r.successful, numeric=True),
        Column[SupervisorRow]("Failed", lambda r: fmt_count(r.failed), sort=lambda r: r.failed, numeric=True),
        Column[SupervisorRow]("Restarts", lambda r: str(r.record.restarts), sort=lambda r: r.record.restarts, numeric=True),
        Column[SupervisorRow]("Heartbeat", lambda r: fmt_age(r.heartbeat_age_s), sort=lambda r: r.heartbeat_age_s or 0.0, numeric=True),
        Column[SupervisorRow]("Queues", lambda r: ", ".join(r.record.queues)),
    )  # fmt: skip

    def key(self, row: SupervisorRow) -> Hashable:
        return row.record.id

    def is_late(self, row: SupervisorRow) -> bool:
        return row.heartbeat_age_s is not None and row.heartbeat_age_s > SUPERVISOR_STALE_S
