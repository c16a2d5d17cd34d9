"""The Alerts panel: alerts firing now, the last 7 days of occurrences, acknowledge, the rules.

Everything comes from the :class:`~thesis_console.ui.alerts_monitor.AlertMonitor`; acknowledging
and saving rules go back through it (to files in the per-user folders; Redis is never written).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.alerts.rules import RuleKind
from thesis_console.core.alerts.tracker import AlertRecord
from thesis_console.ui import theme
from thesis_console.ui.alerts_monitor import AlertMonitor, AlertView
from thesis_console.ui.models import roles
from thesis_console.ui.models.alerts_model import COLUMN_KEYS, AlertRecordsModel
from thesis_console.ui.tasks import spawn


def _table(model: AlertRecordsModel, name: str) -> QTableView:
    table = QTableView()
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.setMinimumHeight(72)  # a header and two rows; the dock scrolls below that
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setSectionResizeMode(COLUMN_KEYS.index("message"), QHeaderView.ResizeMode.Stretch)
    return table


class AlertsPanel(QWidget):
    """Signals:
    jobWanted(str queue, str job id): the user opened a stuck-job alert (show the job, offer Stop).
    """

    jobWanted = Signal(str, str)

    def __init__(self, monitor: AlertMonitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertsPanel")
        self.monitor = monitor
        self.firing_model = AlertRecordsModel(self)
        self.history_model = AlertRecordsModel(self)
        self.firing_label = QLabel("No alert firing")
        self.firing_label.setObjectName("firingLabel")
        self.firing_label.setProperty("role", "heading")
        self.ack_button = QPushButton("Acknowledge")
        self.ack_button.setObjectName("acknowledgeButton")
        self.ack_button.setToolTip("Mark the selected alerts as seen: they stop counting on the badges")
        self.ack_button.clicked.connect(self.acknowledge_selected)
        self.rules_button = QPushButton("Rules…")
        self.rules_button.setObjectName("alertRulesButton")
        self.rules_button.setToolTip("Turn rules on or off, set thresholds, durations and cool-downs")
        self.rules_button.clicked.connect(self.open_rules)
        self.firing_table = _table(self.firing_model, "firingTable")
        self.history_table = _table(self.history_model, "historyTable")
        for table in (self.firing_table, self.history_table):
            table.doubleClicked.connect(self._opened)
            table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        history_label = QLabel("Last 7 days")
        history_label.setProperty("role", "heading")

        top = QHBoxLayout()
        top.addWidget(self.firing_label, 1)
        top.addWidget(self.ack_button)
        top.addWidget(self.rules_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.firing_table, 2)  # what fires now gets the room first
        layout.addWidget(history_label)
        layout.addWidget(self.history_table, 1)
        self.dialog: QDialog | None = None
        self.apply_palette(theme.current())
        monitor.changed.connect(self.show_view)
        self._update_buttons()

    def apply_palette(self, palette: theme.Palette) -> None:
        for model in (self.firing_model, self.history_model):
            model.set_colors(QColor(palette.warning), QColor(palette.error))

    def show_view(self, view: AlertView) -> None:
        self.firing_model.set_records([a.record for a in view.firing])
        self.history_model.set_records(view.history)
        waiting = len(view.unacknowledged)
        if view.firing:
            self.firing_label.setText(
                f"Firing now: {len(view.firing)}" + (f" ({waiting} not acknowledged)" if waiting else " (all acknowledged)")
            )
        else:
            self.firing_label.setText("No alert firing")
        self._update_buttons()

    def selected_records(self) -> list[AlertRecord]:
        records: list[AlertRecord] = []
        for table in (self.firing_table, self.history_table):
            for index in table.selectionModel().selectedRows():
                record = index.data(roles.ROW_ROLE)
                if isinstance(record, AlertRecord) and record not in records:
                    records.append(record)
        return records

    def _update_buttons(self) -> None:
        self.ack_button.setEnabled(any(r.acknowledged_at is None for r in self.selected_records()))

    def acknowledge_selected(self) -> None:
        ids = [r.id for r in self.selected_records() if r.acknowledged_at is None]
        if ids:
            self.ack_button.setEnabled(False)
            spawn(self.monitor.acknowledge(ids), "acknowledge alerts")

    def open_rules(self) -> None:
        from thesis_console.ui.widgets.dialogs.alert_rules import AlertRulesDialog

        dialog = AlertRulesDialog(self.monitor.rules, self.monitor.profile_name or "this connection", self)
        self.dialog = dialog

        def finished(result: int) -> None:
            self.dialog = None
            if result == QDialog.DialogCode.Accepted:
                self._save(dialog.rules())

        dialog.finished.connect(finished)
        dialog.open()

    def _save(self, rules: Any) -> None:
        spawn(self.monitor.save_rules(rules), "save the alert rules")

    def _opened(self, index: QModelIndex) -> None:
        record = index.data(roles.ROW_ROLE)
        if isinstance(record, AlertRecord) and record.rule is RuleKind.STUCK_JOB:
            self.jobWanted.emit(record.queue, record.subject)
