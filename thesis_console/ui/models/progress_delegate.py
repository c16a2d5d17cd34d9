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
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or f"{int(value)}%")
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = option.state | QStyle.StateFlag.State_Horizontal  # type: ignore[attr-defined]
        bar.palette = QPalette(option.palette)  # type: ignore[attr-defined]
        if self.bar_color is not None:
            bar.palette.setColor(QPalette.ColorRole.Highlight, self.bar_color)
            bar.palette.setColor(QPalette.ColorRole.HighlightedText, text_on(self.bar_color))
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
