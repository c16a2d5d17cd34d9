"""Job tables: a lazily paged model of one (queue, state) and a streaming model of search results.

Both adapt the core's :class:`~thesis_console.core.types.JobRow` values; they never talk to Redis. The
paged model has one row per job of the state and gets its rows through a *page loader* (an async
callable ``(offset, limit) -> JobPage``, the controller's ``page`` read): only the pages around the
rows in view are read and kept, at any depth. The search model appends rows as they are found and
applies :func:`~thesis_console.ui.models.diff.diff` on updates, so rows update in place.
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
from thesis_console.ui.models.formatting import fmt_compact_time, fmt_duration, fmt_full_time
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
    ("duration", "Took"),
    ("worker", "Worker"),
    ("error", "Error"),
)
COLUMN_KEYS = tuple(key for key, _ in COLUMNS)
PROGRESS_COLUMN = COLUMN_KEYS.index("progress")

PAGE_SIZE = 200
KEEP_PAGES = 6
"""Pages kept around the visible window; pages further away are dropped, so memory stays bounded at any depth."""
PINNED_PAGES = 4
"""At most this many more pages are kept because they hold the selection or the current row."""
PLACEHOLDER = "\u2026"
"""Shown in the first column of a row that is being read."""


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


NEWEST_FIRST_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELED})
"""States the core pages newest first; the others come oldest first (waiting: in the order workers take them)."""
ORDER_COLUMNS = {
    JobState.WAITING: "enqueued", JobState.ACTIVE: "started", JobState.SCHEDULED: "ended",
    JobState.DEFERRED: "enqueued", JobState.COMPLETED: "ended", JobState.FAILED: "ended", JobState.CANCELED: "ended",
}  # fmt: skip
"""The time column that follows each state's server-side order (scheduled: the "ended" column shows the run time)."""


def sort_order(state: JobState, reverse: bool) -> Qt.SortOrder:
    """The header's sort indicator for ``state`` paged forward or reversed: ascending is oldest first."""
    newest_first = (state in NEWEST_FIRST_STATES) != reverse
    return Qt.SortOrder.DescendingOrder if newest_first else Qt.SortOrder.AscendingOrder


SHORT_ID = 12
"""Ids longer than this show their first 8 characters (RQ's are 36-character UUIDs); the tooltip and
Copy id give the whole id."""


