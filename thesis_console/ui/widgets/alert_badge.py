"""An icon with a count in a red disc on its corner: the tray icon while alerts fire unacknowledged."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

SIZE = 64


def badged_icon(base: QIcon, count: int, color: QColor | str = "#c0392b") -> QIcon:
    """``base`` with ``count`` (9+ above nine) on a disc in its top right corner; ``base`` itself for 0."""
    if count <= 0:
        return base
    pixmap = base.pixmap(SIZE, SIZE)
    if pixmap.isNull():
        pixmap = QPixmap(SIZE, SIZE)
        pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    disc = QRectF(SIZE * 0.45, 0, SIZE * 0.55, SIZE * 0.55)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(disc)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(SIZE * 0.36))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(disc, int(Qt.AlignmentFlag.AlignCenter), str(count) if count < 10 else "9+")
    painter.end()
    return QIcon(pixmap)
