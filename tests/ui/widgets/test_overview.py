"""OverviewView on a real Redis with metrics written by real jobs run by a real worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QColor, QPalette

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs
from tests.ui.live_console import close_controller, enqueue_plain, live_controller, run_burst_worker
from tests.ui.qt_helpers import run, wait_until
from tests.ui.widgets.test_charts import widget_point
from thesis_console.core import metrics_store
from thesis_console.core.types import JobState, Measure
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.widgets.charts import RingBuffer
from thesis_console.ui.widgets.overview import LIVE_FRAME_S, RANGES, OverviewView

LIVE_FRAME_MS = int(LIVE_FRAME_S * 1000) + 200


def test_ring_buffer_keeps_the_newest_in_order():
    ring = RingBuffer(4, 2)
    assert len(ring) == 0 and ring.last() is None
    for i in range(6):
        ring.append(float(i), (i * 10.0, -i))
    assert list(ring.times()) == [2.0, 3.0, 4.0, 5.0]
    assert list(ring.column(0)) == [20.0, 30.0, 40.0, 50.0]
    assert ring.last() == (5.0, 50.0, -5.0)
    assert ring.times().base is not None, "a view of the preallocated array, not a copy"
    ring.clear()
    assert len(ring.times()) == 0


@pytest.fixture
def jobs_done(redis_conn, redis_url):
    """8 jobs completed and 3 failed in queue ``thesis`` by a real worker (metrics written by it)."""
    enqueue_plain(redis_conn, "tests.jobs.noop", 8)
    enqueue_plain(redis_conn, "tests.jobs.boom", 3)
    run_burst_worker(redis_url)
    return 8, 3


def chart_sum(view: OverviewView, chart_name: str, key: str) -> float:
    y = getattr(view, chart_name).curve_values(key)
    return float(np.nansum(y)) if len(y) else 0.0


def test_counters_and_charts_from_real_metrics(qtbot, loop, redis_url, jobs_done):
    completed, failed = jobs_done
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()

    async def scenario() -> None:
        await wait_until(lambda: view.counters[JobState.COMPLETED].value.text() == str(completed), what="completed counter")
        assert view.counters[JobState.FAILED].value.text() == str(failed)
        assert view.counters[JobState.WAITING].value.text() == "0"
        assert "thesis" in view.title.text()

        # Live window: the stored per-minute counts back the live curves.
        await wait_until(lambda: chart_sum(view, "throughput_chart", "completed") == completed, what="stored completed")
        assert chart_sum(view, "throughput_chart", "failed") == failed
        assert chart_sum(view, "runtime_chart", "p50") > 0
        success = view.success_chart.curve_values("success")
        assert np.nanmax(success) == pytest.approx(100.0 * completed / (completed + failed))
        # Live samples arrive with every refresh.
        await wait_until(lambda: len(view.depth_chart.curve_data("live_waiting")[0]) >= 2, what="live depth samples")
        await wait_until(lambda: len(view.throughput_chart.curve_data("live_completed")[0]) >= 1, what="live throughput")

        # 24 h: hour buckets, same totals.
        view.set_range(RANGES[2])
        await wait_until(lambda: view.history is not None and view.history.step_s == 3600, what="hourly history")
        assert chart_sum(view, "throughput_chart", "completed") == completed
        assert "jobs / h" in view.throughput_chart.getPlotItem().getAxis("left").labelText
        assert not view.throughput_chart.is_curve_visible("live_completed"), "live curves belong to the live window"
        assert "success" in view.status.text()
        await close_controller(controller)

    run(loop, scenario(), timeout=60)


def test_other_queue_starts_empty_and_charts_follow_the_palette(qtbot, loop, redis_url, jobs_done):
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.show()

    async def scenario() -> None:
        await wait_until(lambda: view.counters[JobState.COMPLETED].value.text() == str(jobs_done[0]))
        controller.select_queue("other")
        await wait_until(lambda: view.counters[JobState.COMPLETED].value.text() == "0", what="other queue")
        await wait_until(lambda: view.history is not None and view.history.queue == "other")
        assert chart_sum(view, "throughput_chart", "completed") == 0
        await close_controller(controller)

    run(loop, scenario(), timeout=60)

    dark = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.Base, "#17181a"),
        (QPalette.ColorRole.Text, "#e8eaed"),
    ):
        dark.setColor(role, QColor(color))
    view.setPalette(dark)
    assert view.throughput_chart.backgroundBrush().color() == QColor("#17181a")
    assert "#e8eaed" in view.throughput_chart.getPlotItem().titleLabel.text


class _Paints(QObject):
    """Counts the paint events of a widget."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, _obj, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def _shown_overview(qtbot) -> OverviewView:
    view = OverviewView(ConsoleController())
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    qtbot.waitUntil(lambda: all(chart.isVisible() for chart in view.charts()))
    qtbot.wait(100)
    return view


