"""Job tables: a lazily paged model of one (queue, state) and a streaming model of search results.

Both adapt the core's :class:`~thesis_console.core.types.JobRow` values; they never talk to Redis. The
paged model gets its rows through a *page loader* (an async callable ``(offset, limit) -> JobPage``),
which the jobs view builds from ``session.reader.page``. ``canFetchMore``/``fetchMore`` schedule a page
load on the asyncio loop and return at once; rows are inserted when the page arrives. A refresh re-reads
the loaded head and applies :func:`~thesis_console.ui.models.diff.diff`, so rows update in place and
the selection survives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont

from thesis_console.core.types import JobPage, JobRow, JobState
from thesis_console.ui.models import roles
from thesis_console.ui.models.diff import Change, Insert, Remove, diff
from thesis_console.ui.models.formatting import fmt_duration, fmt_full_time, fmt_time
from thesis_console.ui.tasks import spawn

log = logging.getLogger("thesis_console.ui.models")

PageLoader = Callable[[int, int], Awaitable[JobPage]]
AnyIndex = QModelIndex | QPersistentModelIndex

COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "Id"),
    ("description", "Topic"),
    ("state", "State"),
    ("progress", "Progress"),
    ("stage", "Stage"),
    ("attempts", "Attempts"),
    ("enqueued", "Enqueued"),
    ("started", "Started"),
    ("ended", "Ended"),
    ("duration", "Duration"),
    ("worker", "Worker"),
    ("error", "Error"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)
PROGRESS_COLUMN = COLUMN_KEYS.index("progress")

PAGE_SIZE = 200
REFRESH_CAP = 1000
"""A refresh re-reads at most this many rows from the top; rows loaded further down stay as they were
read (a deep scroll through a million jobs must not cost a million reads every refresh)."""


ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
"""Computed once: combining Qt flags costs microseconds per call, and flags() is called per cell per paint."""
RIGHT_ALIGNED = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
RIGHT_COLUMNS = frozenset(COLUMN_KEYS.index(k) for k in ("progress", "attempts", "duration"))
STATE_COLUMN = COLUMN_KEYS.index("state")
DISPLAY = int(Qt.ItemDataRole.DisplayRole)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
FONT = int(Qt.ItemDataRole.FontRole)
ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)


def topic_of(row: JobRow) -> str:
    if row.topic:
        return row.topic
    text = row.description or ""
    return text.removeprefix("Thesis: ")


PROGRESS_STATES = frozenset({JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED})
"""States whose progress and stage belong to the job's latest attempt; a job waiting (again) still
carries the progress of an earlier attempt, which would mislead."""


def shows_progress(state: JobState) -> bool:
    return state in PROGRESS_STATES


def attempts_text(row: JobRow) -> str:
    if row.attempts_used is None:
        return ""
    if row.retries_left is None:
        return str(row.attempts_used)
    return f"{row.attempts_used} ({row.retries_left} left)"


def schedule(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any] | None:
    """Run ``coro`` on the qasync loop without waiting for it (:func:`spawn`); None when no loop exists."""
    return spawn(coro, "read job rows")


class JobRowsModel(QAbstractTableModel):
    """Columns, roles and in-place updates over a list of :class:`JobRow` values."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[JobRow] = []
        self._ids: set[str] = set()
        self._texts: dict[str, tuple[JobRow, tuple[str, ...]]] = {}
        self._state_colors: dict[str, QColor] = {}
        self._problem_brush: QBrush | None = None
        self._notes: dict[str, str] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    # ----------------------------------------------------------------- access
    @property
    def rows(self) -> list[JobRow]:
        return self._rows

    def row_at(self, row: int) -> JobRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def index_of(self, job_id: str) -> int:
        for i, row in enumerate(self._rows):
            if row.id == job_id:
                return i
        return -1

    def set_colors(self, state_colors: dict[str, QColor], problem: QColor) -> None:
        """Colours by state (text of the state column) and the background of a problem row."""
        self._state_colors = dict(state_colors)
        self._problem_brush = QBrush(problem)
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))

    def set_notes(self, notes: dict[str, str]) -> None:
        """Notes by job id shown in the Error column and highlighted (a stuck job: "no progress for 17 min")."""
        changed = {i for i in set(notes) | set(self._notes) if notes.get(i) != self._notes.get(i)}
        self._notes = dict(notes)
        for job_id in changed:
            self._texts.pop(job_id, None)
            row = self.index_of(job_id)
            if row >= 0:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # ----------------------------------------------------------------- QAbstractTableModel
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

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
        if not index.isValid() or not 0 <= r < len(self._rows) or not 0 <= c < len(COLUMNS):
            return None
        row = self._rows[r]
        role = int(role)
        if role == DISPLAY:
            # Each row's texts are built once (times formatted, topic cut) and reused for every paint.
            cached = self._texts.get(row.id)
            if cached is None or cached[0] is not row:
                cached = (row, tuple(self._display(row, k) for k in COLUMN_KEYS))
                self._texts[row.id] = cached
            return cached[1][c]
        if role == ALIGNMENT:
            return RIGHT_ALIGNED if c in RIGHT_COLUMNS else None
        if role == FOREGROUND:
            return self._state_colors.get(row.state.value) if c == STATE_COLUMN else None
        if role == BACKGROUND:
            return self._problem_brush if row.problem or row.id in self._notes else None
        if role == FONT:
            return self._bold if c == STATE_COLUMN else None
        key = COLUMN_KEYS[c]
        if role == roles.ROW_ROLE:
            return row
        if role == roles.ID_ROLE:
            return row.id
        if role == roles.STATE_ROLE:
            return row.state.value
        if role == roles.PROBLEM_ROLE:
            return row.problem
        if role == roles.PROGRESS_ROLE:
            if key == "progress" and row.state == JobState.ACTIVE and row.progress is not None:
                return max(0, min(100, int(row.progress)))
            return None
        if role == TOOLTIP:
            return self._tooltip(row, key)
        return None

    def _display(self, row: JobRow, key: str) -> str:
        if key == "id":
            return ("\u26a0 " if row.problem else "") + row.id
        if key == "description":
            return topic_of(row)
        if key == "state":
            return row.state.value
        if key == "progress":
            return "" if row.progress is None or not shows_progress(row.state) else f"{row.progress}%"
        if key == "stage":
            return (row.stage or "") if shows_progress(row.state) else ""
        if key == "attempts":
            return attempts_text(row)
        if key == "enqueued":
            return fmt_time(row.enqueued_at)
        if key == "started":
            return fmt_time(row.started_at)
        if key == "ended":
            return fmt_time(row.ended_at if row.state != JobState.SCHEDULED else row.scheduled_for)
        if key == "duration":
            return fmt_duration(row.duration_s)
        if key == "worker":
            return row.worker or ""
        if key == "error":
            return row.problem or self._notes.get(row.id) or row.error_line or ""
        return ""

    def _tooltip(self, row: JobRow, key: str) -> str | None:
        if row.problem:
            return f"Problem with this job: {row.problem}"
        if row.id in self._notes:
            return self._notes[row.id]
        if key == "description":
            return row.description or None
        if key == "error":
            return row.error_line or None
        if key in ("enqueued", "started", "ended"):
            ts = {"enqueued": row.enqueued_at, "started": row.started_at, "ended": row.ended_at}[key]
            if key == "ended" and row.state == JobState.SCHEDULED:
                return f"scheduled for {fmt_full_time(row.scheduled_for)}" if row.scheduled_for else None
            return fmt_full_time(ts) or None
        return None

    # ----------------------------------------------------------------- in-place updates
    def replace_rows(self, new_rows: Sequence[JobRow], head: int | None = None) -> None:
        """Make the first ``head`` rows (all rows when None) equal to ``new_rows``, in place.

        Rows after the head that reappear in ``new_rows`` are dropped there, so no id is listed twice.
        """
        head = len(self._rows) if head is None else min(head, len(self._rows))
        new_rows = _unique(new_rows)
        new_ids = {r.id for r in new_rows}
        # Rows below the head that moved up into it: remove them from below first (bottom up).
        tail_dupes = [i for i in range(len(self._rows) - 1, head - 1, -1) if self._rows[i].id in new_ids]
        for i in tail_dupes:
            self._remove(i, 1)
        for op in diff(self._rows[:head], new_rows):
            if isinstance(op, Remove):
                self._remove(op.start, op.count)
            elif isinstance(op, Insert):
                self._insert(op.start, op.rows)
            elif isinstance(op, Change):
                self._rows[op.index] = op.row
                self.dataChanged.emit(self.index(op.index, 0), self.index(op.index, len(COLUMNS) - 1))

    def append_rows(self, rows: Sequence[JobRow]) -> int:
        """Add rows at the end, skipping ids already present; returns how many were added."""
        fresh = [r for r in _unique(rows) if r.id not in self._ids]
        if fresh:
            self._insert(len(self._rows), fresh)
        return len(fresh)

    def clear(self) -> None:
        if self._rows:
            self.beginResetModel()
            self._rows = []
            self._ids = set()
            self._texts.clear()
            self.endResetModel()

    def _insert(self, start: int, rows: Sequence[JobRow]) -> None:
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self._rows[start:start] = list(rows)
        self._ids.update(r.id for r in rows)
        self.endInsertRows()

    def _remove(self, start: int, count: int) -> None:
        self.beginRemoveRows(QModelIndex(), start, start + count - 1)
        for r in self._rows[start : start + count]:
            self._ids.discard(r.id)
            self._texts.pop(r.id, None)
        del self._rows[start : start + count]
        self.endRemoveRows()


