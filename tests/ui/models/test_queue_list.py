"""The queue side list: counts update in place, a selected queue stays selected."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QListView

from thesis_console.core.types import Backend, QueueCounts
from thesis_console.ui.models import roles
from thesis_console.ui.models.queue_delegate import QueueItemDelegate
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


def test_each_queue_names_its_backend() -> None:
    model = QueueListModel()
    model.update([QueueCounts("thesis"), QueueCounts("thesis-generation", backend=Backend.BULLMQ, waiting=2)])
    tips = [model.data(model.index(row, 0), Qt.ItemDataRole.ToolTipRole).splitlines()[0] for row in range(2)]
    assert tips == ["thesis (RQ queue)", "thesis-generation (BullMQ queue)"]
    spoken = model.data(model.index(1, 0), Qt.ItemDataRole.AccessibleTextRole)
    assert spoken == "thesis-generation, BullMQ queue: 2 waiting"


def test_the_delegate_paints_a_backend_badge(qtbot) -> None:
    model = QueueListModel()
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegate(QueueItemDelegate(view))
    view.resize(260, 200)

    def grab_first_row() -> QImage:
        view.show()
        return view.grab(view.visualRect(model.index(0, 0))).toImage()

    model.update([QueueCounts("q", backend=Backend.RQ)])
    rq = grab_first_row()
    model.update([QueueCounts("q", backend=Backend.BULLMQ)])
    bull = grab_first_row()
    assert rq != bull  # the badge's text differs; the name and counts are the same