def test_a_chart_paints_once_per_change(qtbot, loop):
    """pyqtgraph applies a new range at the start of the next paint, which dirties the plot again: without
    ``settle`` every change painted the chart twice."""
    view = _shown_overview(qtbot)
    chart = view.depth_chart
    paints = _Paints(chart.viewport())
    now = time.time()
    times = np.linspace(now - 300, now, 50)
    chart.set_curve("live_waiting", times, np.arange(50.0))
    chart.set_time_range(now - 600, now + 1)
    chart.settle()
    qtbot.wait(150)
    assert paints.count == 1


def test_live_curves_are_drawn_while_shown_and_catch_up_when_shown_again(qtbot, loop):
    view = _shown_overview(qtbot)
    view.hide()
    t0 = time.time() - 120
    for i in range(3):  # 30 s samples: 30, 60 and 90 jobs completed in them
        view.add_throughput(1.0 + i, 0.5, at=t0 + 30 * (i + 1), since=t0 + 30 * i)
    qtbot.wait(LIVE_FRAME_MS)
    assert len(view.throughput_chart.curve_data("live_completed")[0]) == 0, "nothing is drawn while hidden"

    view.show()
    qtbot.waitUntil(lambda: len(view.throughput_chart.curve_data("live_completed")[0]) == 3)
    # Jobs per minute over the minute before each sample (none before a whole minute is covered).
    values = view.throughput_chart.curve_values("live_completed")
    assert np.isnan(values[0]) and list(values[1:]) == pytest.approx([90.0, 150.0])
    # More samples while shown are drawn at the next live redraw (at most one per LIVE_FRAME_S).
    view.add_throughput(4.0, 0.5, at=t0 + 120, since=t0 + 90)
    qtbot.waitUntil(lambda: len(view.throughput_chart.curve_data("live_completed")[0]) == 4, timeout=5000)


def test_live_throughput_is_smoothed_over_the_minute(qtbot, loop):
    """One job seen in a 0.5 s refresh reads as 1 job/min for the minute after it, not as 120 jobs/min."""
    view = _shown_overview(qtbot)
    t0 = time.time() - 150
    for i in range(300):
        job = 1.0 / 0.5 if i == 200 else 0.0  # one job in the 0.5 s before sample 200
        view.add_throughput(job, 0.0, at=t0 + 0.5 * (i + 1), since=t0 + 0.5 * i)
    qtbot.waitUntil(lambda: len(view.throughput_chart.curve_data("live_completed")[0]) == 300)
    values = view.throughput_chart.curve_values("live_completed")
    assert np.nanmax(values) == pytest.approx(1.0)
    assert np.isnan(values[:119]).all() and values[119] == pytest.approx(0.0)  # a whole minute from sample 119
    assert view.throughput_chart.getPlotItem().getAxis("left").labelText == "jobs / min"


def _record(conn, queue: str, at: float, completed: int, failed: int = 0) -> None:
    pipe = conn.pipeline()
    for i in range(completed + failed):
        metrics_store.record_job(pipe, queue, ok=i < completed, duration_s=0.2, now=at)
    pipe.execute()


def test_the_summary_covers_the_range_shown(qtbot, loop, redis_url, redis_conn):
    now = time.time()
    _record(redis_conn, "thesis", now - 3 * 60, completed=5, failed=1)  # in the live 10 minutes
    _record(redis_conn, "thesis", now - 12 * 60, completed=2)  # in the live chart's backdrop only
    _record(redis_conn, "thesis", now - 2 * 3600, completed=7, failed=2)  # in the last 24 h
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.show()

    async def scenario() -> None:
        expected = {
            "Live": "last 10 min in thesis: 5 completed, 1 failed (83.3 % success",
            "1 h": "last 1 h in thesis: 7 completed, 1 failed (87.5 % success",
            "24 h": "last 24 h in thesis: 14 completed, 3 failed (82.4 % success",
            "7 days": "last 7 days in thesis: 14 completed, 3 failed",
        }
        for i, chart_range in enumerate(RANGES):
            view.range_buttons.button(i).click()
            text = expected[chart_range.label]
            await wait_until(lambda text=text: text in view.status.text(), what=f"{chart_range.label} summary")
        # The live chart still draws its backdrop: 12 minutes ago is on the chart, not in the summary.
        view.range_buttons.button(0).click()
        await wait_until(lambda: chart_sum(view, "throughput_chart", "completed") == 7, what="live backdrop")
        await close_controller(controller)

    run(loop, scenario(), timeout=60)


