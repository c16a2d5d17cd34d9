"""Job table models: lazy paging, in-place refresh that keeps the selection, qtmodeltester.

The page loader here reads from a Python list: these tests pin the model's side of the loader
contract; tests/ui/widgets/test_jobs_view.py drives the same models against the core on a real Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.types import JobPage, JobRow, JobState
from thesis_console.ui.models import roles
from thesis_console.ui.models.job_table import (
    COLUMN_KEYS,
    KEEP_PAGES,
    PLACEHOLDER,
    JobTableModel,
    SearchResultsModel,
)


class ListSource:
    """Rows in a list, served page by page like ``QueueReader.page`` with a little latency."""

    def __init__(self, n: int, state: JobState = JobState.WAITING) -> None:
        self.rows = [
            JobRow(id=f"job-{i:05d}", queue="q", state=state, description=f"Thesis: topic {i}")
            for i in range(n)
        ]
        self.calls: list[tuple[int, int]] = []

    async def page(self, offset: int, limit: int) -> JobPage:
        self.calls.append((offset, limit))
        await asyncio.sleep(0.001)
        return JobPage(
            "q", JobState.WAITING, offset, len(self.rows), tuple(self.rows[offset : offset + limit])
        )


def test_model_passes_qtmodeltester(qtmodeltester, loop) -> None:
    source = ListSource(30, JobState.ACTIVE)
    source.rows[3] = dataclasses.replace(source.rows[3], progress=40, stage="writing")
    source.rows[5] = dataclasses.replace(source.rows[5], problem="job hash has no 'data' field")
    model = JobTableModel(source.page, page_size=10)
    run(loop, model.refresh_now())
    assert model.rowCount() == 30 and len(model.rows) == 10
    qtmodeltester.check(model)
    assert model.data(model.index(3, COLUMN_KEYS.index("progress")), roles.PROGRESS_ROLE) == 40
    assert model.data(model.index(5, 0), roles.PROBLEM_ROLE)
    assert model.data(model.index(5, 0)).startswith("\u26a0")


def test_search_model_passes_qtmodeltester(qtmodeltester) -> None:
    model = SearchResultsModel()
    model.append_rows(
        [JobRow(id=f"j{i}", queue="q", state=JobState.FAILED, error_line="boom") for i in range(5)]
    )
    qtmodeltester.check(model)
    assert model.append_rows([JobRow(id="j1", queue="q", state=JobState.FAILED)]) == 0


def test_rows_span_the_state_and_pages_are_read_where_the_view_looks(qtbot, loop) -> None:
    source = ListSource(100_000)
    model = JobTableModel(source.page, page_size=50)
    view = QTableView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.setModel(model)
    view.show()
    run(loop, model.refresh_now())
    assert model.rowCount() == 100_000  # the page told the total: one row per job
    assert model.data(model.index(99_999, 0)) == PLACEHOLDER  # not read yet: a placeholder, at once
    model.set_window(70_010, 70_030)
    run(loop, wait_until(lambda: model.row_at(70_030) is not None, what="the rows at 70,000"))
    assert model.row_at(70_010).id == source.rows[70_010].id
    # Only the pages around the window were read, never everything above it.
    assert all(offset in (0, 69_950, 70_000, 70_050) for offset, _ in source.calls), source.calls


def test_far_pages_are_dropped(loop) -> None:
    source = ListSource(100_000)
    model = JobTableModel(source.page, page_size=50)
    run(loop, model.refresh_now())
    for first in range(0, 100_000, 5_000):
        model.set_window(first, first + 30)
        run(loop, wait_until(lambda f=first: model.row_at(f + 30) is not None))
    assert len(model.loaded_pages) <= KEEP_PAGES
    assert model.row_at(0) is None and model.row_at(95_030).id == source.rows[95_030].id


def test_a_thumb_drag_reads_only_where_it_stops(loop) -> None:
    source = ListSource(100_000)
    model = JobTableModel(source.page, page_size=50)
    run(loop, model.refresh_now())
    source.calls.clear()
    for first in range(0, 100_000, 1_000):  # the view passes many windows before the loop runs once
        model.set_window(first, first + 30)
    run(loop, wait_until(lambda: model.row_at(99_030) is not None and not model.busy))
    assert len(source.calls) <= 3, source.calls


def test_refresh_keeps_selection_and_current_row(qtbot, loop) -> None:
    source = ListSource(20)
    model = JobTableModel(source.page, page_size=50)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    run(loop, model.refresh_now())
    selection = view.selectionModel()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    selection.select(model.index(10, 0), flags)
    selection.setCurrentIndex(model.index(10, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
    selected_id = model.rows[10].id
    # Two jobs leave the head, one new job arrives on top, the selected job progresses.
    del source.rows[0:2]
    source.rows.insert(0, JobRow(id="new-job", queue="q", state=JobState.WAITING))
    i = next(i for i, r in enumerate(source.rows) if r.id == selected_id)
    source.rows[i] = dataclasses.replace(source.rows[i], stage="outline")
    run(loop, model.refresh_now())
    assert [r.id for r in model.rows] == [r.id for r in source.rows]
    rows = {ix.row() for ix in selection.selectedRows()}
    assert rows == {i}
    assert model.rows[i].id == selected_id and model.rows[i].stage == "outline"
    assert view.currentIndex().row() == i


def test_refresh_rereads_only_the_pages_in_view(loop) -> None:
    source = ListSource(3000)
    model = JobTableModel(source.page, page_size=500)
    run(loop, model.refresh_now())
    model.set_window(2100, 2140)
    run(loop, wait_until(lambda: model.row_at(2100) is not None))
    source.calls.clear()
    run(loop, model.refresh_now())
    assert sorted(source.calls) == [(1500, 500), (2000, 500)]
    assert model.rowCount() == 3000


def test_set_loader_resets_and_ignores_stale_pages(loop) -> None:
    slow, fast = ListSource(10), ListSource(3)
    model = JobTableModel(slow.page)
    model.refresh()
    model.set_loader(fast.page)
    run(loop, wait_until(lambda: not model.busy))
    assert [r.id for r in model.rows] == [r.id for r in fast.rows]


def test_load_failure_is_reported(qtbot, loop) -> None:
    async def broken(offset: int, limit: int) -> JobPage:
        raise ConnectionError("Redis went away")

    model = JobTableModel(broken)
    messages: list[str] = []
    model.loadFailed.connect(messages.append)
    run(loop, model.refresh_now())
    assert messages == ["Redis went away"]
    assert model.rowCount() == 0


@pytest.mark.parametrize("state", list(JobState))
def test_state_colours_and_tooltips(state: JobState) -> None:
    from PySide6.QtGui import QColor

    model = SearchResultsModel()
    model.set_colors({s.value: QColor("#123456") for s in JobState}, QColor("#ff0000"))
    model.append_rows(
        [JobRow(id="x", queue="q", state=state, error_line="RuntimeError: boom", enqueued_at=1.0)]
    )
    col = COLUMN_KEYS.index("state")
    assert model.data(model.index(0, col), Qt.ItemDataRole.ForegroundRole) == QColor("#123456")
    assert model.data(model.index(0, COLUMN_KEYS.index("error"))) == "RuntimeError: boom"
    assert model.data(model.index(0, COLUMN_KEYS.index("enqueued")), Qt.ItemDataRole.ToolTipRole)


def test_times_are_compact_with_the_full_time_in_the_tooltip() -> None:
    import time

    from thesis_console.ui.models.formatting import fmt_compact_time

    now = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))
    assert fmt_compact_time(now - 60, now) == "11:59:00"
    assert fmt_compact_time(now - 2 * 86400, now) == "28 Nov 12:00"
    assert fmt_compact_time(now - 400 * 86400, now) == "2025-10-26"
    assert fmt_compact_time(None, now) == ""
    model = SearchResultsModel()
    model.append_rows([JobRow(id="x", queue="q", state=JobState.WAITING, enqueued_at=now - 2 * 86400)])
    column = COLUMN_KEYS.index("enqueued")
    assert len(model.data(model.index(0, column))) <= 12
    assert model.data(model.index(0, column), Qt.ItemDataRole.ToolTipRole).startswith("2026-11-28")
