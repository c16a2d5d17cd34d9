"""Edit the connection profile's alert rules: on/off, severity, threshold, duration, cool-down."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.alerts.rules import (
    DEFAULTS,
    MAX_FAILURE_WINDOW_S,
    THRESHOLD_MEANING,
    AlertRules,
    RuleKind,
    RuleSettings,
    Severity,
    check_settings,
)
from thesis_console.core.types import CoreError

TITLES = {
    RuleKind.FAILURE_RATE: "Failure rate",
    RuleKind.WAITING_DEPTH: "Waiting depth",
    RuleKind.OLDEST_WAITING: "Oldest waiting job",
    RuleKind.NO_WORKER: "No live worker",
    RuleKind.STUCK_JOB: "Stuck job",
    RuleKind.SUPERVISOR_SILENT: "Silent supervisor",
}
DAY_S = 24 * 3600


def _seconds(value: float, name: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setObjectName(name)
    spin.setRange(0, 7 * DAY_S)
    spin.setSingleStep(60)
    spin.setSuffix(" s")
    spin.setValue(int(value))
    return spin


class _RuleRow:
    def __init__(self, kind: RuleKind, settings: RuleSettings) -> None:
        self.kind = kind
        key = kind.value
        self.enabled = QCheckBox(TITLES[kind])
        self.enabled.setObjectName(f"{key}.enabled")
        self.enabled.setChecked(settings.enabled)
        self.enabled.setToolTip(THRESHOLD_MEANING[kind])
        self.severity = QComboBox()
        self.severity.setObjectName(f"{key}.severity")
        for severity in Severity:
            self.severity.addItem(severity.value, severity)
        self.severity.setCurrentIndex(self.severity.findData(settings.severity))
        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName(f"{key}.threshold")
        self.threshold.setToolTip(THRESHOLD_MEANING[kind])
        if kind is RuleKind.FAILURE_RATE:
            self.threshold.setRange(0, 1)
            self.threshold.setSingleStep(0.05)
            self.threshold.setDecimals(2)
        else:
            self.threshold.setRange(0, 7 * DAY_S)
            self.threshold.setDecimals(0)
            self.threshold.setSingleStep(60 if kind in (RuleKind.OLDEST_WAITING, RuleKind.STUCK_JOB) else 1)
        self.threshold.setValue(settings.threshold)
        self.for_s = _seconds(settings.for_s, f"{key}.for_s")
        self.cooldown = _seconds(settings.cooldown_s, f"{key}.cooldown_s")
        self.window = _seconds(settings.window_s, f"{key}.window_s")
        self.min_ended = QSpinBox()
        self.min_ended.setObjectName(f"{key}.min_ended")
        self.min_ended.setRange(0, 1_000_000)
        self.min_ended.setValue(settings.min_ended)
        if kind is RuleKind.FAILURE_RATE:
            self.window.setRange(60, int(MAX_FAILURE_WINDOW_S))
        else:
            self.window.setEnabled(False)
            self.min_ended.setEnabled(False)

    def widgets(self) -> list[QWidget]:
        return [self.enabled, self.severity, self.threshold, self.for_s, self.cooldown, self.window, self.min_ended]

    def settings(self) -> RuleSettings:
        failure = self.kind is RuleKind.FAILURE_RATE
        return RuleSettings(
            enabled=self.enabled.isChecked(),
            severity=Severity(self.severity.currentData()),
            threshold=float(self.threshold.value()),
            for_s=float(self.for_s.value()),
            cooldown_s=float(self.cooldown.value()),
            window_s=float(self.window.value()) if failure else DEFAULTS[self.kind].window_s,
            min_ended=int(self.min_ended.value()) if failure else DEFAULTS[self.kind].min_ended,
        )


class AlertRulesDialog(QDialog):
    """The rules of one profile; ``rules()`` after Accepted. Restore defaults resets every row."""

    def __init__(self, rules: AlertRules, profile: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertRulesDialog")
        self.setWindowTitle(f"Alert rules of {profile}")
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        for column, title in enumerate(("Rule", "Severity", "Threshold", "For", "Cool-down", "Window", "Min. ended")):
            label = QLabel(title)
            label.setProperty("role", "heading")
            grid.addWidget(label, 0, column)
        self.rows = [_RuleRow(kind, rules.get(kind)) for kind in RuleKind]
        for line, row in enumerate(self.rows, start=1):
            for column, widget in enumerate(row.widgets()):
                grid.addWidget(widget, line, column)
        layout.addLayout(grid)
        hint = QLabel("Thresholds: a share of ended jobs (failure rate), a number of jobs (depth, no worker) or "
                      "seconds. An alert that starts again within its cool-down does not notify again. Stored per "
                      "profile in alerts.json; check and serve-metrics read the same file.")  # fmt: skip
        hint.setWordWrap(True)
        hint.setProperty("role", "hint")
        layout.addWidget(hint)
        self.error = QLabel("")
        self.error.setObjectName("alertRulesError")
        self.error.setProperty("role", "error")
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        layout.addWidget(buttons)

    def restore_defaults(self) -> None:
        for row in self.rows:
            fresh = _RuleRow(row.kind, DEFAULTS[row.kind])
            for mine, default in zip(row.widgets(), fresh.widgets(), strict=True):
                if isinstance(mine, QCheckBox):
                    mine.setChecked(default.isChecked())  # type: ignore[attr-defined]
                elif isinstance(mine, QComboBox):
                    mine.setCurrentIndex(default.currentIndex())  # type: ignore[attr-defined]
                else:
                    mine.setValue(default.value())  # type: ignore[attr-defined]
                default.deleteLater()

    def rules(self) -> AlertRules:
        rules = AlertRules()
        for row in self.rows:
            rules = rules.with_rule(row.kind, row.settings())
        return rules

    def accept(self) -> None:
        try:
            for row in self.rows:
                check_settings(row.kind, row.settings(), TITLES[row.kind])
        except CoreError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        super().accept()
