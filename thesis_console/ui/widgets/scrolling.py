"""A frameless scroll area for panels that must fit small screens."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QScrollArea, QWidget


def scrollable(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that gives it all its room: on a small screen (1280x800)
    the panel scrolls instead of pushing the window, and its status bar, off the screen; in a dock,
    the dock can be made shorter than the panel's minimum."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area
