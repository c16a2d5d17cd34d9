"""The overview of one queue: a counter per job state and four charts that move live.

Two kinds of data feed the charts:

* live samples, kept in preallocated ring buffers: the throughput the controller computes from
  successive snapshots (all RQ workers), drawn as jobs per minute over a sliding minute (the stored
  metrics' interval, see :mod:`~thesis_console.ui.widgets.live_rate`), and the queue's waiting and
  active counts from each snapshot;
* the per-minute (up to 6 h) or per-hour metrics the workers store in Redis, read with
  ``controller.metric_series`` on a slow timer (every few seconds, never per snapshot) and only
  while the view is visible.

The range picker shows either the live window (the last minutes, live samples over the stored
per-minute figures) or 1 h, 24 h or 7 days of stored history. The legend tells stored figures (filled
steps, dots) from live ones (lines); the summary line under the charts covers the range shown.

Repainting the charts is what costs the GUI thread time, so the view draws only what changed and only
while it is visible: stored metrics are drawn when they differ from those shown, and the live curves
are redrawn at most once a second (the 10-minute window moves by about a pixel a second), one chart
per turn of the event loop, so no turn paints all four charts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.metrics_read import step_for
from thesis_console.core.types import STATE_ORDER, JobState, Measure, MetricSeries, QueueCounts, Snapshot
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.models.formatting import fmt_count, fmt_duration
from thesis_console.ui.tasks import spawn
from thesis_console.ui.widgets.charts import RingBuffer, SeriesStyle, TimeChart, is_dark
from thesis_console.ui.widgets.live_rate import sliding_rate

log = logging.getLogger("thesis_console.ui.overview")

LIVE_WINDOW_S = 10 * 60
LIVE_CAPACITY = 4096
"""Live samples kept: more than the live window holds at the fastest refresh (0.5 s)."""
LIVE_RATE_WINDOW_S = float(step_for(LIVE_WINDOW_S))
"""The live throughput is the jobs ended over this sliding window (the stored per-minute interval)."""
LIVE_BACKDROP_S = 300
"""The live window also reads the stored minutes before it, so its left edge is never blank."""
DEFAULT_HISTORY_INTERVAL_S = 5.0
RETRY_HISTORY_S = 2.0
"""While no stored metrics have been read, a snapshot may trigger a read, at most this often."""
LIVE_FRAME_S = 1.0
"""The live curves are redrawn at most this often (new samples wait for the next redraw)."""
CHART_STEP_MS = 15
"""Pause between the charts of one live redraw, so each chart is painted in its own event-loop turn."""


@dataclass(frozen=True)
class ChartRange:
    label: str
    """The range button's text."""
    seconds: int
    span: str
    """How long the range is, in words ("10 min"): the summary line says "last <span>"."""
    live: bool = False


RANGES: tuple[ChartRange, ...] = (
    ChartRange("Live", LIVE_WINDOW_S, f"{LIVE_WINDOW_S // 60} min", live=True),
    ChartRange("1 h", 3600, "1 h"),
    ChartRange("24 h", 24 * 3600, "24 h"),
    ChartRange("7 days", 7 * 24 * 3600, "7 days"),
)

GREEN = SeriesStyle("#2e7d32", "#81c784")
RED = SeriesStyle("#c62828", "#ef9a9a")
BLUE = SeriesStyle("#1565c0", "#64b5f6")
ORANGE = SeriesStyle("#e65100", "#ffb74d")
PURPLE = SeriesStyle("#6a1b9a", "#ce93d8")
TEAL = SeriesStyle("#00796b", "#4db6ac")
# Live lines in a deeper shade of the stored colour (a brighter one on a dark background), so a line over its
# own stored steps stands out from them.
LIVE_GREEN = SeriesStyle("#1b5e20", "#69f0ae")
LIVE_RED = SeriesStyle("#8e0000", "#ff8a80")
LIVE_BLUE = SeriesStyle("#0d3c78", "#82b1ff")

STORED = "stored"
LIVE = "live"
"""Legend groups: figures the workers stored per interval, and samples the console takes itself."""


