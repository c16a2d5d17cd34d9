"""The window fits a 1280x800 screen, in both themes: every state tab in view, the job tables without
horizontal scrolling, the detail panel only while a job is selected (at the width it had), compact
bottom docks that remember their size; and while disconnected, the old data says it is old."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton

from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import QUEUE, select, show_state
from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.profiles import ConnectionProfile, ProfileStore, ad_hoc_profile
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import STATE_ORDER, JobState
from thesis_console.ui import theme
from thesis_console.ui.main_window import MainWindow
from thesis_console.ui.settings import DEFAULT_DETAIL_WIDTH, ConsoleSettings
from thesis_console.ui.widgets.jobs_view import set_tab_text, state_title

FAST = {"ping_interval_s": 0.2, "backoff_max_s": 1.0}


@pytest.fixture(params=["light", "dark"])
def themed(request, qapp) -> Iterator[str]:
    """The application styled as the console styles it (palette and style sheet), then plain again."""
    manager = theme.ThemeManager(qapp, request.param)
    yield request.param
    manager.deleteLater()
    qapp.setStyleSheet("")
    qapp.setPalette(qapp.style().standardPalette())


def _visible_columns_width(table) -> int:
    header = table.horizontalHeader()
    return sum(header.sectionSize(c) for c in range(header.count()) if not header.isSectionHidden(c))


def test_every_state_tab_and_every_column_fit_1280x800(themed, loop, window_factory, redis_conn, redis_url) -> None:
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="A topic long enough to be cut in a narrow column"), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        assert (window.width(), window.height()) == (1280, 800)
        jobs = window.jobs_view
        show_state(window, JobState.WAITING)
        await wait_until(lambda: jobs.models[JobState.WAITING].index_of(job_id) >= 0, what="the job")
        select(window, JobState.WAITING, [job_id])
        window.show_job(jobs.current_row())  # the detail panel open: the narrowest the tables get
        await wait_until(lambda: window.detail_open(), what="the detail panel")
        # The widest titles there can be (counts are rounded to 4 characters), kept from the refreshes.
        window.controller.snapshotChanged.disconnect(jobs.on_snapshot)
        for i, state in enumerate(STATE_ORDER):
            set_tab_text(jobs.tabs, i, state_title(state, 999_999))
        bar = jobs.tabs.tabBar()
        await asyncio.sleep(0.05)  # a layout pass
        assert all(bar.tabRect(i).right() <= bar.width() for i in range(bar.count())), [
            (bar.tabText(i), bar.tabRect(i).right(), bar.width()) for i in range(bar.count())
        ]
        assert not [b for b in bar.findChildren(QToolButton) if b.isVisible()], "scroll arrows shown"
        detail_bar = window.detail.tabs.tabBar()
        assert all(detail_bar.tabRect(i).right() <= detail_bar.width() for i in range(detail_bar.count())), [
            (detail_bar.tabText(i), detail_bar.tabRect(i).right(), detail_bar.width()) for i in range(detail_bar.count())
        ]

        for state in STATE_ORDER:
            show_state(window, state)
            table = jobs.tables[state]
            await wait_until(lambda t=table: t.isVisible() and t.viewport().width() > 0, what=f"{state.value} shown")
            await asyncio.sleep(0.05)  # a layout pass
            header = table.horizontalHeader()
            width = _visible_columns_width(table)
            assert width <= table.viewport().width(), (state.value, width, table.viewport().width())
            assert table.horizontalScrollBar().maximum() == 0, state.value
            topic = header.sectionSize(1)
            assert topic >= 100, (state.value, "topic column", topic)
            shown = {header.model().headerData(c, Qt.Orientation.Horizontal) for c in range(header.count()) if not header.isSectionHidden(c)}
            assert {"Id", "Topic", "Attempts", "Enqueued"} <= shown, (state.value, shown)
            what = {JobState.ACTIVE: "Progress", JobState.FAILED: "Error"}.get(state, "State")
            assert what in shown, (state.value, shown)
        # Search results show the columns of the state searched, and fit too.
        show_state(window, JobState.WAITING)
        jobs.filter_edit.setText("long enough")
        jobs._start_search_now()
        await wait_until(lambda: not jobs.search_running() and jobs.matches(), what="the match")
        await asyncio.sleep(0.05)
        results = jobs.search_table
        assert _visible_columns_width(results) <= results.viewport().width()
        assert results.horizontalScrollBar().maximum() == 0
        assert jobs.matches_button.width() >= jobs.matches_button.sizeHint().width()
        # A long query, or all of a big state selected, never widens the Jobs view past what leaves
        # the detail panel its width.
        jobs.search_status.setText("“" + "a very long query " * 20 + "” in failed jobs of thesis: 0 found")
        jobs.position_label.setText("rows 100 001–100 020 of 200 001 · all 200 001 selected: actions apply to the whole state")
        assert jobs.minimumSizeHint().width() <= 1280 - 180 - DEFAULT_DETAIL_WIDTH - 20, jobs.minimumSizeHint()
        shown_in = lambda s: {  # noqa: E731
            jobs.models[s].headerData(c, Qt.Orientation.Horizontal) for c in range(12) if not jobs.tables[s].isColumnHidden(c)
        }
        assert "Started" in shown_in(JobState.ACTIVE)
        assert {"Ended", "Took"} <= shown_in(JobState.COMPLETED) and {"Ended", "Took"} <= shown_in(JobState.FAILED)

    run(loop, scenario(), 60)


def test_detail_panel_collapses_without_a_job_and_reopens_at_its_width(loop, window_factory, redis_conn, redis_url) -> None:
    ids = [enqueue_thesis(redis_conn, ThesisRequest(topic=f"Topic {i}"), queue_name=QUEUE) for i in range(2)]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        jobs, splitter = window.jobs_view, window.jobs_splitter
        show_state(window, JobState.WAITING)
        await wait_until(lambda: jobs.models[JobState.WAITING].index_of(ids[1]) >= 0, what="the jobs")
        assert splitter.sizes()[1] == 0 and not window.detail.isVisible(), "nothing selected: collapsed"
        # A click that only focuses the table (on a column header) makes no job current.
        header = jobs.tables[JobState.WAITING].horizontalHeader()
        QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(header.sectionViewportPosition(1) + 8, 6))
        await asyncio.sleep(0.1)
        assert not window.detail_open() and jobs.current_row() is None
        select(window, JobState.WAITING, [ids[0]])
        await wait_until(lambda: window.detail_open(), what="the detail panel opened")
        assert splitter.sizes()[1] == DEFAULT_DETAIL_WIDTH
        # The user drags the handle 70 pixels to the left (what a drag of the handle calls).
        splitter.moveSplitter(splitter.sizes()[0] - 70, 1)
        await wait_until(lambda: splitter.sizes()[1] > DEFAULT_DETAIL_WIDTH + 40, what="the panel wider")
        wide = splitter.sizes()[1]
        jobs.tables[JobState.WAITING].clearSelection()
        jobs.tables[JobState.WAITING].selectionModel().clearCurrentIndex()
        await wait_until(lambda: not window.detail_open(), what="collapsed again")
        assert splitter.sizes()[0] == sum(splitter.sizes())
        select(window, JobState.WAITING, [ids[1]])
        await wait_until(lambda: window.detail_open(), what="reopened")
        assert splitter.sizes()[1] == wide
        assert window.settings.detail_width == wide  # and in the next session

    run(loop, scenario())


def test_bottom_docks_start_compact_and_remember_their_size(qtbot, tmp_path) -> None:
    path = str(tmp_path / "settings.ini")

    def open_window() -> MainWindow:
        window = MainWindow(settings=ConsoleSettings(QSettings(path, QSettings.Format.IniFormat)), store=ProfileStore(tmp_path / "p.json"))
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        return window

    window = open_window()
    dock, panel = window.local_dock, window.local_workers
    assert dock.isVisible() and not panel.log_view.isVisible()
    assert dock.height() <= 800 // 6, dock.height()
    assert panel.slider.isVisible() and panel.state_label.isVisible()
    # The Alerts tab, brought to the front, takes room for a few alerts (at most 35 % of the window),
    # and gives it back when the Local workers' tab is in front again.
    window.alerts.raise_()
    table = window.alerts.panel.firing_table
    row = table.verticalHeader().defaultSectionSize()
    qtbot.waitUntil(lambda: table.visibleRegion().boundingRect().height() >= table.horizontalHeader().height() + 2 * row)
    assert window.alerts.height() <= 800 * 0.35, window.alerts.height()
    dock.raise_()
    qtbot.waitUntil(lambda: dock.height() <= 800 // 6)
    # The log opens on demand and the dock grows for it.
    panel.log_button.click()
    qtbot.waitUntil(lambda: panel.log_view.isVisible() and dock.height() >= 800 * 0.3)
    grown = dock.height()
    assert dock.widget().verticalScrollBar().maximum() == 0, "the panel fits its dock: the log takes the room"
    window.settings.save_window(window, window.splitter_states())
    window.close()

    again = open_window()
    assert again.local_workers.log_view.isVisible()
    qtbot.waitUntil(lambda: abs(again.local_dock.height() - grown) <= 2)
    again.local_workers.log_button.click()
    qtbot.waitUntil(lambda: again.local_dock.height() <= 800 // 6)


def test_disconnected_the_tables_and_local_workers_say_their_data_is_old(tmp_path, loop, window_factory) -> None:
    port = free_port()
    server = start_server(tmp_path / "own-redis", port)

    async def scenario() -> None:
        window = await window_factory(ConnectionProfile(name="own", url=server.url), session_options=FAST)
        panel = window.local_workers
        show_state(window, JobState.WAITING)
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        await wait_until(lambda: panel.start_button.isEnabled(), what="Start enabled")
        assert panel.slider.isEnabled() and not panel.offline_label.isVisible()
        server.stop()
        await wait_until(lambda: window.data_banner.isVisible(), 15, what="the stale banner")
        await wait_until(lambda: panel.offline_label.isVisible(), what="the panel saying why")
        assert "Not connected to Redis" in panel.offline_label.text()
        assert not panel.start_button.isEnabled() and "not connected" in panel.start_button.toolTip()
        assert not panel.slider.isEnabled() and not panel.queues_edit.isEnabled() and not panel.autoscale.isEnabled()
        table = window.jobs_view.tables[JobState.WAITING]
        assert not table.isEnabled()
        assert "from own" in window.data_banner.text(), window.data_banner.text()

    try:
        run(loop, scenario(), 60)
    finally:
        server.stop()


def test_the_workers_tables_show_three_rows_at_1280x800(themed, loop, window_factory, redis_url) -> None:
    """Supervisors, RQ workers and BullMQ workers each show at least three rows in the Workers tab (the
    supervisors' table, above its controls, showed one)."""

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        assert (window.width(), window.height()) == (1280, 800)
        window.views.setCurrentIndex(2)
        await wait_until(lambda: window.workers_view.isVisible(), what="the Workers tab")
        for table in (window.workers_view.supervisors_table, window.workers_view.workers_table,
                      window.workers_view.bull_workers_table):  # fmt: skip
            row = table.verticalHeader().defaultSectionSize()
            assert table.viewport().height() >= 3 * row, (table.objectName(), table.viewport().height(), row)

    run(loop, scenario())
