"""Time-series charts for the overview: a fixed-size ring buffer and a palette-aware pyqtgraph plot.

The buffers are preallocated numpy arrays, so a live chart never allocates while it runs; the plot
asks pyqtgraph for peak downsampling and clipping to the visible range, so a long series costs
no more to draw than the pixels it covers (the pattern of pyqtgraph's ``scrollingPlots`` example,
without its module-level state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget


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


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` is a dark theme (its window color is darker than mid grey)."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class TimeChart(pg.PlotWidget):
    """A plot of named curves over wall-clock time that follows the widget's light or dark palette."""

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self._title = title
        self._y_label = y_label
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._styles: dict[str, SeriesStyle] = {}
        item = self.getPlotItem()
        item.setDownsampling(mode="peak")
        item.setClipToView(True)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.showGrid(x=True, y=True, alpha=0.12)
        item.setMouseEnabled(x=False, y=False)
        self._legend = item.addLegend(offset=(6, 4), labelTextSize="8pt", colCount=2)
        self.setMinimumHeight(150)
        self.apply_palette(self.palette())

    # ----------------------------------------------------------------- curves
    def add_curve(self, key: str, label: str, style: SeriesStyle, step: bool = False) -> pg.PlotDataItem:
        """Add an empty curve; ``step`` draws it as steps over intervals (x has one more edge than y)."""
        curve = self.getPlotItem().plot(name=label, stepMode="center" if step else None, connect="finite")
        self._curves[key] = curve
        self._styles[key] = style
        self._style_curve(key)
        return curve

    def set_curve(self, key: str, x: np.ndarray, y: np.ndarray) -> None:
        """Show ``y`` over ``x`` (Unix times); an empty ``x`` clears the curve."""
        curve = self._curves[key]
        if len(x) == 0 or len(y) == 0:
            curve.setData([], [])
        else:
            curve.setData(x, y)

    def curve_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The data a curve shows now (for tests and the status line)."""
        x, y = self._curves[key].getOriginalDataset()
        empty = np.zeros(0)
        return (empty if x is None else x, empty if y is None else y)

    def set_curve_visible(self, key: str, visible: bool) -> None:
        curve = self._curves[key]
        curve.setVisible(visible)
        # A hidden curve should not keep its legend entry.
        if visible and self._legend.getLabel(curve) is None:
            self._legend.addItem(curve, curve.name())
        elif not visible:
            self._legend.removeItem(curve)

    def set_time_range(self, start: float, end: float) -> None:
        self.getPlotItem().setXRange(start, end, padding=0)

    def set_y_range(self, low: float, high: float) -> None:
        """Fix the y range (e.g. 0-100 % for a rate); otherwise the chart scales to its data."""
        self.getPlotItem().setYRange(low, high, padding=0.02)

    def set_y_label(self, text: str) -> None:
        self._y_label = text
        self.getPlotItem().setLabel("left", text)

    # ----------------------------------------------------------------- palette
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
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
            axis.setPen(pg.mkPen(muted))
            axis.setTextPen(pg.mkPen(text))
        item.setTitle(self._title, color=text.name(), size="10pt")
        item.setLabel("left", self._y_label, color=muted.name())
        self._legend.setLabelTextColor(text)
        legend_background = QColor(background)
        legend_background.setAlpha(200)
        self._legend.setBrush(pg.mkBrush(legend_background))
        self._legend.setPen(pg.mkPen(None))
        for key in self._curves:
            self._style_curve(key)

    def _style_curve(self, key: str) -> None:
        style = self._styles[key]
        color = QColor(style.dark if is_dark(self.palette()) else style.light)
        color.setAlpha(style.alpha)
        pen = pg.mkPen(color, width=style.width)
        if style.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        curve = self._curves[key]
        curve.setPen(pen)
        if style.fill:
            fill = QColor(color)
            fill.setAlpha(min(70, style.alpha))
            curve.setFillLevel(0)
            curve.setBrush(pg.mkBrush(fill))
