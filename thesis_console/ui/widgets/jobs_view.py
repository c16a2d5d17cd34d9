"""The Jobs view: one lazily paged table per state in tabs (with counts), and a streaming search.

Everything is read through the controller; the tables page as the user scrolls and update in place
on each refresh. The selection is the user's: a refresh keeps it by job id and never moves it to a
job the user did not pick (a selected job that leaves the table is deselected, and announced with
:attr:`JobsView.jobLeft`). The job actions (``ui/job_actions.py``) read :meth:`JobsView.selected_rows`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence, QPainter, QPaintEvent, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.types import STATE_ORDER, JobPage, JobRow, JobState, Snapshot
from thesis_console.ui import theme
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.models.formatting import fmt_count
from thesis_console.ui.models.job_table import (
    COLUMN_KEYS,
    COLUMNS,
    ORDER_COLUMNS,
    PROGRESS_COLUMN,
    JobRowsModel,
    JobTableModel,
    SearchResultsModel,
    sort_order,
)
from thesis_console.ui.models.progress_delegate import ProgressDelegate
from thesis_console.ui.settings import ConsoleSettings
from thesis_console.ui.tasks import spawn

log = logging.getLogger("thesis_console.ui.jobs")


@dataclass(frozen=True)
class SearchQuery:
    """What the search panel shows: ``text`` searched in ``state`` of ``queue``."""

    queue: str
    state: JobState
    text: str

SEARCH_DELAY_MS = 300
"""Typing pauses this long before a search starts (each key press restarts the wait)."""
SEARCH_CHUNK = 500
"""Jobs the core examines per round trip of a search. Each chunk is decoded and matched on the GUI
thread, about 12 ms for 500 here, so the loop stays far under its 50 ms budget while a search walks
a million jobs (at about 30,000 jobs/s)."""
SEARCH_BATCH = 100

COLUMN_SAMPLES = {
    "id": "\u26a0 26481cc4\u2026", "state": "completed", "progress": "100% \u00b7 chapter 12/12", "stage": "chapter 12/12",
    "attempts": "2 (3 left)", "enqueued": "28 Nov 14:05", "started": "28 Nov 14:05", "ended": "28 Nov 14:05",
    "duration": "4m 05s", "worker": "workstation.12345-16", "error": "RuntimeError: the service did not answer",
}  # fmt: skip
"""What each column must show whole: its starting width is this text's (or the title's) in the
table's font, so it fits whatever the screen's font and DPI; the topic and error take the rest."""
STRETCHED = ("description", "error")

_SHOWN_IN_EVERY_STATE = ("id", "description", "attempts", "enqueued")
DEFAULT_SHOWN: dict[JobState, tuple[str, ...]] = {
    JobState.WAITING: ("state",),
    JobState.ACTIVE: ("progress", "started"),
    JobState.SCHEDULED: ("state", "ended"),
    JobState.DEFERRED: ("state",),
    JobState.COMPLETED: ("state", "ended", "duration"),
    JobState.FAILED: ("ended", "duration", "error"),
    JobState.CANCELED: ("state", "ended"),
}
"""Columns each state shows until the header's menu changes them: the id, topic, attempts and
enqueued time everywhere, the state (for running jobs the progress bar with the stage; for failed
jobs the error, as every row of the Failed tab is failed), the start or end time and how long it
took where they mean something (not yet for running jobs), so a 1280-pixel window shows every column without horizontal
scrolling, detail panel open."""
DEFAULT_HIDDEN: dict[JobState, tuple[str, ...]] = {
    state: tuple(k for k in COLUMN_KEYS if k not in _SHOWN_IN_EVERY_STATE + DEFAULT_SHOWN[state])
    for state in STATE_ORDER
}


def set_tab_text(tabs: QTabWidget, index: int, text: str) -> None:
    """Change a tab's title only when it differs: even an equal text relays out the tabs and repaints
    the whole page (a full table repaint on every refresh)."""
    if tabs.tabText(index) != text:
        tabs.setTabText(index, text)


def state_title(state: JobState, count: int | None) -> str:
    """``Waiting 617``; counts from 1,000 up are rounded (``Scheduled 1.2k``, ``Waiting 200k``,
    ``Completed 1.2M``) so every state's tab fits a 1280-pixel window; the tab's tooltip has the
    exact count."""
    name = state.value.capitalize()
    return name if count is None else f"{name} {short_count(count)}"


def short_count(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n // 100 / 10:.1f}k".replace(".0k", "k")
    if n < 1_000_000:
        return f"{n // 1000}k"
    return f"{n // 100_000 / 10:.1f}M".replace(".0M", "M")


class JobTableView(QTableView):
    """A job table that says so when it has no rows (instead of showing a blank area)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = ""

    def moveCursor(
        self, action: QAbstractItemView.CursorAction, modifiers: Qt.KeyboardModifier
    ) -> QModelIndex:  # noqa: N802
        # With no current row Qt would answer any key with the first row: Ctrl+End must reach the end.
        # (Not for MoveNext: focusInEvent asks it for the first row, and a click that only focuses
        # the table, on its header say, must not make a job current.)
        model = self.model()
        cursor = QAbstractItemView.CursorAction
        if (
            action not in (cursor.MoveNext, cursor.MovePrevious)
            and not self.currentIndex().isValid()
            and model is not None
            and model.rowCount()
        ):
            self.selectionModel().setCurrentIndex(
                model.index(0, 0), QItemSelectionModel.SelectionFlag.NoUpdate
            )
        return super().moveCursor(action, modifiers)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        model = self.model()
        if isinstance(model, JobTableModel) and model.rowCount():
            # The rows about to be painted decide which pages are read (unread rows paint a placeholder).
            first = max(0, self.rowAt(0))
            last = self.rowAt(self.viewport().height() - 1)
            model.set_window(first, model.rowCount() - 1 if last < 0 else last)
        super().paintEvent(event)
        if model is None or model.rowCount() or not self.placeholder:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        rect = self.viewport().rect().adjusted(12, 24, -12, -12)
        painter.drawText(
            rect,
            int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap),
            self.placeholder,
        )
        painter.end()


