"""Time-series charts for the overview: a fixed-size ring buffer and a palette-aware pyqtgraph plot.

The buffers are preallocated numpy arrays, so a live chart never allocates while it runs; the plot
asks pyqtgraph for peak downsampling and clipping to the visible range, so a long series costs
no more to draw than the pixels it covers (the pattern of pyqtgraph's ``scrollingPlots`` example,
without its module-level state).

Repainting a chart is the costly part (the GUI benchmark's Overview, refreshed every 0.5 s, spent
25-55 ms per refresh in it), so a chart paints once per change, not twice (:meth:`TimeChart.settle`),
its axes are cached as pixmaps, and its grid lines are opaque (see :class:`_OpaqueLines`).

Every chart reads out under the mouse: a vertical line snaps to the nearest point, a label gives its
time and the value of each curve there (:meth:`TimeChart.hover_at`). A chart with too few points to
draw a line says so in its middle ("collecting data", :class:`ChartNotice`) rather than showing a lone dot.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPalette, QPen, QResizeEvent
from PySide6.QtWidgets import QGraphicsItem, QWidget


class RingBuffer:
    """The last ``capacity`` samples of a time series with ``columns`` values per time stamp.

    Every sample is written twice, at ``i`` and ``i + capacity``, so the samples in time order are
    always one contiguous slice: :meth:`times` and :meth:`column` return views, never copies.
    """

    def __init__(self, capacity: int, columns: int) -> None:
        if capacity < 1 or columns < 1:
            raise ValueError(f"a ring buffer needs capacity and columns >= 1, got {capacity}, {columns}")
        self.capacity = capacity
        self._times = np.zeros(2 * capacity, dtype=np.float64)
        self._values = np.full((columns, 2 * capacity), np.nan, dtype=np.float64)
        self._next = 0  # where the next sample goes, in [0, capacity)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, at: float, values: Sequence[float]) -> None:
        """Add one sample taken at ``at`` (Unix time); the oldest one drops out when full."""
        i = self._next
        self._times[i] = self._times[i + self.capacity] = at
        self._values[:, i] = self._values[:, i + self.capacity] = values
        self._next = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def clear(self) -> None:
        self._next = 0
        self._size = 0

    def _window(self) -> slice:
        end = self._next + self.capacity
        return slice(end - self._size, end)

    def times(self) -> np.ndarray:
        """Time stamps of the samples, oldest first (a view)."""
        return self._times[self._window()]

    def column(self, index: int) -> np.ndarray:
        """Values of one column, oldest first (a view)."""
        return self._values[index, self._window()]

    def last(self) -> tuple[float, ...] | None:
        """The newest sample as ``(at, value, ...)``, or None when empty."""
        if not self._size:
            return None
        i = (self._next - 1) % self.capacity
        return (float(self._times[i]), *(float(v) for v in self._values[:, i]))


@dataclass(frozen=True)
class SeriesStyle:
    """How one curve looks: its color on a light and on a dark background, and its shape."""

    light: str
    dark: str
    width: float = 2.0
    fill: bool = False
    dashed: bool = False
    alpha: int = 255
    points: bool = False
    """Mark each point (for sparse series, where a lone point between gaps has no line to show it)."""

    @property
    def glyph(self) -> str:
        """The legend's sample of this style: a filled block, a dashed or a solid line, or a dot."""
        if self.fill:
            return "■"
        if self.dashed:
            return "╍"
        return "●" if self.points else "━"


class ChartNotice(Enum):
    """What a chart says in its middle instead of (or over) its curves."""

    NONE = ""
    COLLECTING = "collecting data"
    """Too few points yet to draw a line (a new queue, or the first minute of live samples)."""
    NOT_RECORDED = "not recorded"
    """The queue's workers do not record this figure."""


MIN_POINTS = 3
"""A chart whose curves have fewer points than this says "collecting data"."""

TITLE_POINT_SIZE = 9
TITLE_MARGIN_PX = 16
"""Room the title line needs beyond its text before the legend turns compact."""

HOVER_SNAP_PX = 8.0
"""A curve's value is read out when its nearest point lies this close (in pixels) to the snapped time."""


