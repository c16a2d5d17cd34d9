"""The main window: queues on the left, the selected queue's views in tabs, actions, status area.

The window composes: the views, the job actions (``ui/job_actions.py``), the toolbar, the status
area and the tray. Everything reads through the controller, and every change goes through
:meth:`ConsoleController.act`; while an action runs the window stays responsive and the other
mutating actions are disabled. Every message arrives as a :class:`Notice` (``noticePosted``) and is
shown in the status area and, when it has a title, as a desktop notification. Dialogs that need an
answer are opened with ``open()`` and awaited (:func:`ask`), never with a nested ``exec()`` loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QSystemTrayIcon,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core import contract
from thesis_console.core.profiles import ConnectionProfile, ProfileStore, embedded_profile
from thesis_console.core.types import ConnectionPhase, ConnectionState, JobRow, JobState, Snapshot
from thesis_console.ui import resources, theme
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.job_actions import JobActions, make_action, set_enabled
from thesis_console.ui.modal import ask
from thesis_console.ui.models import roles
from thesis_console.ui.models.formatting import plural
from thesis_console.ui.models.queue_delegate import QueueItemDelegate
from thesis_console.ui.models.queue_list import QueueListModel
from thesis_console.ui.notices import Level, Notice
from thesis_console.ui.settings import NOTIFY_MIN_GAP_S, ConsoleSettings
from thesis_console.ui.tasks import spawn
from thesis_console.ui.widgets.job_detail import JobDetailPanel
from thesis_console.ui.widgets.jobs_view import JobsView
from thesis_console.ui.widgets.scrolling import scrollable
from thesis_console.ui.widgets.status_area import StatusArea

log = logging.getLogger("thesis_console.ui.window")

VIEW_OVERVIEW, VIEW_JOBS, VIEW_WORKERS = 0, 1, 2
STOP_NOW_AFTER_S = 10.0
LOG_DOCK_SHARE = 0.4
ALERTS_DOCK_SHARE = 0.35
"""The most of the window's height the Alerts tab takes when it comes to the front."""
"""Part of the window's height the bottom docks get when the Local workers log is opened."""


def _optional_widget(module: str, name: str, controller: ConsoleController, what: str) -> QWidget:
    """A view, or a label saying why it is missing (so one broken view never breaks the window)."""
    try:
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name)(controller)
    except Exception as exc:  # an import or construction failure in another view
        log.exception("%s unavailable", what)
        label = QLabel(f"The {what} could not be loaded: {exc}")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        return label