def make_table(model: JobRowsModel, parent: QWidget | None = None) -> JobTableView:
    """A job table: whole-row multi-selection, progress delegate, sensible column widths."""
    view = JobTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
    view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    vh = view.verticalHeader()
    vh.hide()
    vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # fixed row heights keep a million rows cheap
    vh.setDefaultSectionSize(max(24, view.fontMetrics().height() + 10))
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    hh = view.horizontalHeader()
    hh.setHighlightSections(False)
    hh.setStretchLastSection(False)
    hh.setSectionsMovable(True)
    hh.setMinimumSectionSize(40)
    set_column_widths(view)
    for key in STRETCHED:
        hh.setSectionResizeMode(COLUMN_KEYS.index(key), QHeaderView.ResizeMode.Stretch)
    delegate = ProgressDelegate(view)
    delegate.bar_color = theme.current().state_color("active")
    view.setItemDelegateForColumn(PROGRESS_COLUMN, delegate)
    view.setProperty("progressDelegate", delegate)
    model.set_colors(theme.current().state_colors(), _problem_color())
    return view


def set_column_widths(view: QTableView) -> None:
    """Each column as wide as its sample text (bold for the state) or its title, plus the cell's margins."""
    text = view.fontMetrics()
    bold_font = view.font()
    bold_font.setBold(True)
    bold = QFontMetrics(bold_font)  # the state's cells, and header titles (styles often make them bold)
    margin = 2 * view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 12
    arrow = bold.horizontalAdvance("\u25bc") + 6  # the sort indicator beside a title
    for key, title in COLUMNS:
        sample = COLUMN_SAMPLES.get(key)
        if sample is None:
            continue
        metrics = bold if key == "state" else text
        width = max(metrics.horizontalAdvance(sample), bold.horizontalAdvance(title) + arrow)
        view.setColumnWidth(COLUMN_KEYS.index(key), width + margin)


def _problem_color() -> Any:
    from PySide6.QtGui import QColor

    return QColor(theme.current().problem)