def test_charts_say_collecting_data_until_they_have_points(qtbot, loop, redis_url, jobs_done):
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    assert all(chart.notice_text() == "collecting data" for chart in view.charts()), "nothing read yet"

    async def scenario() -> None:
        await wait_until(lambda: chart_sum(view, "throughput_chart", "completed") == jobs_done[0], what="history")
        # Every minute of the range is a stored interval (zero or not); the run times exist only for the
        # one minute in which the jobs ran: a lone point.
        assert view.throughput_chart.notice_text() == ""
        assert view.runtime_chart.notice_text() == "collecting data"
        assert view.success_chart.notice_text() == "collecting data"
        await wait_until(lambda: view.depth_chart.notice_text() == "", what="three live depth samples")
        await close_controller(controller)

    run(loop, scenario(), timeout=60)


def test_hovering_a_chart_of_real_metrics(qtbot, loop, redis_url, jobs_done):
    completed, failed = jobs_done
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()

    async def scenario() -> None:
        await wait_until(lambda: chart_sum(view, "throughput_chart", "completed") == completed, what="history")
        chart = view.throughput_chart
        # The minute in which most jobs ended (the burst may straddle two minutes).
        edges, _ = chart.curve_data("completed")
        done, failed_per_min = chart.curve_values("completed"), chart.curve_values("failed")
        busiest = int(np.argmax(done))
        start = float(edges[2 * busiest])
        await wait_until(chart.isVisible, what="the chart shown")
        await wait_until(_plot_area_settled(chart), what="the chart laid out")
        (_, shown_end), _ = chart.getPlotItem().getViewBox().viewRange()
        await asyncio.sleep(0.015)  # pyqtgraph drops mouse moves less than 10 ms apart
        # The middle of that minute, or of its part shown (the current minute is cut at the right edge).
        _send_mouse_move(chart, widget_point(chart, (start + min(start + 60, shown_end)) / 2, 0.5))
        expected = f"completed (stored per min): {done[busiest]:.0f} jobs/min"
        await wait_until(lambda: expected in chart.hover_text(), what="the hover label")
        assert f"failed (stored per min): {failed_per_min[busiest]:.0f} jobs/min" in chart.hover_text()
        assert failed_per_min.sum() == failed
        await close_controller(controller)

    run(loop, scenario(), timeout=60)