def _unique(rows: Sequence[JobRow]) -> list[JobRow]:
    seen: set[str] = set()
    out: list[JobRow] = []
    for r in rows:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out


class JobTableModel(JobRowsModel):
    """The jobs of one queue in one state, paged lazily from the core as the view scrolls.

    Signals:
        loadingChanged(bool): a page load or refresh started or finished.
        loadFailed(str): a page could not be read (the message is for the status area).
        totalChanged(int): the state's job count changed.
        refreshAboutToApply(), refreshApplied(): around the in-place update of a refresh, so a view
            can keep the row at the top of its viewport where it was.
    """

    loadingChanged = Signal(bool)
    loadFailed = Signal(str)
    totalChanged = Signal(int)
    refreshAboutToApply = Signal()
    refreshApplied = Signal()

    def __init__(self, loader: PageLoader | None = None, page_size: int = PAGE_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._page_size = page_size
        self._total = 0
        self._generation = 0
        self._fetch_task: asyncio.Future[Any] | None = None
        self._refresh_task: asyncio.Future[Any] | None = None
        self._refresh_again = False

    @property
    def total(self) -> int:
        return self._total

    @property
    def busy(self) -> bool:
        return any(t is not None and not t.done() for t in (self._fetch_task, self._refresh_task))

    def set_loader(self, loader: PageLoader | None) -> None:
        """Show another (queue, state): drop every row and load the first page."""
        self._generation += 1
        for task in (self._fetch_task, self._refresh_task):
            if task is not None and not task.done():
                task.cancel()
        self._fetch_task = self._refresh_task = None
        self._loader = loader
        self.beginResetModel()
        self._rows = []
        self._ids = set()
        self._texts.clear()
        self._total = 0
        self.endResetModel()
        if loader is not None:
            self.refresh()

    def set_total(self, total: int) -> None:
        """The state's count from the latest snapshot; more rows become fetchable when it grows."""
        total = max(0, int(total))
        if total != self._total:
            self._total = total
            self.totalChanged.emit(total)

    # ----------------------------------------------------------------- lazy paging
    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() or self._loader is None:
            return False
        if self._fetch_task is not None and not self._fetch_task.done():
            return False
        return len(self._rows) < self._total

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        self._fetch_task = schedule(self._fetch_page(self._generation, len(self._rows)))
        self.loadingChanged.emit(True)

    async def _fetch_page(self, generation: int, offset: int) -> None:
        loader = self._loader
        try:
            if loader is None:
                return
            page = await loader(offset, self._page_size)
            if generation != self._generation:
                return
            self.set_total(page.total)
            if not self.append_rows(page.rows) and page.rows and offset + len(page.rows) < page.total:
                # Every row was already listed (the list shifted under us): the next fetch starts further on.
                log.debug("page at %d held only known rows", offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._generation:
                self.loadFailed.emit(str(exc))
        finally:
            if generation == self._generation:
                self.loadingChanged.emit(False)

    # ----------------------------------------------------------------- refresh
    def refresh(self) -> None:
        """Re-read the loaded head (at least one page) and update rows in place. Never blocks."""
        if self._loader is None:
            return
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True
            return
        self._refresh_task = schedule(self._refresh(self._generation))
        self.loadingChanged.emit(True)

    async def refresh_now(self) -> None:
        """Refresh and wait for it (tests and the screenshot command)."""
        self.refresh()
        task = self._refresh_task
        if task is not None:
            await asyncio.shield(task)

    async def _refresh(self, generation: int) -> None:
        loader = self._loader
        try:
            while loader is not None:
                self._refresh_again = False
                want = min(max(len(self._rows), self._page_size), REFRESH_CAP)
                rows: list[JobRow] = []
                total = self._total
                offset = 0
                while offset < want:
                    page = await loader(offset, min(self._page_size, want - offset))
                    if generation != self._generation:
                        return
                    total = page.total
                    rows.extend(page.rows)
                    if len(page.rows) < min(self._page_size, want - offset):
                        break
                    offset += len(page.rows)
                head = min(len(self._rows), want)
                self.set_total(total)
                self.refreshAboutToApply.emit()
                self.replace_rows(rows, head=head)
                self.refreshApplied.emit()
                if not self._refresh_again:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._generation:
                self.loadFailed.emit(str(exc))
        finally:
            if generation == self._generation:
                self.loadingChanged.emit(False)


class SearchResultsModel(JobRowsModel):
    """Rows found by a search, appended batch by batch as the core streams them."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.searching = False
        self.scanned = 0
