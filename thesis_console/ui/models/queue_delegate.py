"""Paints a queue in the side list on two lines: its name, and its counts in a quieter colour; a red
badge with the number of unacknowledged alerts firing on it, when there are any; an outlined badge
naming its queue system (RQ, BullMQ)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from thesis_console.core.types import QueueCounts
from thesis_console.ui import theme
from thesis_console.ui.models import roles
from thesis_console.ui.models.queue_list import BACKEND_LABELS

PADDING = 8


class QueueItemDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        metrics = QFontMetrics(option.font)  # type: ignore[attr-defined]
        return QSize(160, metrics.height() * 2 + PADDING * 2 + 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        name = opt.text  # type: ignore[attr-defined]
        opt.text = ""  # type: ignore[attr-defined]
        widget = opt.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        rect: QRect = opt.rect.adjusted(PADDING + 4, PADDING, -PADDING, -PADDING)  # type: ignore[attr-defined]
        palette: QPalette = opt.palette  # type: ignore[attr-defined]
        bold = QFont(opt.font)  # type: ignore[attr-defined]
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        painter.save()
        alerts = int(index.data(roles.ALERT_ROLE) or 0)
        if alerts:
            rect = rect.adjusted(0, 0, -self._paint_badge(painter, rect, metrics, alerts, opt.font) - 4, 0)  # type: ignore[attr-defined]
        counts = index.data(roles.ROW_ROLE)
        if isinstance(counts, QueueCounts):
            label = BACKEND_LABELS[counts.backend]
            rect = rect.adjusted(0, 0, -self._paint_backend(painter, rect, metrics, label, opt.font, palette) - 4, 0)  # type: ignore[attr-defined]
        painter.setFont(bold)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        top = QRect(rect.left(), rect.top(), rect.width(), metrics.height())
        painter.drawText(top, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), metrics.elidedText(name, Qt.TextElideMode.ElideRight, rect.width()))
        small = QFont(opt.font)  # type: ignore[attr-defined]
        painter.setFont(small)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        summary = str(index.data(roles.COUNT_ROLE) or "")
        bottom = QRect(rect.left(), top.bottom() + 2, rect.width(), QFontMetrics(small).height())
        painter.drawText(
            bottom,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            QFontMetrics(small).elidedText(summary, Qt.TextElideMode.ElideRight, rect.width()),
        )
        painter.restore()

    @staticmethod
    def _paint_backend(painter: QPainter, rect: QRect, metrics: QFontMetrics, label: str, font: QFont, palette: QPalette) -> int:
        """An outlined pill naming the queue system at the right end of the name's line; returns its width."""
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        small_metrics = QFontMetrics(small)
        height = metrics.height()
        width = small_metrics.horizontalAdvance(label) + height // 2
        pill = QRectF(rect.right() - width, rect.top() + 1, width, height - 2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setFont(small)
        painter.drawText(pill, int(Qt.AlignmentFlag.AlignCenter), label)
        painter.restore()
        return width

    @staticmethod
    def _paint_badge(painter: QPainter, rect: QRect, metrics: QFontMetrics, count: int, font: QFont) -> int:
        """A red pill with ``count`` at the right end of the name's line; returns its width."""
        text = str(count) if count < 100 else "99+"
        small = QFont(font)
        small.setBold(True)
        small_metrics = QFontMetrics(small)
        height = metrics.height()
        width = max(height, small_metrics.horizontalAdvance(text) + height // 2)
        pill = QRectF(rect.right() - width, rect.top(), width, height)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.current().error))
        painter.drawRoundedRect(pill, height / 2, height / 2)
        painter.setFont(small)
        painter.setPen(QColor("white"))
        painter.drawText(pill, int(Qt.AlignmentFlag.AlignCenter), text)
        return width