def _stored(style: SeriesStyle) -> SeriesStyle:
    """The stored per-interval counts behind the live curves: filled steps, lighter."""
    return SeriesStyle(style.light, style.dark, width=1.0, fill=True, alpha=150)


def _live(style: SeriesStyle) -> SeriesStyle:
    """Live samples: a solid line over the stored steps."""
    return SeriesStyle(style.light, style.dark, width=2.0)


def _sparse(style: SeriesStyle, dashed: bool = False) -> SeriesStyle:
    """Figures that exist only for intervals in which jobs ended: points, joined across empty intervals."""
    return SeriesStyle(style.light, style.dark, width=1.5, dashed=dashed, points=True)


STATE_TIPS = {
    JobState.WAITING: "in the queue, not started",
    JobState.ACTIVE: "running on a worker now",
    JobState.SCHEDULED: "to run later (includes retry back-offs)",
    JobState.COMPLETED: "finished and kept (count- and time-limited)",
    JobState.FAILED: "failed with no retries left (kept, count-limited)",
    JobState.CANCELED: "canceled before they ran",
    JobState.DEFERRED: "waiting for other jobs they depend on",
}


class StateCounter(QFrame):
    """One job state's count, large, with its name under it."""

    def __init__(self, state: JobState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName(f"counter_{state.value}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(f"{state.value.capitalize()}: {STATE_TIPS[state]}")
        self.value = QLabel("–", self)
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.value.setFont(font)
        self.caption = QLabel(state.value.capitalize(), self)
        self.caption.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        layout.setSpacing(0)
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set_count(self, count: int | None) -> None:
        text = "–" if count is None else fmt_count(count)
        if text != self.value.text():
            self.value.setText(text)
            self.setAccessibleName(f"{self.state.value}: {text}")
        # Failed jobs are the one count that asks for attention.
        alarm = self.state == JobState.FAILED and bool(count)
        color = (RED.dark if is_dark(self.palette()) else RED.light) if alarm else ""
        style = f"color: {color};" if color else ""
        if style != self.value.styleSheet():  # setting a style sheet re-polishes the label, even the same one
            self.value.setStyleSheet(style)


def history_arrays(series: MetricSeries) -> dict[str, np.ndarray]:
    """Arrays for the charts from stored metrics: ``edges`` (one more than the points) for the
    per-interval counts drawn as steps, ``mid`` (interval middles) for the rest; missing values and
    values of an interval nothing recorded (a gap in the chart) are NaN."""
    points = series.points
    starts = np.fromiter((p.start for p in points), dtype=np.float64, count=len(points))

    def column(measure: Measure, values) -> np.ndarray:
        return np.fromiter(
            (np.nan if v is None or measure in p.unrecorded else v for p, v in zip(points, values, strict=True)),
            dtype=np.float64,
            count=len(points),
        )

    return {
        "edges": np.append(starts, starts[-1] + series.step_s) if len(points) else starts,
        "mid": starts + series.step_s / 2,
        "completed": column(Measure.THROUGHPUT, [p.completed for p in points]),
        "failed": column(Measure.THROUGHPUT, [p.failed for p in points]),
        "p50": column(Measure.RUNTIME, [p.runtime_p50_s for p in points]),
        "p95": column(Measure.RUNTIME, [p.runtime_p95_s for p in points]),
        "success": column(Measure.THROUGHPUT, [None if p.success_rate is None else 100.0 * p.success_rate for p in points]),
        "depth": column(Measure.DEPTH, [p.depth for p in points]),
    }


def unrecorded_mask(series: MetricSeries, measure: Measure) -> np.ndarray:
    """One flag per point: nothing recorded ``measure`` in that interval."""
    return np.fromiter((measure in p.unrecorded for p in series.points), dtype=bool, count=len(series.points))


def unrecorded_text(series: MetricSeries) -> str:
    """``not recorded: throughput in 40 of 60 intervals, ...``; empty when everything was recorded."""
    gaps = [f"{m.value} in {n} of {len(series.points)}" for m in Measure if (n := series.unrecorded(m))]
    return f"not recorded: {', '.join(gaps)} intervals" if gaps else ""


def step_text(step_s: int) -> str:
    return "min" if step_s == 60 else ("h" if step_s == 3600 else f"{step_s} s")


@dataclass(frozen=True)
class WindowSummary:
    """The stored figures of one chart range, for the summary line."""

    completed: int
    failed: int
    worst_p95_s: float | None
    intervals: int


def summarise(series: MetricSeries, range_s: int) -> WindowSummary:
    """Totals over the last ``range_s`` seconds of ``series``: its newest intervals that fit the range
    (the newest one still filling up), not the older ones read as a backdrop."""
    points = series.points[-math.ceil(range_s / series.step_s) :] if series.points else ()
    p95 = [p.runtime_p95_s for p in points if p.runtime_p95_s is not None]
    return WindowSummary(
        completed=sum(p.completed for p in points),
        failed=sum(p.failed for p in points),
        worst_p95_s=max(p95) if p95 else None,
        intervals=len(points),
    )


class OverviewView(QWidget):
    """Counters and charts for ``controller.current_queue``.

    Args:
        controller: the console controller (snapshots, throughput, stored metrics).
        history_interval_s: how often the stored metrics are read again while the view is visible.
    """

    def __init__(
        self,
        controller: ConsoleController,
        parent: QWidget | None = None,
        history_interval_s: float = DEFAULT_HISTORY_INTERVAL_S,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.queue = controller.current_queue
        self.range = RANGES[0]
        self.history: MetricSeries | None = None
        # Per live sample: when its interval began, and the jobs completed and failed in it.
        self._throughput = RingBuffer(LIVE_CAPACITY, 3)
        self._snapshot_at: float | None = None  # the newest snapshot seen, and the one before it
        self._previous_snapshot_at: float | None = None
        self._depth = RingBuffer(LIVE_CAPACITY, 2)  # waiting, active
        self._history_task_running = False
        self._history_again = False
        self._history_tried_at = 0.0
        self._drawn_history: tuple[MetricSeries | None, str, ChartRange] | None = None
        self._live_pending = False  # live samples (or the moving window) not drawn yet
        self._live_queue: list[TimeChart] = []  # charts still to redraw in the current live pass
        self._live_end = 0.0  # the end of the time window of the current live pass
        self._live_pass_at = -LIVE_FRAME_S
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.timeout.connect(self._live_step)

        self.title = QLabel(self)
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.range_buttons = QButtonGroup(self)
        range_row = QHBoxLayout()
        range_row.setSpacing(0)
        for i, chart_range in enumerate(RANGES):
            button = QPushButton(chart_range.label, self)
            button.setCheckable(True)
            button.setProperty("role", "segment")
            button.setChecked(i == 0)
            button.setToolTip(
                f"The last {chart_range.span}, live" if chart_range.live else f"Stored metrics, last {chart_range.span}"
            )
            self.range_buttons.addButton(button, i)
            range_row.addWidget(button)
        self.range_buttons.idClicked.connect(self._on_range_clicked)
        self.pause_button = QPushButton("Pause queue", self)
        self.pause_button.setObjectName("pauseButton")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.paused_label = QLabel(self)
        self.paused_label.setObjectName("pausedLabel")
        self.paused_label.setProperty("level", "warning")
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.paused_label)
        header.addStretch(1)
        header.addWidget(self.pause_button)
        header.addLayout(range_row)

        self.counters = {state: StateCounter(state, self) for state in STATE_ORDER}
        counter_row = QHBoxLayout()
        for counter in self.counters.values():
            counter_row.addWidget(counter, 1)

        self._per = "min"  # the stored interval's name, in the throughput's unit
        self.throughput_chart = TimeChart(
            "Throughput", "jobs / min", self, format_value=lambda v: f"{_number(v)} jobs/{self._per}"
        )
        self.throughput_chart.add_curve("completed", "completed", _stored(GREEN), step=True, group=STORED)
        self.throughput_chart.add_curve("failed", "failed", _stored(RED), step=True, group=STORED)
        self.throughput_chart.add_curve("live_completed", "completed", _live(LIVE_GREEN), group=LIVE)
        self.throughput_chart.add_curve("live_failed", "failed", _live(LIVE_RED), group=LIVE)
        self.throughput_chart.setToolTip(
            "Filled steps: jobs of this queue that ended per interval (stored by the workers).\n"
            f"Lines (live window): jobs per minute over all RQ workers and queues, from their counters,\n"
            f"counted over the last {LIVE_RATE_WINDOW_S:.0f} s at each sample."
        )
        self.depth_chart = TimeChart("Queue depth", "jobs", self, format_value=lambda v: f"{_number(v)} jobs")
        self.depth_chart.add_curve("depth", "waiting", _stored(BLUE), step=True, group=STORED)
        self.depth_chart.add_curve("live_waiting", "waiting", _live(LIVE_BLUE), group=LIVE)
        self.depth_chart.add_curve("live_active", "active", _live(ORANGE), group=LIVE)
        self.runtime_chart = TimeChart("Run time", "seconds", self, format_value=fmt_duration)
        self.runtime_chart.add_curve("p50", "p50", _sparse(PURPLE), group=STORED)
        self.runtime_chart.add_curve("p95", "p95", _sparse(ORANGE, dashed=True), group=STORED)
        self.success_chart = TimeChart("Success rate", "%", self, format_value=lambda v: f"{v:.1f} %")
        self.success_chart.add_curve("success", "completed / (completed + failed)", _sparse(TEAL), group=STORED)
        self.success_chart.set_y_range(0, 100)
        self._set_stored_titles("min")
        charts = QGridLayout()
        charts.addWidget(self.throughput_chart, 0, 0)
        charts.addWidget(self.depth_chart, 0, 1)
        charts.addWidget(self.runtime_chart, 1, 0)
        charts.addWidget(self.success_chart, 1, 1)
        # The first paint of a chart is its dearest (pyqtgraph sizes its axes while painting, then lays
        # the plot out and paints again): the charts appear one per event-loop turn once the view is
        # first shown, not all four inside the window's first paint. Their place is kept meanwhile.
        self._unrevealed: list[TimeChart] = list(self.charts())
        for chart in self._unrevealed:
            policy = chart.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            chart.setSizePolicy(policy)
            chart.hide()
        self._reveal_timer = QTimer(self)
        self._reveal_timer.setSingleShot(True)
        self._reveal_timer.timeout.connect(self._reveal_next_chart)

        self.status = QLabel(self)
        self.status.setStyleSheet("color: palette(placeholder-text);")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(counter_row)
        layout.addLayout(charts, 1)
        layout.addWidget(self.status)

        self._history_timer = QTimer(self)
        self._history_timer.setInterval(int(history_interval_s * 1000))
        self._history_timer.timeout.connect(self.refresh_history)

        controller.snapshotChanged.connect(self.show_snapshot)
        controller.throughputChanged.connect(self.add_throughput)
        controller.queueSelected.connect(self.set_queue)
        # Bound methods, not lambdas: Qt drops them when this view is deleted, and they make no
        # reference cycle that would leave the view to the garbage collector.
        controller.connectionChanged.connect(self._on_connection)
        self._show_range()
        if controller.snapshot is not None:
            self.show_snapshot(controller.snapshot)
        else:
            self._update_title(None)

    # ----------------------------------------------------------------- live data
    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Counters and the live depth sample of the current queue."""
        if snapshot.taken_at != self._snapshot_at:
            # The controller's throughput for a snapshot covers the time since the one before it.
            self._previous_snapshot_at, self._snapshot_at = self._snapshot_at, snapshot.taken_at
        counts = snapshot.queue(self.queue)
        for state, counter in self.counters.items():
            counter.set_count(counts.count(state))
        self._update_title(counts)
        self._update_pause(counts)
        self._depth.append(snapshot.taken_at, (counts.waiting, counts.active))
        if self.range.live:
            self._request_live()
        if self.history is None and self.isVisible() and time.monotonic() - self._history_tried_at > RETRY_HISTORY_S:
            self.refresh_history()  # no stored metrics yet (e.g. shown before the connection was up)

    def clear(self) -> None:
        """Forget everything read (another server is being connected): dashes, empty charts."""
        for counter in self.counters.values():
            counter.set_count(None)
        self._update_title(None)
        self._update_pause(None)
        self.title.setToolTip("")
        self._throughput.clear()
        self._depth.clear()
        self._snapshot_at = self._previous_snapshot_at = None
        self.history = None
        self._draw_history()
        self._request_live(urgent=True)

    def add_throughput(
        self, completed_per_s: float, failed_per_s: float, at: float | None = None, since: float | None = None
    ) -> None:
        """A live throughput sample (all RQ workers): the rates between the snapshot before (``since``)
        and the current one (``at``); both default to the snapshots this view has seen."""
        if at is None:
            snapshot = self.controller.snapshot
            at = snapshot.taken_at if snapshot is not None else time.time()
        if since is None:
            since = self._previous_snapshot_at if at == self._snapshot_at else None
        if since is None or since >= at:
            last = self._throughput.last()
            since = last[0] if last is not None and last[0] < at else at - self.controller.refresh_interval_s()
        elapsed = at - since
        self._throughput.append(at, (since, completed_per_s * elapsed, failed_per_s * elapsed))
        if self.range.live:
            self._request_live()
        self._update_status()

    def live_throughput(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample times and the jobs completed and failed per minute over the sliding window before each
        (NaN until the samples cover a whole window)."""
        ends, starts = self._throughput.times(), self._throughput.column(0)
        per_min = [
            60.0 * sliding_rate(starts, ends, self._throughput.column(i), LIVE_RATE_WINDOW_S) for i in (1, 2)
        ]
        return ends, per_min[0], per_min[1]

    def _request_live(self, urgent: bool = False) -> None:
        """Redraw the live window soon: at most once per :data:`LIVE_FRAME_S` (at once when ``urgent``),
        only while visible (``showEvent`` catches up), one chart per event-loop turn."""
        self._live_pending = True
        if self._live_queue or not self.isVisible():
            return  # a pass is running (another follows it), or nothing is shown
        wait_s = 0.0 if urgent else max(0.0, self._live_pass_at + LIVE_FRAME_S - time.monotonic())
        if urgent or not self._live_timer.isActive():
            self._live_timer.start(int(wait_s * 1000))

    def _live_step(self) -> None:
        if not self._live_queue:
            if not (self._live_pending and self.range.live and self.isVisible()):
                return
            self._live_pending = False
            self._live_pass_at = time.monotonic()
            self._live_end = self._latest_sample_at()
            self._live_queue = list(self.charts())
        self._draw_live_chart(self._live_queue.pop(0), self._live_end)
        if self._live_queue:
            self._live_timer.start(CHART_STEP_MS)
        elif self._live_pending:
            self._request_live()

    def _latest_sample_at(self) -> float:
        times = [last[0] for last in (self._throughput.last(), self._depth.last()) if last is not None]
        return max(times) if times else time.time()

    def _draw_live_chart(self, chart: TimeChart, end: float) -> None:
        """One chart's live curves and its place in the moving window."""
        if chart is self.throughput_chart:
            t, completed, failed = self.live_throughput()
            chart.set_curve("live_completed", t, completed)
            chart.set_curve("live_failed", t, failed)
        elif chart is self.depth_chart:
            t = self._depth.times()
            chart.set_curve("live_waiting", t, self._depth.column(0))
            chart.set_curve("live_active", t, self._depth.column(1))
        chart.set_time_range(end - self.range.seconds, end)
        chart.settle()

    def _set_time_range(self, start: float, end: float) -> None:
        for chart in self.charts():
            chart.set_time_range(start, end)

    def charts(self) -> tuple[TimeChart, ...]:
        return (self.throughput_chart, self.depth_chart, self.runtime_chart, self.success_chart)

    # ----------------------------------------------------------------- queue and range
    def set_queue(self, name: str) -> None:
        if name == self.queue:
            return
        self.queue = name
        self._depth.clear()  # depth is per queue; the live throughput covers all queues and stays
        self.history = None
        self._draw_history()
        if self.range.live:
            self._request_live(urgent=True)
        if self.controller.snapshot is not None:
            self.show_snapshot(self.controller.snapshot)
        self.refresh_history()

    def _on_range_clicked(self, index: int) -> None:
        self.set_range(RANGES[index])

    def _on_connection(self, _state: object) -> None:
        self._update_status()
        self._update_pause(self._counts())
        if self.controller.is_connected() and self.isVisible():
            self.refresh_history()

    def set_range(self, chart_range: ChartRange) -> None:
        if chart_range == self.range:
            return
        self.range = chart_range
        self.range_buttons.button(RANGES.index(chart_range)).setChecked(True)
        self.history = None
        self._show_range()
        self.refresh_history()

    def _show_range(self) -> None:
        live = self.range.live
        for key in ("live_completed", "live_failed"):
            self.throughput_chart.set_curve_visible(key, live)
        for key in ("live_waiting", "live_active"):
            self.depth_chart.set_curve_visible(key, live)
        self._draw_history()
        if live:
            self._request_live(urgent=True)
        else:
            self._live_queue.clear()  # a live pass must not move the window of another range
            now = time.time()
            self._set_time_range(now - self.range.seconds, now)
            for chart in self.charts():
                chart.settle()

    # ----------------------------------------------------------------- stored history
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._unrevealed and not self._reveal_timer.isActive():
            self._reveal_timer.start(CHART_STEP_MS)  # after the window's own first paint
        self._history_timer.start()
        self.refresh_history()
        if self.range.live:
            self._request_live(urgent=True)  # what arrived while hidden

    def _reveal_next_chart(self) -> None:
        if self._unrevealed:
            self._unrevealed.pop(0).show()
        if self._unrevealed:
            self._reveal_timer.start(CHART_STEP_MS)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._history_timer.stop()
        self._live_timer.stop()
        if self._live_queue:
            self._live_queue.clear()
            self._live_pending = True  # finished when shown again
        super().hideEvent(event)

    def refresh_history(self) -> None:
        """Read the stored metrics of the current queue and range (one read at a time)."""
        if self._history_task_running:
            self._history_again = True  # the range or queue changed meanwhile: read once more after
            return
        self._history_task_running = True
        self._history_tried_at = time.monotonic()
        if spawn(self._read_history(), "read stored metrics") is None:
            self._history_task_running = False

    async def _read_history(self) -> None:
        try:
            while True:
                self._history_again = False
                queue, chart_range = self.queue, self.range
                # The live window also shows the stored minutes before it, as a backdrop.
                seconds = chart_range.seconds + (LIVE_BACKDROP_S if chart_range.live else 0)
                series = await self.controller.metric_series(queue, seconds)
                if not shiboken6.isValid(self):
                    return
                if (queue, chart_range) == (self.queue, self.range):
                    self.history = series
                    self._draw_history()
                if not self._history_again:
                    break
        finally:
            if shiboken6.isValid(self):
                self._history_task_running = False

    def _draw_history(self) -> None:
        """Draw the stored metrics (all four charts), unless exactly these are shown already."""
        series = self.history
        drawn = (series, self.queue, self.range)
        if drawn == self._drawn_history:
            self._update_status()
            return
        self._drawn_history = drawn
        if series is None or not series.points:
            for chart, keys in (
                (self.throughput_chart, ("completed", "failed")),
                (self.depth_chart, ("depth",)),
                (self.runtime_chart, ("p50", "p95")),
                (self.success_chart, ("success",)),
            ):
                for key in keys:
                    chart.set_curve(key, np.zeros(0), np.zeros(0))
                chart.settle()
            self._update_status()
            return
        data = history_arrays(series)
        gaps = {measure: unrecorded_mask(series, measure) for measure in Measure}
        self._set_stored_titles(step_text(series.step_s))
        throughput_gaps = gaps[Measure.THROUGHPUT]
        self.throughput_chart.set_curve("completed", data["edges"], data["completed"], unrecorded=throughput_gaps)
        self.throughput_chart.set_curve("failed", data["edges"], data["failed"], unrecorded=throughput_gaps)
        self.depth_chart.set_curve("depth", data["edges"], data["depth"], unrecorded=gaps[Measure.DEPTH])
        for chart, key, measure in (
            (self.runtime_chart, "p50", Measure.RUNTIME),
            (self.runtime_chart, "p95", Measure.RUNTIME),
            (self.success_chart, "success", Measure.THROUGHPUT),
        ):
            # An interval in which no job ended has no run time or rate: the points on either side are
            # joined across it. One in which nothing was recorded stays as a gap.
            shown = ~np.isnan(data[key]) | gaps[measure]
            chart.set_curve(
                key, data["mid"][shown], data[key][shown], interval_s=series.step_s, unrecorded=gaps[measure][shown]
            )
        if not self.range.live:
            end = float(data["edges"][-1])
            self._set_time_range(end - self.range.seconds, end)
        for chart in self.charts():
            chart.settle()
        self._update_status()

    def _set_stored_titles(self, per: str) -> None:
        """Name the stored interval ("min" or "h") in the legends and the throughput's unit."""
        self._per = per
        self.throughput_chart.set_y_label(f"jobs / {per}")
        for chart in self.charts():
            chart.set_group_title(STORED, f"stored per {per}")

    # ----------------------------------------------------------------- pause
    def _counts(self) -> QueueCounts | None:
        snapshot = self.controller.snapshot
        return snapshot.queue(self.queue) if snapshot is not None else None

    def _update_pause(self, counts: QueueCounts | None) -> None:
        from thesis_console.ui import queue_pause

        text = queue_pause.paused_text(counts) if counts is not None else ""
        self.paused_label.setText(text)
        self.paused_label.setVisible(bool(text))
        paused = counts is not None and counts.paused
        self.pause_button.setText("Resume queue" if paused else "Pause queue")
        reason = queue_pause.why_not(self.controller, counts)
        self.pause_button.setEnabled(not reason)
        self.pause_button.setToolTip(
            f"disabled: {reason}" if reason
            else ("Let workers take jobs from this queue again" if paused
                  else f"Pause: {queue_pause.pause_effect(counts)}")
        )  # fmt: skip

    def _toggle_pause(self) -> None:
        from thesis_console.ui import queue_pause

        counts = self._counts()
        if counts is not None and not queue_pause.why_not(self.controller, counts):
            queue_pause.toggle(self.controller, counts)

    # ----------------------------------------------------------------- text
    def _update_title(self, counts: QueueCounts | None) -> None:
        total = f" · {fmt_count(counts.total)} jobs" if counts is not None else ""
        text = f"Queue {self.queue}{total}"
        if text != self.title.text():
            self.title.setText(text)
        if counts is not None and counts.problem and counts.problem != self.title.toolTip():
            self.title.setToolTip(counts.problem)

    def _update_status(self) -> None:
        if not self.controller.is_connected():
            self.status.setText("Not connected: the counters and charts show the last data read.")
            return
        parts = []
        if len(self._throughput):
            _, live_completed, live_failed = self.live_throughput()
            if np.isfinite(live_completed[-1]):
                parts.append(
                    f"now {live_completed[-1]:.1f} completed/min, {live_failed[-1]:.1f} failed/min over all workers "
                    f"(last {LIVE_RATE_WINDOW_S:.0f} s)"
                )
            else:
                parts.append(f"live rate after {LIVE_RATE_WINDOW_S:.0f} s of samples")
        series = self.history
        if series is not None and series.points:
            summary = summarise(series, self.range.seconds)
            done, failed = summary.completed, summary.failed
            rate = f"{100.0 * done / (done + failed):.1f} % success" if done + failed else "no finished jobs"
            worst = f", p95 up to {fmt_duration(summary.worst_p95_s)}" if summary.worst_p95_s is not None else ""
            parts.append(
                f"last {self.range.span} in {self.queue}: {fmt_count(done)} completed, {fmt_count(failed)} failed "
                f"({rate}{worst}), stored per {step_text(series.step_s)}"
            )
            gaps = unrecorded_text(series)
            if gaps:
                parts.append(gaps)
        sources = "\n".join(series.sources) if series is not None else ""
        if sources != self.status.toolTip():
            self.status.setToolTip(sources)
        self.status.setText(" · ".join(parts) if parts else "Waiting for data…")


def _number(value: float) -> str:
    """``12``, ``12.5`` or ``1,234``: a count or rate for the hover label."""
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"