@dataclass(frozen=True)
class HoverValue:
    """One curve's value at the hovered time."""

    key: str
    label: str
    value: float | None
    """None: nothing was recorded for that interval."""


@dataclass(frozen=True)
class HoverReading:
    """What the hover label says: the snapped time (an interval's for stored steps) and each curve's value."""

    at: float
    interval: tuple[float, float] | None
    values: tuple[HoverValue, ...]


def blend(color: QColor, under: QColor) -> QColor:
    """The opaque colour that ``color`` (with its alpha) gives over ``under``."""
    alpha = color.alphaF()
    return QColor.fromRgbF(
        alpha * color.redF() + (1 - alpha) * under.redF(),
        alpha * color.greenF() + (1 - alpha) * under.greenF(),
        alpha * color.blueF() + (1 - alpha) * under.blueF(),
    )


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` is a dark theme (its window color is darker than mid grey)."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def step_arrays(edges: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points that draw ``values`` as flat steps between consecutive ``edges`` (one more edge than values).

    pyqtgraph's own ``stepMode`` breaks when clipping to the view (x and y end up the same length),
    so steps are drawn as a plain line through two points per interval.
    """
    if len(values) == 0:
        return np.zeros(0), np.zeros(0)
    return np.repeat(edges, 2)[1:-1], np.repeat(values, 2)


class _OpaqueLines:
    """Axis drawing whose lines (axis, ticks, grid) are opaque: each translucent pen is replaced by the
    colour it gives over ``background``.

    Qt's raster engine draws a translucent line about 15 times slower than an opaque one (40 grid
    lines: 3 ms against 0.2 ms here), and pyqtgraph draws the grid as translucent tick lines across
    the plot. The axes sit under the curves (see :class:`TimeChart`), so the grid looks the same.
    """

    background = QColor("white")

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs) -> None:  # noqa: N802, N803 (pyqtgraph names)
        solid = self._solid
        axisSpec = (solid(axisSpec[0]), *axisSpec[1:])
        tickSpecs = [(solid(pen), *points) for pen, *points in tickSpecs]
        super().drawPicture(p, axisSpec, tickSpecs, textSpecs)  # type: ignore[misc]

    def _solid(self, pen: QPen) -> QPen:
        color = pen.color()
        if color.alphaF() >= 1.0:
            return pen
        solid = QPen(pen)
        solid.setColor(blend(color, self.background))
        return solid


class _Axis(_OpaqueLines, pg.AxisItem):
    pass


class _DateAxis(_OpaqueLines, pg.DateAxisItem):
    pass


class TimeChart(pg.PlotWidget):
    """A plot of named curves over wall-clock time that follows the widget's light or dark palette.

    The legend is part of the title (coloured samples and names, in groups such as "stored per min"
    and "live"), so it never covers the data.

    Args:
        title: the chart's name, first in its title line.
        y_label: the left axis's label (with the unit).
        format_value: how the hover label writes a value (with its unit); ``1,234.5`` by default.
    """

    def __init__(
        self,
        title: str,
        y_label: str,
        parent: QWidget | None = None,
        format_value: Callable[[float], str] | None = None,
    ) -> None:
        self._ready = False  # the base class sends palette events before this object is complete
        self._axes: dict[str, pg.AxisItem] = {"bottom": _DateAxis(orientation="bottom"), "left": _Axis(orientation="left")}
        super().__init__(parent=parent, axisItems=dict(self._axes))
        self._title = title
        self._y_label = y_label
        self.format_value = format_value or _plain_number
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._styles: dict[str, SeriesStyle] = {}
        self._labels: dict[str, str] = {}
        self._groups: dict[str, str] = {}  # curve key -> legend group
        self._group_titles: dict[str, str] = {}
        self._steps: set[str] = set()
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # as given to set_curve (edges for steps)
        self._spans: dict[str, float] = {}  # a point curve whose points stand for intervals of this length
        self._unrecorded: dict[str, np.ndarray] = {}  # per value: nothing was recorded there (drawn as a gap)
        self._notice = ChartNotice.NONE
        self._forced_notice = ChartNotice.NONE
        self._hover_scene_pos: QPointF | None = None
        self._compact_legend = False
        self._shown_title = ""
        self._hover_reading: HoverReading | None = None
        item = self.getPlotItem()
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.12)
        item.setMouseEnabled(x=False, y=False)
        # Counts, rates and durations are never negative; an empty chart shows 0 to 1, not -0.5 to 0.5.
        view = item.getViewBox()
        view.setLimits(yMin=0)
        item.getAxis("left").enableAutoSIPrefix(False)
        for axis in self._axes.values():
            # An axis replays its labels and grid lines from a QPicture on every paint of the chart;
            # cached as a pixmap, an axis that did not change costs a blit.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # Under the plot (pyqtgraph puts axes over it), so the opaque grid lines pass under the curves.
            axis.setZValue(view.zValue() - 1)

        # The hover read-out: a line at the snapped time, a dot on each curve's value, a label.
        self._hover_line = pg.InfiniteLine(angle=90, movable=False)
        self._hover_dots = pg.ScatterPlotItem(size=7, pxMode=True)
        self._hover_label = pg.TextItem(anchor=(0, 0))
        for z, hover_item in enumerate((self._hover_line, self._hover_dots, self._hover_label)):
            hover_item.setZValue(1000 + z)
            hover_item.hide()
            item.addItem(hover_item, ignoreBounds=True)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

        # The notice sits in the middle of the plot area, in pixels of the view box (not data units).
        self._notice_item = pg.TextItem(anchor=(0.5, 0.5))
        self._notice_item.setParentItem(view)
        self._notice_item.setZValue(900)
        self._notice_item.hide()
        view.sigResized.connect(self._on_plot_resized)

        self.setMinimumHeight(150)
        self._ready = True
        self.apply_palette(self.palette())

    # ----------------------------------------------------------------- curves
    def add_curve(self, key: str, label: str, style: SeriesStyle, step: bool = False, group: str = "") -> pg.PlotDataItem:
        """Add an empty curve; ``step`` draws it as steps over intervals (x has one more edge than y).

        Curves of one ``group`` are listed together in the legend, after the group's title
        (:meth:`set_group_title`; the group's name by default).
        """
        curve = self.getPlotItem().plot(connect="finite")
        self._curves[key] = curve
        self._styles[key] = style
        self._labels[key] = label
        self._groups[key] = group
        self._group_titles.setdefault(group, group)
        self._data[key] = (np.zeros(0), np.zeros(0))
        if step:
            self._steps.add(key)
        self._style_curve(key)
        self._update_title()
        self._update_notice()
        return curve

    def set_group_title(self, group: str, title: str) -> None:
        if self._group_titles.get(group) != title:
            self._group_titles[group] = title
            self._update_title()

    def set_curve(
        self,
        key: str,
        x: np.ndarray,
        y: np.ndarray,
        interval_s: float | None = None,
        unrecorded: np.ndarray | None = None,
    ) -> None:
        """Show ``y`` over ``x`` (Unix times; for a step curve, ``x`` are the interval edges).

        Args:
            interval_s: each point is the middle of an interval this long (stored figures drawn as
                points); the hover label then names the interval, not an instant.
            unrecorded: one flag per value: nothing was recorded there (its value is NaN, a gap);
                the hover label says "not recorded" there, and a chart with no more than that says
                "not recorded" rather than "collecting data".
        """
        curve = self._curves[key]
        if interval_s is None:
            self._spans.pop(key, None)
        else:
            self._spans[key] = interval_s
        if unrecorded is None or not np.any(unrecorded):
            self._unrecorded.pop(key, None)
        else:
            self._unrecorded[key] = np.asarray(unrecorded, dtype=bool)
        if len(x) == 0 or len(y) == 0:
            self._data[key] = (np.zeros(0), np.zeros(0))
            curve.setData([], [])
        else:
            self._data[key] = (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
            if key in self._steps:
                x, y = step_arrays(x, y)
            curve.setData(x, y)
        self._update_notice()

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The points a curve draws now (a step curve has two per interval)."""
        x, y = self._curves[key].getOriginalDataset()
        empty = np.zeros(0)
        return (empty if x is None else x, empty if y is None else y)

    def curve_values(self, key: str) -> np.ndarray:
        """The values a curve shows, one per interval for a step curve (for tests and summaries)."""
        _, y = self.curve_data(key)
        return y[::2] if key in self._steps else y

    def set_curve_visible(self, key: str, visible: bool) -> None:
        self._curves[key].setVisible(visible)
        self._update_title()
        self._update_notice()

    def is_curve_visible(self, key: str) -> bool:
        return self._curves[key].isVisible()

    def set_time_range(self, start: float, end: float) -> None:
        self.getPlotItem().setXRange(start, end, padding=0)

    def settle(self) -> None:
        """Apply the range and transform changes pyqtgraph defers to the next paint, now.

        Applied during the paint, they mark the plot dirty again and the chart paints a second time
        right after. Call once after a batch of :meth:`set_curve` and :meth:`set_time_range`.
        A hover read-out follows the new data under a mouse that stays still.
        """
        self.getPlotItem().getViewBox().prepareForPaint()
        if self._hover_scene_pos is not None:
            self._on_mouse_moved(self._hover_scene_pos)

    def set_y_range(self, low: float, high: float) -> None:
        """Fix the y range (e.g. 0-100 % for a rate); otherwise the chart scales to its data."""
        self.getPlotItem().setYRange(low, high, padding=0.05)

    def set_y_label(self, text: str) -> None:
        if text != self._y_label:
            self._y_label = text
            self.apply_palette(self.palette())

    # ----------------------------------------------------------------- legend
    def legend_entries(self) -> list[tuple[str, str, str]]:
        """The legend as (group title, glyph, label) for each visible curve, in the title's order."""
        return [(self._group_titles[self._groups[k]], self._styles[k].glyph, self._labels[k]) for k in self._legend_keys()]

    def _legend_keys(self) -> list[str]:
        """Visible curves, grouped: every group in the order of its first curve."""
        return [
            key
            for group in dict.fromkeys(self._groups.values())
            for key, curve in self._curves.items()
            if self._groups[key] == group and curve.isVisible()
        ]

    def legend_is_compact(self) -> bool:
        """Whether the legend leaves out names that an earlier group already gave (too narrow for all)."""
        return self._compact_legend

    def _update_title(self) -> None:
        full = self._title_parts(compact=False)
        # The title spans the plot area's column: wider than that, it widens the column (the plot goes
        # past the widget's right edge) and is cut there.
        bold = QFont(self._title_font())
        bold.setBold(True)
        width = QFontMetrics(bold).horizontalAdvance(self._title) + QFontMetrics(self._title_font()).horizontalAdvance(
            "".join(text for _, text in full[1:])
        )
        room = self.viewport().width() - self.getPlotItem().getAxis("left").width() - TITLE_MARGIN_PX
        compact = width > room
        self._compact_legend = compact and len({self._labels[k] for k in self._legend_keys()}) < len(self._legend_keys())
        parts = self._title_parts(compact=True) if self._compact_legend else full
        title = "".join(markup for markup, _ in parts)
        if title != self._shown_title:  # setting a title lays the plot out again
            self._shown_title = title
            self.getPlotItem().setTitle(title, size=f"{TITLE_POINT_SIZE}pt")

    def _title_parts(self, compact: bool) -> list[tuple[str, str]]:
        """The title as (markup, plain text) pieces; ``compact`` leaves out a name shown in an earlier
        group ("stored per min: ■ completed ■ failed   live: ━ ━"; the hover label names them)."""
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text).name()
        base = palette.color(QPalette.ColorRole.Base)
        muted = blend(_with_alpha(palette.color(QPalette.ColorRole.Text), 170), base).name()
        parts = [(f"<span style='color:{text}'><b>{html.escape(self._title)}</b></span>", self._title)]
        shown_group: str | None = None
        named: set[str] = set()
        for key in self._legend_keys():
            group = self._group_titles[self._groups[key]]
            if group != shown_group:
                shown_group = group
                if group:
                    parts.append((f"&nbsp;&nbsp;&nbsp;<span style='color:{muted}'>{html.escape(group)}:</span>", f"   {group}:"))
            label = self._labels[key]
            glyph = f"&nbsp;<span style='color:{self._legend_color(key).name()}'>{self._styles[key].glyph}</span>"
            if compact and label in named:
                parts.append((glyph, f" {self._styles[key].glyph}"))
            else:
                parts.append((f"{glyph}&nbsp;<span style='color:{text}'>{html.escape(label)}</span>", f" {self._styles[key].glyph} {label}"))
            named.add(label)
        return parts

    def _title_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(TITLE_POINT_SIZE)
        return font

    def _legend_color(self, key: str) -> QColor:
        """The colour a curve shows: a filled area's fill over the background, else its line."""
        style = self._styles[key]
        color = self._color(key)
        if style.fill:
            return blend(_with_alpha(color, min(255, style.alpha)), self.palette().color(QPalette.ColorRole.Base))
        return color

    # ----------------------------------------------------------------- notice
    def set_notice(self, notice: ChartNotice) -> None:
        """Say ``notice`` (e.g. "not recorded") whatever the data; ``ChartNotice.NONE`` goes back to
        saying "collecting data" only while there are too few points."""
        self._forced_notice = notice
        self._update_notice()

    @property
    def notice(self) -> ChartNotice:
        """What the chart says in its middle now (``NONE`` when it shows its curves alone)."""
        return self._notice

    def notice_text(self) -> str:
        return self._notice_item.textItem.toPlainText() if self._notice_item.isVisible() else ""

    def points_shown(self) -> int:
        """The most finite points (intervals, for steps) of any visible curve."""
        return max(
            (int(np.count_nonzero(np.isfinite(y))) for key, (_, y) in self._data.items() if self._curves[key].isVisible()),
            default=0,
        )

    def _update_notice(self) -> None:
        if not self._ready:
            return
        notice = self._forced_notice
        if notice == ChartNotice.NONE and self.points_shown() < MIN_POINTS:
            unrecorded = any(key in self._unrecorded for key in self._visible_keys())
            notice = ChartNotice.NOT_RECORDED if unrecorded else ChartNotice.COLLECTING
        if notice == self._notice:
            return
        self._notice = notice
        self._notice_item.setText(notice.value)
        self._notice_item.setVisible(notice != ChartNotice.NONE)
        self._place_notice()

    def close(self) -> bool:
        # pyqtgraph's close deletes the plot's items, then resizes the view: no more updates from here.
        self._ready = False
        return super().close()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        # Before the base class lays the plot out for the new width: the legend's form sets its width.
        if self._ready:
            self._update_title()
        super().resizeEvent(event)

    def _on_plot_resized(self) -> None:
        self._place_notice()
        self._update_title()  # the full legend may fit now, or no longer

    def _place_notice(self) -> None:
        self._notice_item.setPos(self.getPlotItem().getViewBox().rect().center())

    # ----------------------------------------------------------------- hover
    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        view = self.getPlotItem().getViewBox()
        if not view.sceneBoundingRect().contains(scene_pos):
            self.hide_hover()
            return
        self._hover_scene_pos = QPointF(scene_pos)
        self.hover_at(view.mapSceneToView(scene_pos).x())

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt name)
        self.hide_hover()
        super().leaveEvent(event)

    def hide_hover(self) -> None:
        self._hover_scene_pos = None
        self._hover_reading = None
        for item in (self._hover_line, self._hover_dots, self._hover_label):
            item.hide()

    def hover_text(self) -> str:
        """The hover label's text, or "" when it is hidden."""
        return self._hover_label.textItem.toPlainText() if self._hover_label.isVisible() else ""

    def hover_at(self, t: float) -> HoverReading | None:
        """Snap to the point nearest to time ``t`` and read out every visible curve there; hidden when
        no curve has a point."""
        reading = self.read_at(t)
        if reading is None:
            self.hide_hover()
            return None
        if reading != self._hover_reading:  # the mouse moved within the same point: nothing to redraw
            self._hover_reading = reading
            self._show_reading(reading)
        return reading

    def read_at(self, t: float) -> HoverReading | None:
        """The reading at the point nearest to ``t``: its time and each visible curve's value there."""
        snap_s = HOVER_SNAP_PX * self._seconds_per_pixel()
        nearest: tuple[float, float, tuple[float, float] | None] | None = None  # (distance, at, interval)
        for key in self._visible_keys():
            found = self._nearest(key, t)
            if found is not None and (nearest is None or abs(found[0] - t) < nearest[0]):
                nearest = (abs(found[0] - t), found[0], found[1])
        if nearest is None:
            return None
        _, at, interval = nearest
        keys = self._legend_keys()
        grouped = len({self._groups[key] for key in keys}) > 1  # "completed" stored and live: say which
        values = []
        for key in keys:
            has_value, value = self._value_at(key, at, snap_s)
            if has_value:
                label = self._labels[key]
                group = self._group_titles[self._groups[key]]
                values.append(HoverValue(key, f"{label} ({group})" if grouped and group else label, value))
        return HoverReading(at, interval, tuple(values))

    def _visible_keys(self) -> list[str]:
        return [key for key, curve in self._curves.items() if curve.isVisible()]

    def _points(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A curve's finite points as (times, values, interval edges or None); a step's time is its middle."""
        x, y = self._data[key]
        if key in self._steps:
            if len(x) < 2:
                return np.zeros(0), np.zeros(0), None
            edges = x[: len(y) + 1]
            y = y[: len(edges) - 1]
            mids = (edges[:-1] + edges[1:]) / 2
            return mids, y, edges
        n = min(len(x), len(y))
        return x[:n], y[:n], None

    def _readable(self, key: str, values: np.ndarray) -> np.ndarray:
        """Which values the hover can read out: the finite ones, and those not recorded."""
        readable = np.isfinite(values)
        unrecorded = self._unrecorded.get(key)
        if unrecorded is not None and len(unrecorded) == len(values):
            readable |= unrecorded
        return readable

    def _nearest(self, key: str, t: float) -> tuple[float, tuple[float, float] | None] | None:
        times, values, edges = self._points(key)
        finite = np.flatnonzero(self._readable(key, values))
        if not len(finite):
            return None
        candidates = times[finite]
        i = int(np.searchsorted(candidates, t))
        best = min((j for j in (i - 1, i) if 0 <= j < len(candidates)), key=lambda j: abs(candidates[j] - t))
        index = int(finite[best])
        at = float(times[index])
        if edges is not None:
            return at, (float(edges[index]), float(edges[index + 1]))
        span = self._spans.get(key)
        return at, ((at - span / 2, at + span / 2) if span else None)

    def _value_at(self, key: str, at: float, snap_s: float) -> tuple[bool, float | None]:
        """(whether the curve has a value at ``at``, that value or None where nothing was recorded)."""
        times, values, edges = self._points(key)
        readable = self._readable(key, values)
        index: int | None = None
        if edges is not None:  # a step: the interval that holds ``at``
            i = int(np.searchsorted(edges, at, side="right")) - 1
            if 0 <= i < len(values) and readable[i]:
                index = i
        elif len(times):
            i = int(np.searchsorted(times, at))
            close = [j for j in (i - 1, i) if 0 <= j < len(times) and readable[j] and abs(times[j] - at) <= snap_s]
            if close:
                index = min(close, key=lambda j: abs(times[j] - at))
        if index is None:
            return False, None
        value = float(values[index])
        return True, (value if np.isfinite(value) else None)

    def _seconds_per_pixel(self) -> float:
        view = self.getPlotItem().getViewBox()
        (x0, x1), _ = view.viewRange()
        width = max(1.0, view.width())
        return (x1 - x0) / width

    def _show_reading(self, reading: HoverReading) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text).name()
        lines = [f"<b>{html.escape(_time_text(reading))}</b>"]
        spots = []
        for value in reading.values:
            color = self._legend_color(value.key)
            shown = ChartNotice.NOT_RECORDED.value if value.value is None else self.format_value(value.value)
            lines.append(
                f"<span style='color:{color.name()}'>{self._styles[value.key].glyph}</span> "
                f"{html.escape(value.label)}: <b>{html.escape(shown)}</b>"
            )
            if value.value is not None:
                spots.append({"pos": (reading.at, value.value), "brush": pg.mkBrush(self._color(value.key)), "pen": None})
        self._hover_label.setHtml(f"<div style='color:{text}'>{'<br>'.join(lines)}</div>")
        view = self.getPlotItem().getViewBox()
        (x0, x1), (_, y1) = view.viewRange()
        # Right of the line where the label fits, else left of it: it stays inside the plot.
        x_px = (reading.at - x0) / max(1e-9, x1 - x0) * view.width()
        fits_right = x_px + self._hover_label.textItem.boundingRect().width() + 4 <= view.width()
        self._hover_label.setAnchor((0, 0) if fits_right or x_px < view.width() / 2 else (1, 0))
        self._hover_label.setPos(reading.at, y1)
        self._hover_line.setPos(reading.at)
        self._hover_dots.setData(spots)
        for item in (self._hover_line, self._hover_dots, self._hover_label):
            item.show()

    # ----------------------------------------------------------------- palette
    def changeEvent(self, event: QEvent) -> None:
        if self._ready and event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_palette(self.palette())
        super().changeEvent(event)

    def apply_palette(self, palette: QPalette) -> None:
        """Colors of background, axes, text, hover read-out, notice and curves from ``palette`` (light or dark)."""
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        muted = _with_alpha(text, 170)
        self.setBackground(background)
        item = self.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            if isinstance(axis, _OpaqueLines):
                axis.background = QColor(background)
            axis.setPen(pg.mkPen(muted))
            axis.setTextPen(pg.mkPen(text))
        item.setLabel("left", self._y_label, color=blend(muted, background).name())
        self._hover_line.setPen(pg.mkPen(blend(_with_alpha(text, 110), background), width=1))
        self._hover_label.fill = pg.mkBrush(_with_alpha(background, 225))
        self._hover_label.border = pg.mkPen(blend(_with_alpha(text, 90), background))
        self._notice_item.setColor(blend(muted, background))
        self._hover_reading = None  # drawn again in the new colours at the next move
        for key in self._curves:
            self._style_curve(key)
        self._update_title()

    def _color(self, key: str) -> QColor:
        style = self._styles[key]
        return QColor(style.dark if is_dark(self.palette()) else style.light)

    def _style_curve(self, key: str) -> None:
        style = self._styles[key]
        color = self._color(key)
        color.setAlpha(style.alpha)
        pen = pg.mkPen(color, width=style.width)
        if style.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        curve = self._curves[key]
        curve.setPen(pen)
        if style.points:
            curve.setSymbol("o")
            curve.setSymbolSize(4)
            curve.setSymbolPen(None)
            curve.setSymbolBrush(pg.mkBrush(color))
        if style.fill:
            fill = QColor(color)
            fill.setAlpha(min(70, style.alpha))
            curve.setFillLevel(0)
            curve.setBrush(pg.mkBrush(fill))


def _with_alpha(color: QColor, alpha: int) -> QColor:
    copy = QColor(color)
    copy.setAlpha(alpha)
    return copy


def _plain_number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _time_text(reading: HoverReading, now: float | None = None) -> str:
    """The hovered time: an interval ("14:32–14:33", "Mon 30 Nov 14:00–15:00", "14:32–14:33 so far"
    while it lasts) or an instant ("14:32:07"), with the day when it is not today."""
    now = time.time() if now is None else now
    today = time.localtime(now)[:3]
    start, end = reading.interval if reading.interval is not None else (reading.at, reading.at)
    local = time.localtime(start)
    day = "" if local[:3] == today else time.strftime("%a %d %b ", local)
    if reading.interval is None:
        return day + time.strftime("%H:%M:%S", local)
    # The interval still filling up holds the figures so far, less than a whole one.
    so_far = " so far" if start <= now < end else ""
    return f"{day}{time.strftime('%H:%M', local)}–{time.strftime('%H:%M', time.localtime(end))}{so_far}"