def short_id(job_id: str) -> str:
    return job_id if len(job_id) <= SHORT_ID else job_id[:8] + "\u2026"


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
        self.order_column: int | None = None
        """The one column the server can order by (a header tooltip says so on the others); None: no order."""

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

    def _row(self, r: int) -> JobRow | None:
        """The row shown at ``r``, or None while it is not read yet (a placeholder is painted)."""
        return self._rows[r]

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole and self.order_column is not None:
            if section == self.order_column:
                return "Click to show the oldest or the newest first"
            return "Not sortable: the server keeps this state in the order of its time column"
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        r, c = index.row(), index.column()
        if not index.isValid() or not 0 <= r < self.rowCount() or not 0 <= c < len(COLUMNS):
            return None
        row = self._row(r)
        role = int(role)
        if row is None:
            return PLACEHOLDER if role == DISPLAY and c == 0 else None
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
            return ("\u26a0 " if row.problem else "") + short_id(row.id)
        if key == "description":
            return topic_of(row)
        if key == "state":
            return row.state.value
        if key == "progress":
            # The stage rides in the bar ("37% · chapter 1/4"), so one column shows both.
            if row.progress is None or not shows_progress(row.state):
                return ""
            return f"{row.progress}%" + (f" · {row.stage}" if row.stage else "")
        if key == "stage":
            return (row.stage or "") if shows_progress(row.state) else ""
        if key == "attempts":
            return attempts_text(row)
        if key == "enqueued":
            return fmt_compact_time(row.enqueued_at)
        if key == "started":
            return fmt_compact_time(row.started_at)
        if key == "ended":
            return fmt_compact_time(row.ended_at if row.state != JobState.SCHEDULED else row.scheduled_for)
        if key == "duration":
            return fmt_duration(row.duration_s)
        if key == "worker":
            return row.worker or ""
        if key == "error":
            return row.problem or self._notes.get(row.id) or row.error_line or ""
        return ""

    def _tooltip(self, row: JobRow, key: str) -> str | None:
        if key == "id":
            return row.id + (f"\nProblem with this job: {row.problem}" if row.problem else "")
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
    """All the jobs of one queue in one state: one row per job, rows read page by page where the view looks.

    The row count is the state's count, so the scrollbar spans the whole state. The view tells which
    rows it shows (:meth:`set_window`); the pages covering them (plus a margin) are read through the
    loader, one at a time, the newest wish first, and pages the view has scrolled away from are
    dropped. A row not read yet shows a placeholder. A refresh re-reads the pages in view and moves
    persistent indexes (the selection, the current row) with their jobs by id.

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

    def __init__(
        self, loader: PageLoader | None = None, page_size: int = PAGE_SIZE, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._page_size = page_size
        self._total = 0
        self._generation = 0
        self._pages: dict[int, list[JobRow]] = {}
        self._where: dict[str, int] | None = None
        self._window: tuple[int, int] | None = None
        self._queued: list[int] = []
        self._loading: int | None = None
        self._pump_task: asyncio.Future[Any] | None = None
        self._refresh_task: asyncio.Future[Any] | None = None
        self._refresh_again = False

    # ----------------------------------------------------------------- access
    @property
    def total(self) -> int:
        return self._total

    @property
    def page_size(self) -> int:
        return self._page_size

    @property
    def busy(self) -> bool:
        return any(t is not None and not t.done() for t in (self._pump_task, self._refresh_task))

    @property
    def rows(self) -> list[JobRow]:
        """The rows read so far, top to bottom (not contiguous when the view jumped)."""
        return [row for page in sorted(self._pages) for row in self._pages[page]]

    @property
    def loaded_pages(self) -> list[int]:
        return sorted(self._pages)

    @property
    def all_read(self) -> bool:
        """Every row of the state is read (a selection of all rows then names every job)."""
        return sum(len(rows) for rows in self._pages.values()) >= self._total

    def row_at(self, row: int) -> JobRow | None:
        return self._peek(row) if 0 <= row < self._total else None

    def index_of(self, job_id: str) -> int:
        if self._where is None:
            size = self._page_size
            self._where = {
                r.id: page * size + i for page, rows in self._pages.items() for i, r in enumerate(rows)
            }
        return self._where.get(job_id, -1)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._total

    def _row(self, r: int) -> JobRow | None:
        row = self._peek(r)
        if row is None:
            self._want(r // self._page_size)
        return row

    def _peek(self, r: int) -> JobRow | None:
        """The row at ``r`` when it is read, without asking for it."""
        page, i = divmod(r, self._page_size)
        rows = self._pages.get(page)
        return rows[i] if rows is not None and i < len(rows) else None

    def set_colors(self, state_colors: dict[str, QColor], problem: QColor) -> None:
        self._state_colors = dict(state_colors)
        self._problem_brush = QBrush(problem)
        if self._total:
            self.dataChanged.emit(self.index(0, 0), self.index(self._total - 1, len(COLUMNS) - 1))

    # ----------------------------------------------------------------- what to show
    def set_loader(self, loader: PageLoader | None) -> None:
        """Show another (queue, state): drop every row and read the first page."""
        self._generation += 1
        for task in (self._pump_task, self._refresh_task):
            if task is not None and not task.done():
                task.cancel()
        self._pump_task = self._refresh_task = None
        self._loader = loader
        self.beginResetModel()
        self._pages = {}
        self._where = None
        self._queued = []
        self._texts.clear()
        self._total = 0
        self.endResetModel()
        if loader is not None:
            self.refresh()

    def set_total(self, total: int) -> None:
        """The state's count (from a snapshot or a page): rows are added or removed at the end."""
        total = max(0, int(total))
        old = self._total
        if total == old:
            return
        if total > old:
            self.beginInsertRows(QModelIndex(), old, total - 1)
            self._total = total
            self.endInsertRows()
        else:
            self.beginRemoveRows(QModelIndex(), total, old - 1)
            self._total = total
            self._trim()
            self.endRemoveRows()
        self.totalChanged.emit(total)

    def set_window(self, first: int, last: int) -> None:
        """The view shows rows ``first`` to ``last``: read the pages around them, forget those far away."""
        if self._total == 0:
            self._window = None
            return
        first = max(0, min(first, self._total - 1))
        last = max(first, min(last, self._total - 1))
        if self._window == (first, last):
            return
        self._window = (first, last)
        for page in self._window_pages():
            if page not in self._pages:
                self._want(page)

    def _window_pages(self) -> range:
        if self._window is None:
            return range(0, 1)
        margin = self._page_size // 2
        first = max(0, self._window[0] - margin) // self._page_size
        last = min(self._total - 1, self._window[1] + margin) // self._page_size
        return range(first, last + 1)

    def _pinned_pages(self) -> list[int]:
        """Pages holding the selection's corners or the current row (Qt keeps those as persistent indexes)."""
        pages = sorted({ix.row() // self._page_size for ix in self.persistentIndexList() if ix.isValid()})
        return pages[:PINNED_PAGES]

    def _trim(self) -> None:
        """Drop rows past the total, and pages far from the window beyond :data:`KEEP_PAGES`."""
        size = self._page_size
        for page in list(self._pages):
            keep = self._total - page * size
            if keep <= 0:
                del self._pages[page]
            elif keep < len(self._pages[page]):
                self._pages[page] = self._pages[page][:keep]
        if len(self._pages) > KEEP_PAGES:
            near = self._window_pages()
            centre = (near.start + near.stop - 1) / 2
            keep_set = set(near) | set(self._pinned_pages())
            far = sorted((p for p in self._pages if p not in keep_set), key=lambda p: -abs(p - centre))
            for page in far[: len(self._pages) - KEEP_PAGES]:
                del self._pages[page]
        self._where = None

    # ----------------------------------------------------------------- reading pages
    def _want(self, page: int) -> None:
        if self._loader is None or page in self._queued or page == self._loading:
            return
        self._queued.append(page)
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = schedule(self._pump(self._generation))

    async def _pump(self, generation: int) -> None:
        """Read the pages wished for, the newest wish first, skipping those the view has left."""
        loader = self._loader
        self.loadingChanged.emit(True)
        try:
            while self._queued and loader is not None:
                page = self._queued.pop()
                if self._window is not None and page not in self._window_pages():
                    continue  # scrolled past (a thumb drag wishes for many pages on its way)
                self._loading = page
                try:
                    result = await loader(page * self._page_size, self._page_size)
                finally:
                    self._loading = None
                if generation != self._generation:
                    return
                self.set_total(result.total)
                if page * self._page_size < self._total:
                    self._store(page, list(result.rows))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._generation:
                self._queued = []
                self.loadFailed.emit(str(exc))
        finally:
            if generation == self._generation:
                self.loadingChanged.emit(False)

    def _store(self, page: int, rows: list[JobRow]) -> None:
        self._pages[page] = rows
        self._trim()
        first = page * self._page_size
        last = min(self._total, first + self._page_size) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    # ----------------------------------------------------------------- refresh
    def refresh(self) -> None:
        """Re-read the pages in view and update them in place. Never blocks."""
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
                pages = sorted(set(self._window_pages()) | set(self._pinned_pages()))
                fresh: dict[int, list[JobRow]] = {}
                total = self._total
                for page in pages:
                    result = await loader(page * self._page_size, self._page_size)
                    if generation != self._generation:
                        return
                    total = result.total
                    if result.rows:
                        fresh[page] = list(result.rows)
                self.refreshAboutToApply.emit()
                self._apply(fresh, total)
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

    def _apply(self, fresh: dict[int, list[JobRow]], total: int) -> None:
        """Put freshly read pages in place; persistent indexes follow their jobs by id."""
        if total > self._total:
            self.set_total(total)
        old_ids = {
            ix.row(): r.id for ix in self.persistentIndexList() if (r := self._peek(ix.row())) is not None
        }
        self.layoutAboutToBeChanged.emit()
        # Pages read meanwhile where the view went since the refresh began stay; all others were re-read.
        near = set(self._window_pages())
        self._pages = {
            **{p: rows for p, rows in self._pages.items() if p in near and p not in fresh},
            **fresh,
        }
        self._where = None
        self._texts.clear()
        limit = max(total, 0)
        for ix in self.persistentIndexList():
            job_id = old_ids.get(ix.row())
            row = self.index_of(job_id) if job_id is not None else ix.row()
            if job_id is not None and row < 0:
                row = ix.row() if ix.row() // self._page_size not in fresh else -1
            if 0 <= row < max(limit, self._total):
                self.changePersistentIndex(ix, self.createIndex(row, ix.column()))
            else:
                self.changePersistentIndex(ix, QModelIndex())
        self.layoutChanged.emit()
        self.set_total(total)
        self._trim()


class SearchResultsModel(JobRowsModel):
    """Rows found by a search, appended batch by batch as the core streams them."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.searching = False
        self.scanned = 0