class JobsView(QWidget):
    """Tabs of job tables for ``controller.current_queue`` plus a search over it.

    Signals:
        currentJobChanged(object): the JobRow under the cursor (or None), when the user moves it.
        jobLeft(object): the JobRow that was under the cursor left the table (a refresh no longer
            lists it); the cursor is then on no row, never on a job the user did not pick.
        selectionChanged(): the set of selected rows changed (actions re-check what they can do).
        contextMenuWanted(QPoint): a right click on a row, in global coordinates.
    """

    currentJobChanged = Signal(object)
    jobLeft = Signal(object)
    selectionChanged = Signal()
    contextMenuWanted = Signal(QPoint)
    matchesChanged = Signal()
    """A search started, found more matches, or ended (what "act on matches" applies to changed)."""

    def __init__(
        self, controller: ConsoleController, parent: QWidget | None = None, settings: ConsoleSettings | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self._queue = ""
        self._counts: dict[JobState, int] = {}
        self.models: dict[JobState, JobTableModel] = {}
        self.tables: dict[JobState, JobTableView] = {}
        self._loaded_queue: dict[JobState, str] = {}
        self._anchor: tuple[str, int] | None = None
        self._kept: tuple[list[str], JobRow | None, bool] | None = (
            None  # selection and current row across a refresh
        )
        self._applying = False
        self._left: JobRow | None = None
        self._selection_moved = False
        self._search_task: asyncio.Task[None] | None = None
        self._search_generation = 0
        self._query: SearchQuery | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)

        # Filter row
        filter_row = QHBoxLayout()
        filter_row.setContentsMargins(6, 6, 6, 0)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("jobFilter")
        self.filter_edit.setPlaceholderText("Search this queue: job id, topic, error text…  (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.addAction(theme.themed_icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.filter_edit.textChanged.connect(self._on_filter_text)
        self.filter_edit.returnPressed.connect(self._start_search_now)
        filter_row.addWidget(self.filter_edit, 1)
        self.position_label = QLabel("")
        self.position_label.setObjectName("jobsPosition")
        self.position_label.setToolTip("The rows in view; Ctrl+G goes to a position")
        # A long text may be cut, but never widens the Jobs view (and so never narrows the detail panel).
        self.position_label.setMinimumWidth(40)
        filter_row.addWidget(self.position_label)
        layout.addLayout(filter_row)

        self.go_to_action = QAction("Go to position…", self)
        self.go_to_action.setShortcut(QKeySequence("Ctrl+G"))
        self.go_to_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.go_to_action.triggered.connect(self.ask_position)
        self.addAction(self.go_to_action)
        self._reverse: dict[JobState, bool] = dict.fromkeys(STATE_ORDER, False)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._start_search_now)

        # Stack: state tabs, or the search results.
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("stateTabs")
        self.tabs.setDocumentMode(True)
        for state in STATE_ORDER:
            model = JobTableModel(parent=self)
            table = make_table(model, self)
            table.setObjectName(f"jobs-{state.value}")
            self.models[state] = model
            self.tables[state] = table
            self._wire_table(table, model)
            model.loadFailed.connect(
                lambda text, s=state: self.controller.notify(f"{s.value} jobs: {text}", "error")
            )
            model.refreshAboutToApply.connect(lambda s=state: self._before_refresh(s))
            model.refreshApplied.connect(lambda s=state: self._after_refresh(s))
            model.totalChanged.connect(lambda n, s=state: self._on_total(s, n))
            model.loadingChanged.connect(lambda loading, s=state: self._update_placeholder(s, loading))
            model.order_column = COLUMN_KEYS.index(ORDER_COLUMNS[state])
            header = table.horizontalHeader()
            header.setSortIndicatorShown(True)
            header.setSectionsClickable(True)
            header.setSortIndicator(model.order_column, sort_order(state, False))
            header.sortIndicatorChanged.connect(
                lambda section, order, s=state: self._on_sort(s, section, order)
            )
            table.verticalScrollBar().valueChanged.connect(lambda _v, s=state: self._update_position(s))
            header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            header.customContextMenuRequested.connect(lambda pos, s=state: self._column_menu(s, pos))
            self._apply_hidden(state)
            table.verticalScrollBar().rangeChanged.connect(lambda *_a, s=state: self._update_position(s))
            self.tabs.addTab(table, state_title(state, None))
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.stack.addWidget(self.tabs)

        self.search_panel = QWidget()
        search_layout = QVBoxLayout(self.search_panel)
        search_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 0, 6, 0)
        self.search_status = QLabel("")
        self.search_status.setObjectName("searchStatus")
        self.search_status.setMinimumWidth(40)  # as the position label: a long query never widens the view
        self.search_cancel = QPushButton("Stop search")
        self.search_cancel.clicked.connect(self.cancel_search)
        self.search_clear = QPushButton("Clear")
        self.search_clear.clicked.connect(self.clear_search)
        bar.addWidget(self.search_status, 1)
        self.search_show = QPushButton("Show in its table")
        self.search_show.setToolTip("Go to the selected match at its position in its state's table (or double-click it)")
        self.search_show.clicked.connect(self._show_current_match)
        bar.addWidget(self.search_show)
        self.matches_button = QPushButton("Act on matches")
        self.matches_button.setObjectName("actOnMatches")
        self.matches_button.setToolTip("Retry, cancel or delete every match of this search")
        self.matches_button.setMenu(QMenu(self.matches_button))
        bar.addWidget(self.matches_button)
        bar.addWidget(self.search_cancel)
        bar.addWidget(self.search_clear)
        search_layout.addLayout(bar)
        self.search_model = SearchResultsModel(self)
        self.search_table = make_table(self.search_model, self)
        self.search_table.placeholder = "No matches (yet)."
        self.search_table.setObjectName("jobs-search")
        self._wire_table(self.search_table, self.search_model)
        self.search_table.doubleClicked.connect(lambda _ix: self._show_current_match())
        search_layout.addWidget(self.search_table, 1)
        self.stack.addWidget(self.search_panel)

        controller.snapshotChanged.connect(self.on_snapshot)
        controller.queueSelected.connect(self.set_queue)

    # ----------------------------------------------------------------- wiring
    def _wire_table(self, table: QTableView, model: JobRowsModel) -> None:
        selection = table.selectionModel()
        selection.selectionChanged.connect(lambda *_: self._on_selection_changed())
        selection.currentRowChanged.connect(lambda current, _prev, t=table: self._on_current(t))
        model.modelReset.connect(lambda t=table: self._on_current(t))
        table.customContextMenuRequested.connect(lambda pos, t=table: self._on_context_menu(t, pos))
        table.doubleClicked.connect(lambda _ix, t=table: self._on_current(t))

    def apply_palette(self, palette: theme.Palette) -> None:
        """Re-colour states, problem rows and progress bars after a theme change."""
        from PySide6.QtGui import QColor

        for table in [*self.tables.values(), self.search_table]:
            model = table.model()
            if isinstance(model, JobRowsModel):
                model.set_colors(palette.state_colors(), QColor(palette.problem))
            delegate = table.property("progressDelegate")
            if isinstance(delegate, ProgressDelegate):
                delegate.bar_color = palette.state_color("active")
            table.viewport().update()
        for action in self.filter_edit.actions()[:1]:
            action.setIcon(theme.themed_icon("search"))

    # ----------------------------------------------------------------- what the window asks
    @property
    def queue(self) -> str:
        return self._queue

    def current_state(self) -> JobState:
        return STATE_ORDER[max(0, self.tabs.currentIndex())]

    def searching(self) -> bool:
        return self.stack.currentWidget() is self.search_panel

    def current_table(self) -> QTableView:
        return self.search_table if self.searching() else self.tables[self.current_state()]

    def current_model(self) -> JobRowsModel:
        model = self.current_table().model()
        assert isinstance(model, JobRowsModel)
        return model

    def selected_rows(self) -> list[JobRow]:
        """The selected rows of the visible table, top to bottom (only what the user selected)."""
        table = self.current_table()
        model = self.current_model()
        rows = sorted({ix.row() for ix in table.selectionModel().selectedRows()})
        return [r for r in (model.row_at(i) for i in rows) if r is not None]

    def whole_state_selected(self) -> bool:
        """Every row of a state's table is selected while some are not read yet (Ctrl+A on a big state):
        the selection means the whole state, not the rows :meth:`selected_rows` can name."""
        if self.searching():
            return False
        state = self.current_state()
        model, table = self.models[state], self.tables[state]
        if model.all_read:
            return False
        ranges = table.selectionModel().selection()
        selected = sum(ranges.at(i).height() for i in range(ranges.count()))
        return selected >= model.rowCount() > 0

    def state_count(self) -> int:
        """The number of jobs in the visible state's table."""
        return self.models[self.current_state()].rowCount()

    def search_query(self) -> SearchQuery | None:
        """The search shown in the search panel (None when the tables are shown)."""
        return self._query if self.searching() else None

    def search_running(self) -> bool:
        return self._search_task is not None and not self._search_task.done()

    def matches(self) -> list[JobRow]:
        """The rows the search has found so far."""
        return list(self.search_model.rows)

    def current_row(self) -> JobRow | None:
        table = self.current_table()
        ix = table.currentIndex()
        return self.current_model().row_at(ix.row()) if ix.isValid() else None

    def select_state(self, state: JobState) -> None:
        if self.searching():
            self.clear_search()
        self.tabs.setCurrentIndex(STATE_ORDER.index(state))

    def focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def select_job(self, job_id: str) -> bool:
        """Select the row of ``job_id`` in the visible table when it is loaded."""
        model = self.current_model()
        row = model.index_of(job_id)
        if row < 0:
            return False
        table = self.current_table()
        index = model.index(row, 0)
        table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        table.scrollTo(index)
        return True

    # ----------------------------------------------------------------- data
    @Slot(str)
    def set_queue(self, name: str) -> None:
        """Show another queue: every table starts again from its first page."""
        if name == self._queue:
            return
        self._queue = name
        self._counts = {}
        self._loaded_queue.clear()
        for state, model in self.models.items():
            model.set_loader(None)
            set_tab_text(self.tabs, STATE_ORDER.index(state), state_title(state, None))
            self._update_placeholder(state)
        if self.searching():
            self.clear_search()
        self._ensure_loaded(self.current_state())

    @Slot(object)
    def on_snapshot(self, snapshot: Snapshot) -> None:
        """New counts: update tab titles and totals, refresh the visible table."""
        if not self._queue:
            self.set_queue(self.controller.current_queue)
        counts = snapshot.queue(self._queue)
        for i, state in enumerate(STATE_ORDER):
            n = counts.count(state)
            self._counts[state] = n
            set_tab_text(self.tabs, i, state_title(state, n))
            if self.tabs.tabToolTip(i) != (tip := f"{fmt_count(n)} {state.value} jobs"):
                self.tabs.setTabToolTip(i, tip)
            self.models[state].set_total(n)
        if not self.isVisible():
            return  # hidden behind another view: read the rows when it is shown again
        state = self.current_state()
        if not self._ensure_loaded(state):
            self.models[state].refresh()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        # Disconnected, the rows read last stay (greyed by the window) instead of failing to load.
        if self._queue and not self.searching() and self.controller.is_connected():
            state = self.current_state()
            if not self._ensure_loaded(state):
                self.models[state].refresh()

    def refresh(self) -> None:
        """Re-read the visible table now (F5)."""
        if self.searching():
            self._start_search_now()
        elif not self._ensure_loaded(self.current_state()):
            self.models[self.current_state()].refresh()

    def _ensure_loaded(self, state: JobState) -> bool:
        """Give the table of ``state`` its loader the first time it is shown; True when that started a load."""
        if not self._queue or not self.controller.attached:
            return False
        if self._loaded_queue.get(state) == self._queue:
            return False
        self._loaded_queue[state] = self._queue
        model = self.models[state]
        model.set_loader(self._page_loader(self._queue, state))
        if state in self._counts:
            model.set_total(self._counts[state])
        return True

    def _page_loader(self, queue: str, state: JobState) -> Callable[[int, int], Any]:
        controller = self.controller
        reverse = self._reverse[state]

        async def load(offset: int, limit: int) -> JobPage:
            return await controller.page(queue, state, offset, limit, reverse=reverse)

        return load

    # ----------------------------------------------------------------- columns
    def hidden_columns(self, state: JobState) -> list[str]:
        stored = self.settings.hidden_columns(state.value) if self.settings is not None else None
        return [k for k in (DEFAULT_HIDDEN[state] if stored is None else stored) if k in COLUMN_KEYS]

    def set_column_visible(self, state: JobState, key: str, visible: bool) -> None:
        """Show or hide a column of ``state``'s table; remembered per state."""
        hidden = [k for k in self.hidden_columns(state) if k != key] + ([] if visible else [key])
        if self.settings is not None:
            self.settings.set_hidden_columns(state.value, hidden)
        self._apply_hidden(state)

    def _apply_hidden(self, state: JobState, table: QTableView | None = None) -> None:
        """Hide the columns hidden in ``state``'s tab, in its table (or ``table``: the search results of that state)."""
        hidden = set(self.hidden_columns(state))
        table = self.tables[state] if table is None else table
        for column, key in enumerate(COLUMN_KEYS):
            table.setColumnHidden(column, key in hidden and key != "id")

    def _column_menu(self, state: JobState, pos: QPoint) -> None:
        header = self.tables[state].horizontalHeader()
        menu = QMenu(self)
        menu.setObjectName("columnMenu")
        hidden = set(self.hidden_columns(state))
        for key, title in COLUMNS:
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(key not in hidden)
            action.setEnabled(key != "id")  # the id is always shown
            action.toggled.connect(lambda on, k=key, s=state: self.set_column_visible(s, k, on))
        menu.popup(header.mapToGlobal(pos))

    # ----------------------------------------------------------------- order and position
    def reversed_order(self, state: JobState) -> bool:
        """True when ``state`` is shown from the other end of the core's order."""
        return self._reverse[state]

    def set_reversed(self, state: JobState, reverse: bool) -> None:
        """Show ``state`` oldest first or newest first (the other end of the core's order when ``reverse``)."""
        model, header = self.models[state], self.tables[state].horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(model.order_column or 0, sort_order(state, reverse))
        header.blockSignals(False)
        header.viewport().update()
        if reverse == self._reverse[state]:
            return
        self._reverse[state] = reverse
        if self._loaded_queue.get(state) == self._queue and self._queue:
            model.set_loader(self._page_loader(self._queue, state))
            if state in self._counts:
                model.set_total(self._counts[state])
            self.tables[state].scrollToTop()

    def _on_sort(self, state: JobState, section: int, order: Qt.SortOrder) -> None:
        """A header click: the time column flips the order; other columns cannot be sorted (indicator put back)."""
        model = self.models[state]
        if section != model.order_column:
            self.set_reversed(state, self._reverse[state])
            return
        self.set_reversed(state, order != sort_order(state, False))

    def go_to_position(self, position: int, state: JobState | None = None) -> bool:
        """Show row ``position`` (1-based) of ``state`` (the visible tab) at the top and make it current."""
        state = self.current_state() if state is None else state
        model, table = self.models[state], self.tables[state]
        if not 1 <= position <= model.rowCount():
            self.controller.notify(
                f"no position {fmt_count(position)}: {state.value} has {fmt_count(model.rowCount())} rows",
                "error",
            )
            return False
        if self.searching():
            self.clear_search()
        self.tabs.setCurrentIndex(STATE_ORDER.index(state))
        index = model.index(position - 1, 0)
        table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        return True

    def _show_current_match(self) -> None:
        row = self.current_row() if self.searching() else None
        if row is not None:
            spawn(self.show_in_table(row.id, row.state), "show a job in its table")

    async def show_in_table(self, job_id: str, state: JobState) -> bool:
        """Select ``job_id`` in the table of ``state`` at its real position (as the table is ordered)."""
        queue = self._queue
        try:
            position = await self.controller.position(queue, state, job_id, reverse=self._reverse[state])
        except Exception as exc:
            self.controller.notify(f"could not find {job_id}: {exc}", "error")
            return False
        if queue != self._queue:
            return False
        if position is None:
            self.controller.notify(f"job {job_id} is no longer {state.value} in {queue}", "warning")
            return False
        self.select_state(state)
        self._ensure_loaded(state)
        self.models[state].set_total(max(self.models[state].rowCount(), position + 1))
        return self.go_to_position(position + 1, state)

    def ask_position(self) -> None:
        """Ctrl+G: ask for a position in the visible state and go there (the dialog does not block the loop)."""
        state = self.current_state()
        total = self.models[state].rowCount()
        if total == 0:
            return
        dialog = QInputDialog(self)
        dialog.setObjectName("goToPosition")
        dialog.setWindowTitle("Go to position")
        dialog.setLabelText(f"Position in {state.value} (1 to {fmt_count(total)}):")
        dialog.setInputMode(QInputDialog.InputMode.IntInput)
        dialog.setIntRange(1, total)
        dialog.setIntValue(max(1, self.tables[state].rowAt(0) + 1))
        dialog.intValueSelected.connect(lambda value, s=state: self.go_to_position(value, s))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _update_position(self, state: JobState) -> None:
        if self.searching():
            self.position_label.setText("")  # the search panel says what it shows
            return
        if state is not self.current_state():
            return
        table, total = self.tables[state], self.models[state].rowCount()
        if total == 0:
            self.position_label.setText("")
            return
        first = max(0, table.rowAt(0))
        last = table.rowAt(table.viewport().height() - 1)
        last = total - 1 if last < 0 else last
        text = f"rows {fmt_count(first + 1)}–{fmt_count(last + 1)} of {fmt_count(total)}"
        if self.whole_state_selected():
            text += f" · all {fmt_count(total)} selected (the whole state)"
        self.position_label.setText(text)

    def set_stuck(self, stuck: dict[str, float]) -> None:
        """Flag running jobs that have made no progress for a while (the stuck-job alert), Stop suggested."""
        from thesis_console.core.alerts.conditions import describe_duration

        self.models[JobState.ACTIVE].set_notes(
            {
                job_id: f"no progress for {describe_duration(seconds)}: stuck? Stop suggested"
                for job_id, seconds in stuck.items()
            }
        )

    def reset(self) -> None:
        """Forget every loaded row and count (a new session): tables load again on the next snapshot."""
        self._queue = ""
        self._counts = {}
        self._loaded_queue.clear()
        for state, model in self.models.items():
            model.set_loader(None)
            set_tab_text(self.tabs, STATE_ORDER.index(state), state_title(state, None))
            self._update_placeholder(state)
        self.clear_search()

    # ----------------------------------------------------------------- keeping selection and viewport
    def _before_refresh(self, state: JobState) -> None:
        """Remember the selection by job id: rows removed and inserted by the refresh must not carry it
        to other jobs (Qt moves the cursor to the next row when its row is removed)."""
        table, model = self.tables[state], self.models[state]
        selected = [
            r.id for r in (model.row_at(ix.row()) for ix in table.selectionModel().selectedRows()) if r
        ]
        current = table.currentIndex()
        current_row = model.row_at(current.row()) if current.isValid() else None
        # A current row not read yet (Ctrl+End before its page arrived) stays where the model keeps it.
        self._kept = (selected, current_row, current.isValid() and current_row is None)
        self._applying = True
        self._remember_anchor(state)

    def _after_refresh(self, state: JobState) -> None:
        """Select again exactly the jobs that were selected and are still listed; nothing else."""
        kept, self._kept = self._kept, None
        self._restore_anchor(state)
        try:
            if kept is not None:
                self._reselect(state, *kept)
        finally:
            self._applying = False
        if kept is not None and self._left is not None:
            left, self._left = self._left, None
            self.jobLeft.emit(left)
        if kept is not None and self._selection_moved:
            self._selection_moved = False
            self.selectionChanged.emit()

    def _reselect(
        self, state: JobState, selected: list[str], current: JobRow | None, current_unread: bool
    ) -> None:
        table, model = self.tables[state], self.models[state]
        selection_model = table.selectionModel()
        before = {ix.row() for ix in selection_model.selectedRows()}
        unread = {row for row in before if model.row_at(row) is None}  # kept by the model where they were
        wanted = QItemSelection()
        rows = sorted({i for i in (model.index_of(job_id) for job_id in selected) if i >= 0} | unread)
        for row in rows:
            wanted.select(model.index(row, 0), model.index(row, model.columnCount() - 1))
        changed = set(rows) != before or len(rows) != len(selected) + len(unread)
        if set(rows) != before:
            selection_model.select(wanted, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        current_row = model.index_of(current.id) if current is not None else -1
        if current_unread:
            pass
        elif current_row >= 0:
            if table.currentIndex().row() != current_row:
                column = max(0, table.currentIndex().column())
                selection_model.setCurrentIndex(
                    model.index(current_row, column), QItemSelectionModel.SelectionFlag.NoUpdate
                )
        elif table.currentIndex().isValid():
            selection_model.clearCurrentIndex()
        visible = table is self.current_table()
        self._left = current if current is not None and current_row < 0 and visible else None
        self._selection_moved = changed and visible

    def _on_selection_changed(self) -> None:
        if not self._applying:
            self._update_position(self.current_state())
            self.selectionChanged.emit()

    def _remember_anchor(self, state: JobState) -> None:
        table = self.tables[state]
        bar = table.verticalScrollBar()
        self._anchor = None
        if bar.value() <= 0:
            return  # at the top: new rows should appear, not push the view
        top = table.indexAt(QPoint(0, 0))
        model = self.models[state]
        row = model.row_at(top.row()) if top.isValid() else None
        if row is not None:
            self._anchor = (row.id, table.visualRect(top).top())

    def _restore_anchor(self, state: JobState) -> None:
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        table = self.tables[state]
        row = self.models[state].index_of(anchor[0])
        if row < 0:
            return
        rect = table.visualRect(self.models[state].index(row, 0))
        bar = table.verticalScrollBar()
        bar.setValue(bar.value() + rect.top() - anchor[1])

    def _on_total(self, state: JobState, total: int) -> None:
        self._update_position(state)
        self._on_total_title(state, total)

    def _on_total_title(self, state: JobState, total: int) -> None:
        """A page told a newer count than the last snapshot: show it, so title and rows agree."""
        if self._queue and self._loaded_queue.get(state) == self._queue:
            self._counts[state] = total
            set_tab_text(self.tabs, STATE_ORDER.index(state), state_title(state, total))
        self._update_placeholder(state)

    def _update_placeholder(self, state: JobState, loading: bool = False) -> None:
        table, model = self.tables[state], self.models[state]
        if loading and not model.rowCount():
            text = "Loading…"
        elif not self.controller.attached:
            text = "Not connected."
        else:
            text = f"No {state.value} jobs in {self._queue}." if self._queue else ""
        if text != table.placeholder:
            table.placeholder = text
            if not model.rowCount():
                table.viewport().update()  # only an empty table shows it: never repaint a full one for this

    # ----------------------------------------------------------------- events
    def _on_tab_changed(self, _index: int) -> None:
        self._update_position(self.current_state())
        if self.searching():
            self._start_search_now()  # the search follows the state tab
            return
        state = self.current_state()
        if not self._ensure_loaded(state):
            self.models[state].refresh()
        self._on_current(self.tables[state])
        self.selectionChanged.emit()

    def _on_current(self, table: QTableView) -> None:
        if table is not self.current_table() or self._applying:
            return
        self.currentJobChanged.emit(self.current_row())

    def _on_context_menu(self, table: QTableView, pos: QPoint) -> None:
        index = table.indexAt(pos)
        if index.isValid() and not table.selectionModel().isRowSelected(index.row(), index.parent()):
            table.selectionModel().setCurrentIndex(
                index,
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )
        self.contextMenuWanted.emit(table.viewport().mapToGlobal(pos))

    # ----------------------------------------------------------------- search
    def _on_filter_text(self, text: str) -> None:
        if not text.strip():
            self._search_timer.stop()
            self.clear_search()
            return
        self._search_timer.start()

    def _start_search_now(self) -> None:
        self._search_timer.stop()
        text = self.filter_edit.text().strip()
        if not text:
            self.clear_search()
            return
        self.cancel_search()
        self._search_generation += 1
        self.search_model.clear()
        self.search_model.searching = True
        self.search_model.scanned = 0
        self.stack.setCurrentWidget(self.search_panel)
        self.search_cancel.setEnabled(True)
        state = self.current_state()
        self._query = SearchQuery(self._queue, state, text)
        self._apply_hidden(state, self.search_table)  # the columns of the state searched
        self._update_position(state)
        self.search_status.setText(f"Searching {state.value} jobs of {self._queue} for “{text}”…")
        self._search_task = spawn(self._search(self._search_generation, self._queue, state, text), "search")
        self.selectionChanged.emit()
        self.matchesChanged.emit()

    def cancel_search(self) -> None:
        """Stop a running search; the rows found so far stay."""
        task, self._search_task = self._search_task, None
        if task is not None and not task.done():
            task.cancel()
            self.search_model.searching = False
            self.search_status.setText(self.search_status.text().replace("Searching", "Stopped searching", 1))
            self.matchesChanged.emit()
        self.search_cancel.setEnabled(False)

    def clear_search(self) -> None:
        self.cancel_search()
        self._search_generation += 1
        self.search_model.clear()
        self._query = None
        if self.filter_edit.text():
            self.filter_edit.blockSignals(True)
            self.filter_edit.clear()
            self.filter_edit.blockSignals(False)
        self.stack.setCurrentWidget(self.tabs)
        self._update_position(self.current_state())
        self.selectionChanged.emit()
        self.matchesChanged.emit()
        self._on_current(self.current_table())

    async def _search(self, generation: int, queue: str, state: JobState, text: str) -> None:
        found = 0
        where = f"{state.value} jobs of {queue}"
        try:
            rows_found = self.controller.search(
                queue, state, text, batch_size=SEARCH_BATCH, scan_chunk=SEARCH_CHUNK
            )
            async for rows in rows_found:
                if generation != self._search_generation:
                    return
                found += self.search_model.append_rows(rows)
                self.search_status.setText(
                    f"Searching {where} for “{text}”: {fmt_count(found)} found so far…"
                )
                self.matchesChanged.emit()
            if generation == self._search_generation:
                self.search_status.setText(f"“{text}” in {where}: {fmt_count(found)} found")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if generation == self._search_generation:
                self.search_status.setText(f"Search failed: {exc}")
                self.controller.notify(f"search failed: {exc}", "error")
        finally:
            if generation == self._search_generation:
                self.search_model.searching = False
                self.search_cancel.setEnabled(False)
                self.matchesChanged.emit()
