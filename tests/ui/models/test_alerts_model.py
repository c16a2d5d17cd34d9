"""The alert occurrences table model: Qt's model checks, in-place updates by occurrence id."""

from __future__ import annotations

from PySide6.QtCore import QPersistentModelIndex, Qt

from thesis_console.core.alerts.rules import RuleKind, Severity
from thesis_console.core.alerts.tracker import AlertRecord
from thesis_console.ui.models import roles
from thesis_console.ui.models.alerts_model import COLUMN_KEYS, AlertRecordsModel

T0 = 1_800_000_000.0


def record(i: int, ended: float | None = None, ack: float | None = None) -> AlertRecord:
    return AlertRecord(id=f"r{i}", key=f"no_worker|q{i}|q{i}", rule=RuleKind.NO_WORKER, queue=f"q{i}", subject=f"q{i}",
                       severity=Severity.CRITICAL, message=f"q{i}: 3 jobs waiting", started_at=T0 + i,
                       ended_at=ended, acknowledged_at=ack)  # fmt: skip


def test_model_passes_qt_checks_and_updates_in_place(qtmodeltester):
    model = AlertRecordsModel()
    model.set_records([record(2), record(1)])
    qtmodeltester.check(model)
    kept = QPersistentModelIndex(model.index(1, 0))
    model.set_records([record(3), record(2), record(1, ended=T0 + 61, ack=T0 + 5)])
    qtmodeltester.check(model)
    assert kept.row() == 2 and kept.data(roles.ID_ROLE) == "r1"  # the row kept its identity
    ended = model.index(2, COLUMN_KEYS.index("ended")).data()
    assert ended.endswith("(60 s)")
    assert model.index(0, COLUMN_KEYS.index("ended")).data() == "firing"
    assert model.index(0, COLUMN_KEYS.index("rule")).data() == "no worker"
    assert model.index(2, COLUMN_KEYS.index("acknowledged")).data(Qt.ItemDataRole.ToolTipRole)
    model.set_records([])
    assert model.rowCount() == 0