def test_the_chosen_range_is_highlighted_in_the_dark_theme(qtbot, qapp) -> None:
    from PySide6.QtGui import QColor

    from thesis_console.ui import theme

    manager = theme.ThemeManager(qapp, "dark")
    try:
        view = _shown_overview(qtbot)
        chosen, other = view.range_buttons.button(0), view.range_buttons.button(1)
        assert chosen.isChecked() and not other.isChecked()

        def centre(button) -> QColor:
            image = button.grab().toImage()
            return image.pixelColor(4, image.height() // 2)  # inside the border, left of the label

        accent = QColor(theme.DARK.accent)
        assert centre(chosen) == accent and centre(other) != accent
        # The light theme fills it too.
        manager.set_choice("light")
        assert centre(chosen) == QColor(theme.LIGHT.accent) and centre(other) != QColor(theme.LIGHT.accent)
    finally:
        manager.set_choice("light")
        qapp.setStyleSheet("")


def test_a_bullmq_queue_shows_what_was_not_recorded_as_gaps_and_says_so(qtbot, loop, redis_conn, redis_url):
    """Without BullMQ's own metrics, only the kept jobs count: before the oldest of them, nothing is recorded."""
    now = time.time()
    for i in range(3):
        finished_ms = int((now - 300 + i) * 1000)
        redis_conn.hset(f"bull:{QUEUE}:{i}", mapping={"name": "generate-thesis", "data": "{}", "opts": "{}",
                                                      "processedOn": finished_ms - 2000, "finishedOn": finished_ms})
        redis_conn.zadd(f"bull:{QUEUE}:completed", {str(i): finished_ms})
    add_jobs(redis_url, [({"topic": "waiting"}, {})])
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.set_queue(QUEUE)

    async def scenario() -> None:
        await wait_until(lambda: chart_sum(view, "throughput_chart", "completed") == 3, what="the kept jobs counted")
        values = view.throughput_chart.curve_values("completed")
        assert np.isnan(values[0]) and not np.isnan(values[-1]), "a gap before the oldest kept job, not a zero"
        await wait_until(lambda: "not recorded: throughput in" in view.status.text(), what="the gap said")
        assert "BullMQ still keeps" in view.status.toolTip()
        await close_controller(controller)

    run(loop, scenario(), timeout=60)


def _contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (4.5 is the minimum for body text)."""

    def luminance(c: QColor) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_chart_axes_and_labels_are_readable_in_both_themes(qtbot, qapp) -> None:
    from thesis_console.ui import theme

    manager = theme.ThemeManager(qapp, "dark")
    try:
        view = _shown_overview(qtbot)
        for choice, palette in (("dark", theme.DARK), ("light", theme.LIGHT)):
            manager.set_choice(choice)
            background = QColor(palette.base)
            for chart in view.charts():
                assert chart.backgroundBrush().color() == background, (choice, chart._title)
                for name in ("left", "bottom"):
                    axis = chart.getPlotItem().getAxis(name)
                    assert _contrast(axis.textPen().color(), background) >= 4.5, (choice, chart._title, name)
                label = chart.getPlotItem().getAxis("left").labelStyle["color"]
                assert _contrast(QColor(label), background) >= 3.0, (choice, chart._title, "axis label")
                title = chart.getPlotItem().titleLabel.text
                assert palette.foreground in title, (choice, chart._title, "title text")
                # Nothing read yet: the notice, and the hover label's box, in the theme's colours.
                assert chart.notice_text() == "collecting data"
                notice = chart._notice_item.color
                assert _contrast(notice, background) >= 3.0, (choice, chart._title, "notice")
                assert chart._hover_label.fill.color().rgb() == background.rgb()
                assert _contrast(QColor(palette.foreground), background) >= 4.5
    finally:
        manager.set_choice("light")
        qapp.setStyleSheet("")


def test_a_bullmq_queue_charts_say_not_recorded_where_nothing_was(qtbot, loop, redis_conn, redis_url):
    """Three kept jobs that ended 5 minutes ago: before them nothing is recorded, and the run times are
    one point among intervals nothing recorded."""
    now = time.time()
    for i in range(3):
        finished_ms = int((now - 300 + i) * 1000)
        redis_conn.hset(f"bull:{QUEUE}:{i}", mapping={"name": "generate-thesis", "data": "{}", "opts": "{}",
                                                      "processedOn": finished_ms - 2000, "finishedOn": finished_ms})
        redis_conn.zadd(f"bull:{QUEUE}:completed", {str(i): finished_ms})
    add_jobs(redis_url, [({"topic": "waiting"}, {})])  # through BullMQ itself: the queue's meta and id keys
    controller = live_controller(redis_url)
    view = OverviewView(controller, history_interval_s=0.5)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.set_queue(QUEUE)

    async def scenario() -> None:
        await wait_until(lambda: chart_sum(view, "throughput_chart", "completed") == 3, what="the kept jobs counted")
        series = view.history
        assert series is not None and series.unrecorded(Measure.THROUGHPUT) > 0
        assert view.throughput_chart.notice_text() == ""
        assert view.runtime_chart.notice_text() == "not recorded"
        chart = view.throughput_chart
        reading = chart.hover_at(series.points[0].start + 30)  # the first interval, before the kept jobs
        assert reading is not None and reading.values[0].value is None
        chart.hide_hover()
        await wait_until(chart.isVisible, what="the chart shown")
        await wait_until(_plot_area_settled(chart), what="the chart laid out")
        (shown_start, _), _ = chart.getPlotItem().getViewBox().viewRange()
        first_shown = next(p.start for p in series.points if p.start >= shown_start)
        await asyncio.sleep(0.015)  # pyqtgraph drops mouse moves less than 10 ms apart
        _send_mouse_move(chart, widget_point(chart, first_shown + 30, 0.5))
        await wait_until(lambda: "completed (stored per min): not recorded" in chart.hover_text(), what="hover")
        await close_controller(controller)

    run(loop, scenario(), timeout=60)


def _plot_area_settled(chart) -> Callable[[], bool]:
    """A predicate true once the plot area stays where it was at the previous call (pyqtgraph lays the
    plot out while painting)."""
    previous: list[object] = [None]

    def settled() -> bool:
        rect = chart.getPlotItem().getViewBox().sceneBoundingRect()
        same, previous[0] = rect == previous[0], rect
        return same

    return settled


def _send_mouse_move(chart, point) -> None:
    """A mouse move delivered at once (QTest would spin the event loop inside the running task)."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    viewport = chart.viewport()
    at = QPointF(point)
    QApplication.sendEvent(viewport, QMouseEvent(QEvent.Type.MouseMove, at, QPointF(viewport.mapToGlobal(point)),
                                                 Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                                 Qt.KeyboardModifier.NoModifier))  # fmt: skip
