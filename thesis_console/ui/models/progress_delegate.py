"""Paints a progress bar for cells that carry ``PROGRESS_ROLE``; every other cell is left to Qt."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QWidget,
)

from thesis_console.ui.models import roles


def text_on(background: QColor) -> QColor:
    """Black or white, whichever reads better on ``background`` (by its perceived lightness)."""
    r, g, b = background.redF(), background.greenF(), background.blueF()
    return QColor("#111111") if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else QColor("#ffffff")


class ProgressDelegate(QStyledItemDelegate):
    """A thin progress bar with the cell's text inside (percent and stage), in the colour of active jobs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar_color: QColor | None = None

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        value = index.data(roles.PROGRESS_ROLE)
        if value is None:
            super().paint(painter, option, index)
            return
        # Draw selection/background first so a selected row still looks selected.
        background = QStyleOptionViewItem(option)
        self.initStyleOption(background, index)
        background.text = ""
        widget = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else None
        if style is None:
            super().paint(painter, option, index)
            return
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, background, painter, widget)
        bar = QStyleOptionProgressBar()
        rect = QRect(option.rect)  # type: ignore[attr-defined]
        bar.rect = rect.adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        bar.minimum = 0
        bar.maximum = 100
        bar.progress = int(value)
        bar.text = ""
        bar.textVisible = False
        bar.state = option.state | QStyle.StateFlag.State_Horizontal  # type: ignore[attr-defined]
        bar.palette = QPalette(option.palette)  # type: ignore[attr-defined]
        if self.bar_color is not None:
            bar.palette.setColor(QPalette.ColorRole.Highlight, self.bar_color)
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
        # The text is drawn here, not by the style: under a style sheet the style takes the table's
        # text colour for the whole label, which cannot be read on a light bar in the dark theme. Over
        # the filled part it is black or white for the bar's colour; over the rest, the cell's colour.
        inner: QRect = bar.rect  # type: ignore[attr-defined]
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or f"{int(value)}%")
        text = option.fontMetrics.elidedText(text, Qt.TextElideMode.ElideRight, inner.width() - 4)  # type: ignore[attr-defined]
        filled = inner.width() * max(0, min(100, int(value))) // 100
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        rest_colour = option.palette.color(role)  # type: ignore[attr-defined]
        fill_colour = text_on(self.bar_color) if self.bar_color is not None else rest_colour
        painter.save()
        for clip, colour in (
            (QRect(inner.left(), inner.top(), filled, inner.height()), fill_colour),
            (QRect(inner.left() + filled, inner.top(), inner.width() - filled, inner.height()), rest_colour),
        ):
            painter.setClipRect(clip)
            painter.setPen(colour)
            painter.drawText(inner, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()
