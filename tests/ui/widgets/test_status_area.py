"""The status area (ui/widgets/status_area.py): notices with their time, and Undo offered for a while, once."""

from __future__ import annotations

from thesis_console.ui.notices import UNDO_SECONDS, Level, Notice
from thesis_console.ui.widgets.status_area import StatusArea


def test_undo_is_offered_for_a_while_and_runs_once(qtbot) -> None:
    area = StatusArea()
    qtbot.addWidget(area)
    area.show()
    undone: list[int] = []
    area.show_notice(Notice("Retried 2 jobs", undo=lambda: undone.append(1)))
    assert area.undo_button.isVisible() and "Retried 2 jobs" in area.text()
    assert area._undo_timer.interval() == UNDO_SECONDS * 1000
    area.undo_button.click()
    area.undo()  # a second press does nothing
    assert undone == [1] and not area.undo_button.isVisible()

    area.show_notice(Notice("Retried 1 job", undo=lambda: undone.append(2)))
    area._undo_timer.timeout.emit()  # the time is up
    assert not area.undo_button.isVisible()
    area.undo()
    assert undone == [1]
    # A later notice without Undo takes the offer away too.
    area.show_notice(Notice("Retried 1 job", undo=lambda: undone.append(3)))
    area.show_notice(Notice("refresh failed", Level.ERROR))
    assert not area.undo_button.isVisible() and area.message.property("level") == "error"
