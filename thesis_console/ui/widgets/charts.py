"""Time-series charts for the overview: a fixed-size ring buffer and a palette-aware pyqtgraph plot.

The buffers are preallocated numpy arrays, so a live chart never allocates while it runs; the plot
asks pyqtgraph for peak downsampling and clipping to the visible range, so a long series costs
no more to draw than the pixels it covers (the pattern of pyqtgraph's ``scrollingPlots`` example,
without its module-level state).

Repainting a chart is the costly part (the GUI benchmark's Overview, refreshed every 0.5 s, spent
25-55 ms per refresh in it), so a chart paints once per change, not twice (:meth:`TimeChart.settle`),
its axes are cached as pixmaps, and its grid lines are opaque (see :class:`_OpaqueLines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPalette, QPen
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
        alpha = color.alphaF()
        if alpha >= 1.0:
            return pen
        under = self.background
        mixed = QColor.fromRgbF(
            alpha * color.redF() + (1 - alpha) * under.redF(),
            alpha * color.greenF() + (1 - alpha) * under.greenF(),
            alpha * color.blueF() + (1 - alpha) * under.blueF(),
        )
        solid = QPen(pen)
        solid.setColor(mixed)
        return solid


class _Axis(_OpaqueLines, pg.AxisItem):
    pass


class _DateAxis(_OpaqueLines, pg.DateAxisItem):
    pass


class TimeChart(pg.PlotWidget):
    """A plot of named curves over wall-clock time that follows the widget's light or dark palette.

    The legend is part of the title (colored names), so it never covers the data.
    """

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None) -> None:
        self._ready = False  # the base class sends palette events before this object is complete
        self._axes: dict[str, pg.AxisItem] = {"bottom": _DateAxis(orientation="bottom"), "left": _Axis(orientation="left")}
        super().__init__(parent=parent, axisItems=dict(self._axes))
        self._title = title
        self._y_label = y_label
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._styles: dict[str, SeriesStyle] = {}
        self._labels: dict[str, str] = {}
        self._steps: set[str] = set()
        item = self.getPlotItem()
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.12)
        item.setMouseEnabled(x=False, y=False)
        # Counts, rates and durations are never negative; an empty chart shows 0 to 1, not -0.5 to 0.5.
        item.getViewBox().setLimits(yMin=0)
        item.getAxis("left").enableAutoSIPrefix(False)
        for axis in self._axes.values():
            # An axis replays its labels and grid lines from a QPicture on every paint of the chart;
            # cached as a pixmap, an axis that did not change costs a blit.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # Under the plot (pyqtgraph puts axes over it), so the opaque grid lines pass under the curves.
            axis.setZValue(item.getViewBox().zValue() - 1)
        self.setMinimumHeight(150)
        self._ready = True
        self.apply_palette(self.palette())

    # ----------------------------------------------------------------- curves
    def add_curve(self, key: str, label: str, style: SeriesStyle, step: bool = False) -> pg.PlotDataItem:
        """Add an empty curve; ``step`` draws it as steps over intervals (x has one more edge than y)."""
        curve = self.getPlotItem().plot(connect="finite")
        self._curves[key] = curve
        self._styles[key] = style
        self._labels[key] = label
        if step:
            self._steps.add(key)
        self._style_curve(key)
        self._update_title()
        return curve

    def set_curve(self, key: str, x: np.ndarray, y: np.ndarray) -> None:
        """Show ``y`` over ``x`` (Unix times; for a step curve, ``x`` are the interval edges)."""
        curve = self._curves[key]
        if len(x) == 0 or len(y) == 0:
            curve.setData([], [])
            return
        if key in self._steps:
            x, y = step_arrays(x, y)
        curve.setData(x, y)

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

    def is_curve_visible(self, key: str) -> bool:
        return self._curves[key].isVisible()

    def set_time_range(self, start: float, end: float) -> None:
        self.getPlotItem().setXRange(start, end, padding=0)

    def settle(self) -> None:
        """Apply the range and transform changes pyqtgraph defers to the next paint, now.

        Applied during the paint, they mark the plot dirty again and the chart paints a second time
        right after. Call once after a batch of :meth:`set_curve` and :meth:`set_time_range`.
        """
        self.getPlotItem().getViewBox().prepareForPaint()

    def set_y_range(self, low: float, high: float) -> None:
        """Fix the y range (e.g. 0-100 % for a rate); otherwise the chart scales to its data."""
        self.getPlotItem().setYRange(low, high, padding=0.05)

    def set_y_label(self, text: str) -> None:
        if text != self._y_label:
            self._y_label = text
            self.apply_palette(self.palette())

    # ----------------------------------------------------------------- palette
    def changeEvent(self, event: QEvent) -> None:
        if self._ready and event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_palette(self.palette())
        super().changeEvent(event)

    def apply_palette(self, palette: QPalette) -> None:
        """Colors of background, axes, text and curves from ``palette`` (light or dark)."""
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlpha(170)
        self.setBackground(background)
        item = self.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            if isinstance(axis, _OpaqueLines):
                axis.background = QColor(background)
            axis.setPen(pg.mkPen(muted))
            axis.setTextPen(pg.mkPen(text))
        item.setLabel("left", self._y_label, color=muted.name())
        for key in self._curves:
            self._style_curve(key)
        self._update_title()

    def _color(self, key: str) -> QColor:
        style = self._styles[key]
        return QColor(style.dark if is_dark(self.palette()) else style.light)

    def _update_title(self) -> None:
        text = self.palette().color(QPalette.ColorRole.Text).name()
        keys = "".join(
            f"&nbsp;&nbsp;<span style='color:{self._color(k).name()}'>{'▬' if not self._styles[k].dashed else '╍'}"
            f"</span>&nbsp;<span style='color:{text}'>{self._labels[k]}</span>"
            for k, curve in self._curves.items()
            if curve.isVisible()
        )
        self.getPlotItem().setTitle(f"<span style='color:{text}'><b>{self._title}</b></span>{keys}", size="9pt")

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
