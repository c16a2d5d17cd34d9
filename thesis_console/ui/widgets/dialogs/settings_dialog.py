"""The settings the console keeps: refresh interval, theme, chart range, desktop notifications."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from thesis_console.ui.settings import CHART_RANGES_S, MAX_REFRESH_S, MIN_REFRESH_S, ConsoleSettings
from thesis_console.ui.theme import THEME_CHOICES

RANGE_NAMES = {600: "Live (last 10 minutes)", 3600: "1 hour", 24 * 3600: "24 hours", 7 * 24 * 3600: "7 days"}


class SettingsDialog(QDialog):
    def __init__(self, settings: ConsoleSettings, tray_available: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Settings")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.refresh = QDoubleSpinBox()
        self.refresh.setObjectName("refreshInterval")
        self.refresh.setRange(MIN_REFRESH_S, MAX_REFRESH_S)
        self.refresh.setSingleStep(0.5)
        self.refresh.setDecimals(1)
        self.refresh.setSuffix(" s")
        self.refresh.setValue(settings.refresh_interval_s)
        form.addRow("Refresh every", self.refresh)
        self.theme = QComboBox()
        self.theme.setObjectName("theme")
        for choice in THEME_CHOICES:
            self.theme.addItem("Follow the system" if choice == "system" else choice.capitalize(), choice)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        form.addRow("Theme", self.theme)
        self.chart_range = QComboBox()
        self.chart_range.setObjectName("chartRange")
        for seconds in CHART_RANGES_S:
            self.chart_range.addItem(RANGE_NAMES.get(seconds, f"{seconds} s"), seconds)
        self.chart_range.setCurrentIndex(max(0, self.chart_range.findData(settings.chart_range_s)))
        form.addRow("Chart range", self.chart_range)
        self.notifications = QCheckBox("Desktop notifications for new failures, alerts and lost connections")
        self.notifications.setObjectName("notifications")
        self.notifications.setChecked(settings.notifications)
        if not tray_available:
            self.notifications.setEnabled(False)
            self.notifications.setToolTip("This desktop has no system tray: notices show in the status area only.")
        form.addRow("", self.notifications)
        layout.addLayout(form)
        hint = QLabel("Failures and connection problems always show in the status area.")
        hint.setProperty("role", "hint")
        layout.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def accept(self) -> None:
        self.settings.refresh_interval_s = self.refresh.value()
        self.settings.theme = str(self.theme.currentData())
        self.settings.chart_range_s = int(self.chart_range.currentData())
        self.settings.notifications = self.notifications.isChecked()
        self.settings.sync()
        super().accept()
