"""The progress bar in the Active table reads in the dark theme: its text is dark over a light bar."""

from __future__ import annotations

from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QTableView

from thesis_console.ui import theme
from thesis_console.ui.models import roles
from thesis_console.ui.models.progress_delegate import ProgressDelegate, text_on


def test_the_text_over_the_filled_bar_contrasts_with_the_bar_in_the_dark_theme(qtbot, qapp) -> None:
    manager = theme.ThemeManager(qapp, "dark")
    try:
        model = QStandardItemModel(1, 1)
        item = QStandardItem("100% · chapter 12/12")
        item.setData(100, roles.PROGRESS_ROLE)
        model.setItem(0, 0, item)
        view = QTableView()
        qtbot.addWidget(view)
        view.setModel(model)
        delegate = ProgressDelegate(view)
        bar = QColor("#4dd0e1")  # a light bar, as the dark theme's active colour
        delegate.bar_color = bar
        view.setItemDelegateForColumn(0, delegate)
        view.setColumnWidth(0, 220)
        view.resize(300, 120)
        view.show()
        qtbot.waitExposed(view)
        image = view.viewport().grab(view.visualRect(model.index(0, 0))).toImage()
        colours = {QColor(image.pixel(x, y)).name() for x in range(image.width()) for y in range(image.height())}
        wanted = text_on(bar)
        assert wanted.name() == "#111111"
        assert wanted.name() in colours, sorted(colours)[:20]
        assert not any(QColor(c).lightnessF() > 0.95 for c in colours), "white text on the light bar"
    finally:
        manager.deleteLater()
        qapp.setStyleSheet("")
        qapp.setPalette(qapp.style().standardPalette())
