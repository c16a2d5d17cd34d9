"""The queue side list: counts update in place, a selected queue stays selected."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QListView

from thesis_console.core.types import QueueCounts
from thesis_console.ui.models import roles
from thesis_console.ui.models.queue_list import QueueListModel, summary


def test_qtmodeltester(qtmodeltester) -> None:
    model = QueueListModel()
    model.update([QueueCounts("thesis", waiting=3, failed=1), QueueCounts("default")])
    qtmodeltester.check(model)


def test_update_in_place_keeps_selection(qtbot) -> None:
    model = QueueListModel()
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.update([QueueCounts("b"), QueueCounts("c", waiting=1)])
    view.selectionModel().select(model.index(1, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    model.update([QueueCounts("a"), QueueCounts("c", waiting=5)], keep="b")
    assert [q.name for q in model.queues] == ["a", "b", "c"]
    assert [ix.data() for ix in view.selectionModel().selectedIndexes()] == ["c"]
    assert model.data(model.index(2, 0), roles.COUNT_ROLE) == "5 waiting"


def test_summary_words() -> None:
    assert summary(QueueCounts("q")) == "empty"
    assert summary(QueueCounts("q", completed=4)) == "idle"
    assert summary(QueueCounts("q", waiting=1200, active=2, failed=1)) == "1\u202f200 waiting · 2 active · 1 failed"
    assert summary(QueueCounts("q", scheduled=3, completed=9)) == "3 scheduled"
