"""TimeChart (ui/widgets/charts.py): hover read-out, legend groups and the "collecting data" notice,
on real pyqtgraph widgets driven by real mouse events."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF
from PySide6.QtGui import QColor, QCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from thesis_console.ui.widgets.charts import ChartNotice, SeriesStyle, TimeChart

T0 = 1_700_000_040.0  # a whole minute
STORED = SeriesStyle("#2e7d32", "#81c784", width=1.0, fill=True, alpha=150)
LIVE = SeriesStyle("#1b5e20", "#c8e6c9")
MOVE_PAUSE_MS = 15


def hhmm(at: float) -> str:
    return time.strftime("%H:%M", time.localtime(at))


@pytest.fixture
def chart(qtbot):
    """A shown throughput-like chart: stored per-minute steps 1..5 and live samples every 10 s."""
    chart = TimeChart("Throughput", "jobs / min", format_value=lambda v: f"{v:g} jobs/min")
    chart.add_curve("stored", "completed", STORED, step=True, group="stored per min")
    chart.add_curve("live", "completed", LIVE, group="live")
    qtbot.addWidget(chart)
    chart.set_curve("stored", T0 + 60 * np.arange(6), np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    live_t = T0 + np.arange(0.0, 300.0, 10.0)
    chart.set_curve("live", live_t, np.arange(len(live_t)) * 0.5)
    chart.set_time_range(T0, T0 + 300)
    chart.resize(600, 300)
    chart.show()
    qtbot.waitExposed(chart)
    settle_layout(chart)
    return chart


def settle_layout(chart: TimeChart) -> None:
    """Paint until the plot area stops moving (pyqtgraph sizes its axes while painting, then lays out)."""
    for _ in range(5):
        before = chart.getPlotItem().getViewBox().sceneBoundingRect()
        chart.grab()
        QApplication.processEvents()
        if chart.getPlotItem().getViewBox().sceneBoundingRect() == before:
            break
    chart.settle()


def widget_point(chart: TimeChart, t: float, y: float) -> QPoint:
    scene = chart.getPlotItem().getViewBox().mapViewToScene(QPointF(t, y))
    return chart.mapFromScene(scene)


def move_mouse(chart: TimeChart, point: QPoint) -> None:
    """A real mouse move over the chart, after a pause: pyqtgraph's scene drops moves that come less
    than 10 ms after the previous one (``mouseRateLimit``), and Qt sends no move to where the cursor is."""
    if chart.viewport().mapFromGlobal(QCursor.pos()) == point:
        QTest.mouseMove(chart.viewport(), point + QPoint(0, 1))
    QTest.qWait(MOVE_PAUSE_MS)
    QTest.mouseMove(chart.viewport(), point)


def hover(chart: TimeChart, t: float, y: float) -> None:
    move_mouse(chart, widget_point(chart, t, y))


def test_hover_reads_the_nearest_point_and_hides_when_the_mouse_leaves(chart, qtbot):
    assert chart.hover_text() == ""
    # Between the live samples at +90 s and +100 s, nearer the first: snaps to +90 s, the middle of
    # the stored minute +60..+120 s.
    hover(chart, T0 + 92, 1)
    qtbot.waitUntil(lambda: chart.hover_text() != "")
    text = chart.hover_text()
    assert text.splitlines()[0].endswith(f"{hhmm(T0 + 60)}–{hhmm(T0 + 120)}")
    assert "completed (stored per min): 2 jobs/min" in text
    assert "completed (live): 4.5 jobs/min" in text  # the sample at +90 s
    reading = chart.hover_at(T0 + 92)
    assert reading is not None and reading.at == T0 + 90

    # Near a live sample well inside a minute: the live point's instant, and the minute's stored value.
    hover(chart, T0 + 201, 1)
    qtbot.waitUntil(lambda: "live): 10 jobs/min" in chart.hover_text())
    assert chart.hover_text().splitlines()[0].endswith(time.strftime("%H:%M:%S", time.localtime(T0 + 200)))
    assert "(stored per min): 4 jobs/min" in chart.hover_text()

    QApplication.sendEvent(chart, QEvent(QEvent.Type.Leave))
    assert chart.hover_text() == ""


def test_hover_hides_over_the_axes_and_on_an_empty_chart(chart, qtbot):
    hover(chart, T0 + 150, 1)
    qtbot.waitUntil(lambda: chart.hover_text() != "")
    move_mouse(chart, QPoint(5, chart.height() // 2))  # over the left axis
    qtbot.waitUntil(lambda: chart.hover_text() == "")

    chart.set_curve("stored", np.zeros(0), np.zeros(0))
    chart.set_curve("live", np.zeros(0), np.zeros(0))
    assert chart.hover_at(T0 + 150) is None and chart.hover_text() == ""


def test_hover_follows_new_data_under_a_still_mouse(chart, qtbot):
    hover(chart, T0 + 201, 1)
    qtbot.waitUntil(lambda: "live): 10 jobs/min" in chart.hover_text())
    live_t = T0 + np.arange(0.0, 300.0, 10.0)
    chart.set_curve("live", live_t, np.full(len(live_t), 7.0))
    chart.settle()
    assert "live): 7 jobs/min" in chart.hover_text()


def test_legend_tells_stored_from_live(chart, qtbot):
    assert chart.legend_entries() == [("stored per min", "■", "completed"), ("live", "━", "completed")]
    title = chart.getPlotItem().titleLabel.text
    assert title.index("stored per min:") < title.index("live:")
    stored, live = chart._curves["stored"], chart._curves["live"]
    assert stored.opts["fillLevel"] == 0 and live.opts["fillLevel"] is None, "stored is a filled area, live a line"
    assert stored.opts["pen"].color() != live.opts["pen"].color()
    assert not chart.legend_is_compact() and title.count("completed") == 2

    # Too narrow for every name: a name given in an earlier group is left out ("live: ━").
    chart.resize(300, 300)
    qtbot.waitUntil(chart.legend_is_compact)
    assert chart.getPlotItem().titleLabel.text.count("completed") == 1
    chart.resize(900, 300)
    qtbot.waitUntil(lambda: not chart.legend_is_compact())

    chart.set_curve_visible("live", False)
    assert chart.legend_entries() == [("stored per min", "■", "completed")]
    assert "live:" not in chart.getPlotItem().titleLabel.text


def test_collecting_data_until_there_are_enough_points(qtbot):
    chart = TimeChart("Run time", "seconds")
    chart.add_curve("p50", "p50", SeriesStyle("#6a1b9a", "#ce93d8", points=True))
    qtbot.addWidget(chart)
    chart.resize(500, 250)
    chart.show()
    qtbot.waitExposed(chart)
    assert chart.notice == ChartNotice.COLLECTING and chart.notice_text() == "collecting data"

    chart.set_curve("p50", np.array([T0]), np.array([0.4]), interval_s=60)
    assert chart.notice_text() == "collecting data", "a lone point is not a chart yet"
    label = chart._notice_item
    centre = chart.getPlotItem().getViewBox().rect().center()
    assert label.pos() == centre and label.isVisible()

    chart.set_curve("p50", T0 + 60 * np.arange(4), np.array([0.4, np.nan, np.nan, 0.6]))
    assert chart.notice == ChartNotice.COLLECTING, "NaN is no point"
    chart.set_curve("p50", T0 + 60 * np.arange(4), np.array([0.4, 0.3, 0.5, 0.6]), interval_s=60)
    assert chart.notice == ChartNotice.NONE and chart.notice_text() == ""
    # A point curve that stands for intervals names the interval under the mouse.
    reading = chart.hover_at(T0 + 61)
    assert reading is not None and reading.interval == (T0 + 30, T0 + 90)

    chart.set_notice(ChartNotice.NOT_RECORDED)
    assert chart.notice_text() == "not recorded"
    chart.set_notice(ChartNotice.NONE)
    assert chart.notice_text() == ""


def test_hover_and_notice_follow_the_palette(chart, qtbot):
    from PySide6.QtGui import QPalette

    dark = QPalette()
    for role, color in ((QPalette.ColorRole.Window, "#1b1f26"), (QPalette.ColorRole.Base, "#20252d"),
                        (QPalette.ColorRole.Text, "#e3e7ee")):  # fmt: skip
        dark.setColor(role, QColor(color))
    chart.setPalette(dark)
    hover(chart, T0 + 201, 1)
    qtbot.waitUntil(lambda: chart.hover_text() != "")
    assert "#e3e7ee" in chart._hover_label.textItem.toHtml()
    assert chart._hover_label.fill.color().rgb() == QColor("#20252d").rgb()
    axis = chart.getPlotItem().getAxis("bottom")
    assert axis.textPen().color() == QColor("#e3e7ee")


def test_not_recorded_intervals_read_as_such(chart, qtbot):
    # Nothing recorded before the third minute: gaps, not zeros.
    values = np.array([np.nan, np.nan, 3.0, 4.0, 5.0])
    chart.set_curve("stored", T0 + 60 * np.arange(6), values, unrecorded=np.isnan(values))
    chart.set_curve("live", np.zeros(0), np.zeros(0))
    chart.settle()
    hover(chart, T0 + 30, 1)
    qtbot.waitUntil(lambda: "completed (stored per min): not recorded" in chart.hover_text())
    assert chart.hover_text().splitlines()[0].endswith(f"{hhmm(T0)}–{hhmm(T0 + 60)}")
    hover(chart, T0 + 150, 1)
    qtbot.waitUntil(lambda: "completed (stored per min): 3 jobs/min" in chart.hover_text())
    assert chart.notice == ChartNotice.NONE

    # Too few points, and the rest not recorded: "not recorded", not "collecting data".
    values = np.array([np.nan, np.nan, np.nan, np.nan, 5.0])
    chart.set_curve("stored", T0 + 60 * np.arange(6), values, unrecorded=np.isnan(values))
    assert chart.notice_text() == "not recorded"
    chart.set_curve("stored", T0 + 60 * np.arange(6), values)  # merely empty
    assert chart.notice_text() == "collecting data"


def test_the_interval_still_filling_up_says_so_far(qtbot):
    chart = TimeChart("Throughput", "jobs / min")
    chart.add_curve("stored", "completed", STORED, step=True, group="stored per min")
    qtbot.addWidget(chart)
    minute = 60 * (time.time() // 60)
    chart.set_curve("stored", minute + 60 * np.arange(-3, 2), np.array([1.0, 2.0, 3.0, 4.0]))
    chart.set_time_range(minute - 180, minute + 60)
    chart.resize(600, 300)
    reading = chart.hover_at(minute + 30)
    assert reading is not None and reading.interval == (minute, minute + 60)
    assert chart.hover_text().splitlines()[0] == f"{hhmm(minute)}–{hhmm(minute + 60)} so far"
    chart.hover_at(minute - 30)
    assert chart.hover_text().splitlines()[0] == f"{hhmm(minute - 60)}–{hhmm(minute)}"