class MainWindow(QMainWindow):
    """The console window.

    Args:
        controller: the console controller (a new one by default).
        settings: where settings live (QSettings of the application by default).
        store: the connection profiles (the user's profiles file by default).
    """

    def __init__(
        self,
        controller: ConsoleController | None = None,
        settings: ConsoleSettings | None = None,
        store: ProfileStore | None = None,
        theme_manager: theme.ThemeManager | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.controller = controller or ConsoleController(self)
        self.settings = settings or ConsoleSettings()
        self.store = store or ProfileStore()
        self.theme_manager = theme_manager
        self.profile: ConnectionProfile | None = None
        self._last_notice_at = 0.0
        self._close_confirmed = False
        self._connect_task: asyncio.Task[bool] | None = None
        self._last_phase: ConnectionPhase | None = None
        self._note_on_connect: Notice | None = None
        self.stop_now_after_s = STOP_NOW_AFTER_S
        """How long closing with "Stop workers" waits before offering "Stop now"."""
        self.active_dialog: QDialog | None = None
        self.first_counts_at: float | None = None

        self.setWindowTitle("Thesis Queue Console")
        self.setWindowIcon(resources.app_icon())
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.controller.set_refresh_interval_s(self.settings.refresh_interval_s)
        self.controller.current_queue = self.settings.last_queue or contract.queue_name()

        self._build_views()
        self._build_actions()
        self._build_toolbar()
        self._build_status()
        self._build_tray()
        self._build_alerts()

        c = self.controller
        c.snapshotChanged.connect(self._on_snapshot)
        c.connectionChanged.connect(self._on_connection)
        c.noticePosted.connect(self.show_notice)
        c.busyChanged.connect(lambda _busy: self.update_actions())
        c.profileChanged.connect(self._on_profile_changed)
        c.rightsLimited.connect(self.status_area.set_limited)
        c.queueSelected.connect(self._on_queue_selected)
        self.jobs_view.selectionChanged.connect(self.update_actions)
        self.jobs_view.tabs.currentChanged.connect(lambda _i: self.update_actions())
        self.jobs_view.currentJobChanged.connect(self.show_job)
        self.jobs_view.jobLeft.connect(self.detail.job_left)
        self.detail.actionRequested.connect(lambda action, row: self.job_actions.run(action, [row]))
        if self.theme_manager is not None:
            self.theme_manager.changed.connect(self.apply_palette)

        self._wire_chart_range()
        self.resize(1280, 800)
        self.settings.restore_window(self)
        state = self.settings.splitter_state("main")
        if state is not None:
            self.main_splitter.restoreState(state)
        self.fit_detail()
        self.update_actions()

    # ================================================================= building
    def _build_views(self) -> None:
        self.queue_model = QueueListModel(self)
        self.queue_list = QListView()
        self.queue_list.setObjectName("queueList")
        self.queue_list.setModel(self.queue_model)
        self.queue_list.setItemDelegate(QueueItemDelegate(self.queue_list))
        self.queue_list.setMinimumWidth(150)
        self.queue_list.selectionModel().currentChanged.connect(self._on_queue_clicked)
        self.queue_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.queue_list.customContextMenuRequested.connect(self._on_queue_menu)
        self.queue_model.update([], keep=self.controller.current_queue)

        queues_pane = QWidget()
        queues_layout = QVBoxLayout(queues_pane)
        queues_layout.setContentsMargins(0, 0, 0, 0)
        queues_layout.setSpacing(0)
        heading = QLabel("  Queues")
        heading.setProperty("role", "heading")
        heading.setMinimumHeight(28)
        queues_layout.addWidget(heading)
        queues_layout.addWidget(self.queue_list, 1)

        self.overview = _optional_widget("thesis_console.ui.widgets.overview", "OverviewView", self.controller, "overview")
        self.jobs_view = JobsView(self.controller, settings=self.settings)
        self.detail = JobDetailPanel(self.controller)
        self.jobs_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.jobs_splitter.setObjectName("jobsSplitter")
        self.jobs_splitter.addWidget(self.jobs_view)
        self.jobs_splitter.addWidget(self.detail)
        self.jobs_splitter.setStretchFactor(0, 1)
        self.jobs_splitter.setStretchFactor(1, 0)
        self.jobs_splitter.setCollapsible(0, False)
        self.jobs_splitter.setCollapsible(1, True)
        self.jobs_splitter.splitterMoved.connect(lambda _pos, _index: self._remember_detail_width())
        self.workers_view = _optional_widget("thesis_console.ui.widgets.workers_view", "WorkersView", self.controller, "workers view")
        if hasattr(self.workers_view, "ask"):
            self.workers_view.ask = self.ask  # type: ignore[attr-defined]  # the window's: it remembers the open dialog

        self.views = QTabWidget()
        self.views.setObjectName("views")
        self.views.setDocumentMode(True)
        self.views.addTab(scrollable(self.overview), theme.themed_icon("overview"), "Overview")
        self.views.addTab(self.jobs_splitter, theme.themed_icon("jobs"), "Jobs")
        self.views.addTab(scrollable(self.workers_view), theme.themed_icon("workers"), "Workers")
        self.views.currentChanged.connect(lambda _i: self.update_actions())

        # The banner offered on an empty local Redis.
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 10, 6)
        self.banner_label = QLabel(
            "This Redis has no jobs yet. Start the demo to queue a few sample theses and run two local workers."
        )
        self.banner_label.setWordWrap(True)
        self.demo_button = QPushButton("Start demo")
        self.demo_button.setObjectName("demoButton")
        self.demo_button.setProperty("role", "primary")
        self.demo_button.clicked.connect(self.start_demo)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.demo_button)
        self.banner.hide()

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.views, 1)

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.setObjectName("mainSplitter")
        self.main_splitter.addWidget(queues_pane)
        self.main_splitter.addWidget(right)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([180, 1100])

        # Above every view: whose data this is when it is not live ("connecting to NAME…", "showing
        # data read at 12:03:07 from NAME; reconnecting in 4 s"); hidden while connected.
        self.data_banner = QLabel()
        self.data_banner.setObjectName("dataBanner")
        self.data_banner.setWordWrap(True)
        self.data_banner.setContentsMargins(10, 6, 10, 6)
        self.data_banner.hide()
        self._stale_timer = QTimer(self)
        self._stale_timer.setInterval(1000)
        self._stale_timer.timeout.connect(self._show_freshness)
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.data_banner)
        central_layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)

        self.local_workers = _optional_widget(
            "thesis_console.ui.widgets.local_workers", "LocalWorkersPanel", self.controller, "local workers panel"
        )
        self.local_dock = QDockWidget("Local workers", self)
        self.local_dock.setObjectName("localWorkersDock")
        self.local_dock.setWidget(scrollable(self.local_workers))
        self.local_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.local_dock)
        # Compact by default (a status line and the controls); the log opens on demand and the dock
        # grows for it. The user's own layout (saveState) wins when there is one.
        set_log_shown = getattr(self.local_workers, "set_log_shown", None)
        if callable(set_log_shown) and self.settings.local_log_shown:
            set_log_shown(True)  # as it was left; its height then comes from the saved window state
        self.resizeDocks([self.local_dock], [self.compact_dock_height()], Qt.Orientation.Vertical)
        shown = getattr(self.local_workers, "logShownChanged", None)
        if shown is not None:
            shown.connect(self._on_local_log_shown)

    def compact_dock_height(self) -> int:
        """The bottom docks' height with the Local workers log closed: its controls and the dock's title."""
        hint = self.local_workers.sizeHint().height()
        return hint + self.local_dock.style().pixelMetric(self.local_dock.style().PixelMetric.PM_TitleBarHeight) + 34

    def _on_local_log_shown(self, shown: bool) -> None:
        """Give the dock room for the log when it opens (at least LOG_DOCK_SHARE of the window), take it back when it closes."""
        height = self.local_dock.height()
        wanted = max(height, int(self.height() * LOG_DOCK_SHARE)) if shown else self.compact_dock_height()
        self.settings.local_log_shown = shown
        if wanted != height:
            self.resizeDocks([self.local_dock], [wanted], Qt.Orientation.Vertical)

    def _action(
        self,
        name: str,
        text: str,
        icon: str | None,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        tip: str = "",
        mutating: bool = False,
    ) -> QAction:
        action = make_action(self, name, text, icon, tip or text, mutating=mutating, shortcut=shortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _wire_chart_range(self) -> None:
        """Keep the Overview's chart range (its range buttons) in the settings, both ways."""
        buttons = getattr(self.overview, "range_buttons", None)
        if buttons is None:
            return
        buttons.idClicked.connect(self._remember_chart_range)
        self.apply_chart_range(self.settings.chart_range_s)

    def apply_chart_range(self, seconds: int) -> None:
        try:
            from thesis_console.ui.widgets.overview import RANGES
        except ImportError:
            return
        chosen = next((r for r in RANGES if r.seconds == seconds), None)
        set_range = getattr(self.overview, "set_range", None)
        if chosen is not None and callable(set_range):
            set_range(chosen)

    def _remember_chart_range(self, index: int) -> None:
        from thesis_console.ui.widgets.overview import RANGES

        if 0 <= index < len(RANGES):
            self.settings.chart_range_s = RANGES[index].seconds

    def _build_actions(self) -> None:
        a = self._action
        self.act_connect = a("connect", "Connections…", "connect", self.open_connections, "Ctrl+L", "Connection profiles: add, edit, test, connect")
        self.act_refresh = a("refresh", "Refresh", "refresh", self.refresh_now, "F5", "Read everything again now")
        # F5, plus the platform's own refresh key when it is another one (the same key twice is an
        # ambiguous shortcut, and Qt then fires neither).
        refresh_keys = [QKeySequence("F5")] + [k for k in QKeySequence.keyBindings(QKeySequence.StandardKey.Refresh) if k != QKeySequence("F5")]
        self.act_refresh.setShortcuts(refresh_keys)
        self.act_enqueue = a("enqueue", "Enqueue thesis…", "enqueue", self.open_enqueue, "Ctrl+N", "Queue a new thesis job", mutating=True)
        self.job_actions = JobActions(self.controller, self.jobs_view, self.ask, self, lambda: self.views.currentIndex() == VIEW_JOBS)
        for action in self.job_actions.mutating + [self.job_actions.act_copy_ids]:
            if action not in self.jobs_view.actions():
                self.addAction(action)
        self.act_search = a("search", "Search", "search", self.focus_search, QKeySequence.StandardKey.Find, "Search the jobs of this queue")
        self.act_demo = a("demo", "Demo", "demo", self.start_demo, None, "Queue sample theses and start local workers")
        self.act_settings = a("settings", "Settings…", "settings", self.open_settings, "Ctrl+,", "Refresh interval, theme, notifications")
        self.act_quit = a("quit", "Quit", None, self.close, QKeySequence.StandardKey.Quit, "Close the console")
        for i, name in enumerate(("Overview", "Jobs", "Workers")):
            a(f"view{i}", name, None, partial(self.views.setCurrentIndex, i), f"Ctrl+{i + 1}", f"Show {name}")
        self.mutating = [self.act_enqueue, *self.job_actions.mutating]

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.setMovable(False)
        for action in (self.act_connect, self.act_refresh, None, self.act_enqueue, *self.job_actions.toolbar_actions,
                       None, *self.job_actions.bulk_actions, None):  # fmt: skip
            if action is None:
                bar.addSeparator()
            else:
                bar.addAction(action)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding, spacer.sizePolicy().verticalPolicy())
        bar.addWidget(spacer)
        bar.addAction(self.act_demo)
        bar.addAction(self.act_settings)
        self.toolbar = bar
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _build_status(self) -> None:
        self.status_area = StatusArea()
        self.statusBar().addWidget(self.status_area, 1)
        self.statusBar().setSizeGripEnabled(True)

    def _build_tray(self) -> None:
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(resources.app_icon(), self)
            self.tray.setToolTip("Thesis Queue Console")

    def _build_alerts(self) -> None:
        from thesis_console.ui.widgets.alerts_dock import AlertsDock

        self.alerts = AlertsDock(self, beside=self.local_dock)
        self.job_actions.stuck_jobs = lambda: self.alerts.stuck
        self.alerts.visibilityChanged.connect(self._on_alerts_shown)

    def _on_alerts_shown(self, shown: bool) -> None:
        """The Alerts tab in front: room for its table (a few alerts, at most ALERTS_DOCK_SHARE of the
        window); back to the Local workers' height when that tab is in front again."""
        if self.alerts.isFloating() or self.local_dock.isFloating():
            return
        if shown:
            wanted = max(self.alerts.height(), min(self.alerts.panel.sizeHint().height() + 40, int(self.height() * ALERTS_DOCK_SHARE)))
            if wanted != self.alerts.height():
                self.resizeDocks([self.alerts], [wanted], Qt.Orientation.Vertical)
        elif not self.settings.local_log_shown:
            self.resizeDocks([self.local_dock], [self.compact_dock_height()], Qt.Orientation.Vertical)

    def show_job(self, row: JobRow | None) -> None:
        """Show ``row`` (the table's current job) in the detail panel, which takes room only while it shows one."""
        self.detail.show_row(row)
        self.fit_detail()

    def detail_open(self) -> bool:
        return self.jobs_splitter.sizes()[1] > 0

    def fit_detail(self) -> None:
        """Collapse the detail panel while it shows no job; open it again at the width it had."""
        sizes = self.jobs_splitter.sizes()
        total = sum(sizes) or max(1, self.jobs_splitter.width())
        if self.detail.row is None:
            if sizes[1] > 0:
                self._remember_detail_width()
                self.jobs_splitter.setSizes([total, 0])
            self.detail.setVisible(False)
            return
        if not self.detail.isVisible():
            self.detail.setVisible(True)
        if sizes[1] == 0:
            width = min(self.settings.detail_width, max(0, total - self.jobs_view.minimumSizeHint().width()))
            self.jobs_splitter.setSizes([total - width, width])

    def _remember_detail_width(self) -> None:
        width = self.jobs_splitter.sizes()[1]
        if width > 0 and self.detail.isVisible():
            self.settings.detail_width = width

    def show_jobs(self, state: JobState) -> None:
        """Show the Jobs view at ``state``'s tab."""
        self.views.setCurrentIndex(VIEW_JOBS)
        self.jobs_view.select_state(state)

    def apply_palette(self, palette: theme.Palette) -> None:
        for action in self.findChildren(QAction):
            name = action.property("iconName")
            if name:
                action.setIcon(theme.themed_icon(str(name)))
        for i, name in enumerate(("overview", "jobs", "workers")):
            self.views.setTabIcon(i, theme.themed_icon(name))
        self.jobs_view.apply_palette(palette)
        self.alerts.panel.apply_palette(palette)

    # ================================================================= connection
    def connect_initial(self, url: str | None = None, profile_name: str | None = None) -> asyncio.Task[bool] | None:
        """Connect at start: ``url`` (``--url`` / ``REDIS_URL``), else the profile named ``profile_name``
        (``--profile``), else the last profile used, else the embedded Redis."""
        from thesis_console.core.profiles import ad_hoc_profile

        profile: ConnectionProfile
        if url:
            profile = ad_hoc_profile(url)
        else:
            profile = embedded_profile()
            wanted = profile_name or self.settings.last_profile
            if wanted:
                try:
                    profile = self.store.get(wanted)
                except Exception as exc:
                    # Said once the new connection has cleared the status area's messages.
                    self._note_on_connect = Notice(f"profile {wanted!r} unavailable ({exc}); using the embedded Redis", Level.WARNING)
        return self.connect_profile(profile)

    def connect_profile(self, profile: ConnectionProfile, password: str | None = None) -> asyncio.Task[bool] | None:
        """Start connecting to ``profile`` (returns the task; the status area follows it)."""
        if self._connect_task is not None and not self._connect_task.done():
            self._connect_task.cancel()
        self._connect_task = spawn(self._connect(profile, password), f"connect to {profile.name}")
        return self._connect_task

    async def _connect(self, profile: ConnectionProfile, password: str | None) -> bool:
        self.profile = profile

        async def password_source(p: ConnectionProfile) -> str | None:
            if password:
                return password
            return await self._ask_password(p)

        ok = await self.controller.open_profile(profile, password_source)
        if ok and profile.name != "command line":
            self.settings.last_profile = profile.name
        self.update_actions()
        return ok

    async def _ask_password(self, profile: ConnectionProfile) -> str | None:
        from thesis_console.core import credentials

        dialog = QInputDialog(self)
        dialog.setWindowTitle(f"Password for {profile.name}")
        note = "" if credentials.keyring_available() else f"\n({credentials.NO_KEYRING_MESSAGE})"
        dialog.setLabelText(f"Redis at {profile.display_url} needs a password.{note}")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        result = await self.ask(dialog)
        return dialog.textValue() if result == QDialog.DialogCode.Accepted and dialog.textValue() else None

    def open_connections(self) -> None:
        spawn(self._open_connections(), "connection profiles")

    async def _open_connections(self) -> None:
        from thesis_console.ui.widgets.dialogs.connection import ConnectionDialog

        dialog = ConnectionDialog(self.store, current=self.profile.name if self.profile else None, parent=self)
        result = await self.ask(dialog)
        if result == QDialog.DialogCode.Accepted and dialog.chosen is not None:
            self.connect_profile(dialog.chosen, dialog.password)

    def _on_connection(self, state: ConnectionState) -> None:
        self.status_area.set_state(state)
        changed = state.phase != self._last_phase
        self._last_phase = state.phase
        if changed and state.phase in (ConnectionPhase.RECONNECTING, ConnectionPhase.FAILED):
            self._notify("Connection lost" if state.phase == ConnectionPhase.RECONNECTING else "Cannot connect",
                                 f"{state.profile}: {state.reason}")  # fmt: skip
        self._show_freshness()
        self.update_actions()

    def _on_profile_changed(self, name: str) -> None:
        """Another server is being connected: no view keeps the previous one's data, at once."""
        self._last_phase = None
        self.queue_model.update([])
        self.jobs_view.reset()
        self.show_job(None)
        for view in (self.overview, self.workers_view):
            clear = getattr(view, "clear", None)
            if callable(clear):
                clear()
        self.banner.hide()
        self.status_area.begin(name)
        note, self._note_on_connect = self._note_on_connect, None
        if note is not None:
            self.controller.post(note)
        self.controller.failures.reset()
        self.first_counts_at = None
        self._show_freshness()
        self.update_actions()

    def data_views(self) -> list[QWidget]:
        """The widgets that show what was read from the server (greyed and inert while it is not live)."""
        pages = [self.views.widget(i) for i in range(self.views.count())]
        return [self.queue_list, *(page for page in pages if page is not None), self.alerts.panel]

    def freshness_text(self) -> str:
        """What the data banner says now; empty while the data on screen is live."""
        c = self.controller
        if c.is_connected():
            return ""
        name = c.profile.name if c.profile is not None else "the server"
        state = c.connection_state
        retry = ""
        if state is not None and state.phase == ConnectionPhase.RECONNECTING and state.retry_at is not None:
            wait = max(0, int(round(state.retry_at - time.time())))
            retry = f"reconnecting in {wait} s" if wait else "reconnecting now"
        if c.data_read_at is not None:
            read_at = time.strftime("%H:%M:%S", time.localtime(c.data_read_at))
            return f"Showing data read at {read_at} from {name}; {retry or 'not connected'}"
        if state is None or state.phase == ConnectionPhase.CONNECTING:
            return f"Connecting to {name}…"
        if retry:
            return f"Cannot connect to {name}; {retry}"
        return f"Not connected to {name}"

    def _show_freshness(self) -> None:
        """Grey out and disable every view of server data while it is not live, with the banner saying
        whose data it is and when it was read; heartbeats keep ageing from the last read."""
        text = self.freshness_text()
        live = not text
        for view in self.data_views():
            if view.isEnabled() != live:
                view.setEnabled(live)
        self.data_banner.setVisible(not live)
        if text != self.data_banner.text():
            self.data_banner.setText(text)
        if live:
            self._stale_timer.stop()
            return
        if not self._stale_timer.isActive():
            self._stale_timer.start()
        snapshot = self.controller.snapshot
        show = getattr(self.workers_view, "show_snapshot", None)
        if snapshot is not None and callable(show):
            show(replace(snapshot, taken_at=time.time()))

    # ================================================================= snapshots
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        if self.first_counts_at is None:
            self.first_counts_at = time.monotonic()
            # Everything alive now (modules, widgets, the session) lives as long as the window: move it
            # out of the collector's sight. A full collection over it took 60 to 90 ms each time the
            # collector's oldest generation ran (during a search, a bulk retry), far over the 50 ms
            # budget; frozen, those collections only scan what was made since. No collection runs here.
            gc.freeze()
        queues = [q for q in snapshot.queues]
        self.queue_model.update(queues, keep=self.controller.current_queue)
        self._ensure_queue_selected()
        self._notice_failures(snapshot)
        empty = not snapshot.workers and all(q.total == 0 for q in snapshot.queues)
        self.banner.setVisible(empty and self.is_local() and not self.controller.read_only)
        self.update_actions()

    def is_local(self) -> bool:
        """The connection is to a Redis on this machine (the embedded one, loopback or a unix socket)."""
        from urllib.parse import urlsplit

        profile = self.profile
        if profile is None:
            return False
        if profile.embedded:
            return True
        if profile.url.startswith("unix://"):
            return True
        try:
            host = urlsplit(profile.url).hostname
        except ValueError:
            return False
        return host in ("127.0.0.1", "localhost", "::1")

    def _ensure_queue_selected(self) -> None:
        row = self.queue_model.row_of(self.controller.current_queue)
        selection = self.queue_list.selectionModel()
        if row >= 0 and (self.queue_list.currentIndex().row() != row or not selection.isRowSelected(row)):
            self.queue_list.selectionModel().setCurrentIndex(
                self.queue_model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
            )

    def _on_queue_clicked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        name = current.data(roles.ID_ROLE) if current.isValid() else None
        if name:
            self.controller.select_queue(str(name))

    def queue_menu(self, name: str) -> QMenu:
        """The queue list's context menu for queue ``name`` (Pause or Resume, with why when disabled)."""
        from thesis_console.ui import queue_pause

        row = self.queue_model.row_of(name)
        counts = self.queue_model.queues[row] if row >= 0 else None
        return queue_pause.queue_menu(self, self.controller, counts)

    def _on_queue_menu(self, pos: QPoint) -> None:
        index = self.queue_list.indexAt(pos)
        if not index.isValid():
            return
        menu = self.queue_menu(str(index.data(roles.ID_ROLE)))
        menu.popup(self.queue_list.viewport().mapToGlobal(pos))

    def _on_queue_selected(self, name: str) -> None:
        self.settings.last_queue = name
        self.show_job(None)
        self._ensure_queue_selected()
        self.update_actions()

    def _notice_failures(self, snapshot: Snapshot) -> None:
        """Say when jobs failed since the previous snapshot (the first snapshot only sets the baseline;
        jobs the operator put in Failed, by undoing a retry or stopping them, are not news)."""
        grown = self.controller.failures.observe({q.name: q.failed for q in snapshot.queues}, snapshot.taken_at)
        if grown:
            text = "; ".join(f"{plural(n, 'new failed job')} in {queue}" for queue, n in grown.items())
            self.controller.post(Notice(text, Level.WARNING, title="Jobs failed"))

    def show_notice(self, notice: Notice) -> None:
        """Every message of the console: in the status area, and on the desktop when it has a title."""
        self.status_area.show_notice(notice)
        if notice.title:
            self._notify(notice.title, notice.text)

    def _notify(self, title: str, text: str, throttle: bool = True) -> None:
        """A desktop notification when enabled and available, at most one per few seconds unless
        ``throttle`` is off (alerts: their cool-down already limits them)."""
        if not self.settings.notifications or self.tray is None:
            return
        now = time.monotonic()
        if throttle and now - self._last_notice_at < NOTIFY_MIN_GAP_S:
            return
        self._last_notice_at = now
        if not self.tray.isVisible():
            self.tray.show()
        self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 5000)

    # ================================================================= actions
    def selected_rows(self) -> list[JobRow]:
        return self.job_actions.selected_rows()

    def update_actions(self) -> None:
        """Enable what makes sense now; say in the tooltip why an action is disabled."""
        c = self.controller
        flags = {"connected": c.is_connected(), "read_only": c.read_only, "busy": c.busy}
        self.job_actions.update()
        set_enabled(self.act_enqueue, True, "", **flags)
        self.act_search.setEnabled(flags["connected"])
        # Refresh reads again when connected, and tries to connect now when not.
        self.act_refresh.setEnabled(flags["connected"] or self.profile is not None)
        set_enabled(self.act_demo, not c.read_only, "disabled: this connection profile is read-only", **{**flags, "busy": False})
        self.demo_button.setEnabled(self.act_demo.isEnabled())

    async def ask(self, dialog: QDialog) -> int:
        """Open ``dialog`` window-modally and wait for its answer; :attr:`active_dialog` is it meanwhile."""
        self.active_dialog = dialog
        try:
            return await ask(dialog)
        finally:
            if self.active_dialog is dialog:
                self.active_dialog = None

    def open_enqueue(self) -> None:
        if self.act_enqueue.isEnabled():
            spawn(self._open_enqueue(), "enqueue dialog")

    async def _open_enqueue(self) -> None:
        from thesis_console.ui.widgets.dialogs.enqueue import EnqueueDialog

        dialog = EnqueueDialog(self.controller, self, store=self.store)
        result = await self.ask(dialog)
        if result == QDialog.DialogCode.Accepted and dialog.job_id:
            if dialog.queue_name() != self.controller.current_queue:
                self.controller.select_queue(dialog.queue_name())
            self.refresh_now()

    def refresh_now(self) -> None:
        c = self.controller
        if not c.is_connected():
            if c.attached or c.retrying:
                c.retry_now()
            elif self.profile is not None:
                self.connect_profile(self.profile)
            return
        c.request_refresh()
        self.jobs_view.refresh()
        self.detail.reload()

    def focus_search(self) -> None:
        self.views.setCurrentIndex(VIEW_JOBS)
        self.jobs_view.focus_filter()

    def open_settings(self) -> None:
        spawn(self._open_settings(), "settings dialog")

    async def _open_settings(self) -> None:
        from thesis_console.ui.widgets.dialogs.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.tray is not None, self)
        if await self.ask(dialog) == QDialog.DialogCode.Accepted:
            self.controller.set_refresh_interval_s(self.settings.refresh_interval_s)
            self.apply_chart_range(self.settings.chart_range_s)
            if self.theme_manager is not None:
                self.theme_manager.set_choice(self.settings.theme)

    # ================================================================= demo
    def start_demo(self) -> None:
        if self.act_demo.isEnabled():
            spawn(self._start_demo(), "demo")

    async def _start_demo(self) -> None:
        from thesis_console.ui.demo import run_demo

        self.demo_button.setEnabled(False)
        try:
            text = await run_demo(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.controller.notify(f"demo: {exc}", "error")
            return
        finally:
            self.demo_button.setEnabled(True)
        self.banner.hide()
        self.controller.notify(text)
        self.refresh_now()

    # ================================================================= closing
    def splitter_states(self) -> dict[str, QByteArray]:
        # The jobs splitter is not kept: the detail panel collapses while no job is selected, and
        # opens at its own remembered width (settings.detail_width).
        return {"main": self.main_splitter.saveState()}

    def local_workers_running(self) -> bool:
        is_running = getattr(self.local_workers, "is_running", None)
        return bool(is_running()) if callable(is_running) else False

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        if not self._close_confirmed and self.local_workers_running():
            event.ignore()
            spawn(self._confirm_close(), "confirm closing")
            return
        self.settings.save_window(self, self.splitter_states())
        if self.tray is not None:
            self.tray.hide()
        super().closeEvent(event)

    async def _confirm_close(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Local workers are running",
                          "Local workers started from this window are still running. Stop them, or leave them "
                          "running in the background (they keep working on the queue)?",
                          QMessageBox.StandardButton.NoButton, self)  # fmt: skip
        box.setObjectName("closeDialog")
        stop = box.addButton("Stop workers", QMessageBox.ButtonRole.DestructiveRole)
        leave = box.addButton("Leave running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(stop)
        await self.ask(box)
        clicked = box.clickedButton()
        panel: Any = self.local_workers
        if clicked is stop:
            panel.stop()
            if not await self._wait_for_local_workers(panel):
                return
        elif clicked is leave:
            panel.detach()
        else:
            return
        self._close_confirmed = True
        self.close()

    async def _wait_for_local_workers(self, panel: Any) -> bool:
        """A progress dialog while the local workers finish their jobs, with "Stop now" after
        :attr:`stop_now_after_s`; True once they are gone, False when the user closed the dialog."""
        dialog = QDialog(self)
        dialog.setObjectName("stopProgress")
        dialog.setWindowTitle("Stopping local workers")
        label = QLabel(dialog)
        label.setWordWrap(True)
        stop_now = QPushButton("Stop now", dialog)
        stop_now.setObjectName("stopNow")
        stop_now.setToolTip("Stop the running jobs at once; they go back to their queue and run again later")
        stop_now.hide()
        stop_now.clicked.connect(panel.stop_now)
        stop_now.clicked.connect(lambda: stop_now.setEnabled(False))
        layout = QVBoxLayout(dialog)
        layout.addWidget(label)
        layout.addWidget(stop_now, 0, Qt.AlignmentFlag.AlignRight)
        dialog.setMinimumWidth(420)
        self.active_dialog = dialog
        dialog.open()
        started = time.monotonic()
        try:
            while panel.is_running():
                if not dialog.isVisible():
                    return False  # the user dismissed it: the workers keep stopping, the window stays
                jobs = plural(int(panel.running_jobs()), "job")
                text = f"Waiting for the local workers to finish: {jobs} still running."
                if time.monotonic() - started >= self.stop_now_after_s:
                    stop_now.show()
                    text += " Stop now puts them back in their queue."
                if label.text() != text:
                    label.setText(text)
                await asyncio.sleep(0.2)
            return True
        finally:
            if self.active_dialog is dialog:
                self.active_dialog = None
            dialog.done(QDialog.DialogCode.Accepted)
            dialog.deleteLater()

    async def shutdown(self) -> None:
        """Close the session (after the window closed)."""
        await self.alerts.close_monitor()
        await self.controller.close()


def app_instance() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app
