"""The Jobs view on a real Redis: models pass qtmodeltester with real rows, tables page lazily as the
user scrolls, and a refresh keeps the selection on the same job while rows move around it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QInputDialog
from rq import Queue

from tests.core.bulk_jobs import write_jobs
from tests.core.bullmq import bull_jobs
from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import show_state
from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import JobState
from thesis_console.ui.main_window import VIEW_JOBS
from thesis_console.ui.models.formatting import fmt_count
from thesis_console.ui.models.job_table import COLUMN_KEYS, KEEP_PAGES, PAGE_SIZE, PINNED_PAGES
from thesis_console.ui.widgets.jobs_view import JobsView

QUEUE = "thesis"


def many_waiting(redis_conn, n: int) -> None:
    queue = contract.thesis_queue(redis_conn, QUEUE)
    queue.enqueue_many([Queue.prepare_data("tests.jobs.noop", description=f"noop {i}") for i in range(n)])


def test_models_pass_qtmodeltester_with_real_rows(
    qtmodeltester, loop, window_factory, redis_conn, redis_url
) -> None:
    enqueue_thesis(redis_conn, ThesisRequest(topic="A real thesis row"), queue_name=QUEUE)
    many_waiting(redis_conn, 5)
    # A broken hash listed in the queue: a problem row.
    redis_conn.rpush(f"rq:queue:{QUEUE}", "no-such-job")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        model = window.jobs_view.models[JobState.WAITING]
        await wait_until(lambda: len(model.rows) == 7, what="7 rows")
        assert any(r.problem for r in model.rows)
        qtmodeltester.check(model)
        qtmodeltester.check(window.queue_model)
        window.jobs_view.filter_edit.setText("real thesis")
        window.jobs_view._start_search_now()
        await wait_until(lambda: window.jobs_view.search_model.rowCount() == 1, what="search row")
        qtmodeltester.check(window.jobs_view.search_model)

    run(loop, scenario())


def test_rows_are_read_where_the_view_looks(loop, window_factory, redis_conn, redis_url) -> None:
    many_waiting(redis_conn, PAGE_SIZE * 3 + 17)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        window.views.setCurrentIndex(VIEW_JOBS)
        model = window.jobs_view.models[JobState.WAITING]
        table = window.jobs_view.tables[JobState.WAITING]
        await wait_until(
            lambda: model.total == PAGE_SIZE * 3 + 17 and model.row_at(0) is not None, what="first page"
        )
        assert model.rowCount() == model.total  # the scrollbar spans the whole state at once
        assert model.row_at(PAGE_SIZE * 3) is None  # not read: nobody looked there
        table.scrollToBottom()
        await wait_until(lambda: model.row_at(model.total - 1) is not None, what="the last page")
        listed = [i.decode() for i in redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1)]
        assert [model.row_at(i).id for i in range(PAGE_SIZE * 3, model.total)] == listed[PAGE_SIZE * 3 :]
        assert window.jobs_view.tabs.tabText(0) == "Waiting 617"

    run(loop, scenario())


def click_header(table, column: int) -> None:
    header = table.horizontalHeader()
    QTest.mouseClick(
        header.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(header.sectionViewportPosition(column) + 8, 6),
    )


@pytest.mark.parametrize(
    ("state", "reverse"),
    [
        (JobState.WAITING, False),
        (JobState.COMPLETED, False),
        (JobState.WAITING, True),
        (JobState.COMPLETED, True),
    ],
)
def test_the_last_row_of_100000_is_reached(
    loop, window_factory, redis_conn, redis_url, state, reverse
) -> None:
    """Ctrl+End and the scrollbar's maximum both show the state's last job (as the core pages it), in both orders."""
    total = 100_000
    write_jobs(redis_conn, QUEUE, state, total)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        show_state(window, state)
        model, table = window.jobs_view.models[state], window.jobs_view.tables[state]
        await wait_until(lambda: model.total == total and model.row_at(0) is not None, what="the first rows")
        header = table.horizontalHeader()
        assert header.sortIndicatorSection() == model.order_column
        if reverse:
            first_before = model.row_at(0).id
            click_header(table, model.order_column)
            await wait_until(
                lambda: window.jobs_view.reversed_order(state) and model.row_at(0) is not None,
                what="reversed",
            )
            assert model.row_at(0).id != first_before and header.sortIndicatorSection() == model.order_column
        other = COLUMN_KEYS.index("description")
        click_header(table, other)  # not sortable: nothing changes, the indicator stays on the time column
        assert (
            header.sortIndicatorSection() == model.order_column
            and window.jobs_view.reversed_order(state) == reverse
        )
        assert "Not sortable" in model.headerData(
            other, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole
        )

        async def core_id(offset: int) -> str:
            return (await window.controller.page(QUEUE, state, offset, 1, reverse=reverse)).rows[0].id

        def bottom_row() -> int:
            return table.rowAt(table.viewport().height() - 1)

        last = await core_id(total - 1)
        table.setFocus()
        QTest.keyClick(table, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
        await wait_until(
            lambda: table.currentIndex().row() == total - 1, what=f"Ctrl+End {table.currentIndex().row()}"
        )
        await wait_until(
            lambda: model.row_at(total - 1) is not None,
            what=f"Ctrl+End row {model.loaded_pages} {model._window} {model._queued}",
        )
        assert model.row_at(total - 1).id == last and bottom_row() == total - 1
        assert window.jobs_view.current_row().id == last

        QTest.keyClick(table, Qt.Key.Key_Home, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: table.rowAt(0) == 0 and model.row_at(0) is not None, what="Ctrl+Home")
        assert model.row_at(0).id == await core_id(0)

        bar = table.verticalScrollBar()
        bar.setValue(bar.maximum() // 2)
        await wait_until(
            lambda: table.rowAt(0) > 1000 and model.row_at(table.rowAt(0)) is not None, what="the middle"
        )
        top = table.rowAt(0)
        assert model.row_at(top).id == await core_id(top)

        bar.setValue(bar.maximum())
        await wait_until(
            lambda: bottom_row() == total - 1 and model.row_at(total - 1) is not None,
            what="the end by the thumb",
        )
        assert model.row_at(total - 1).id == last
        assert len(model.rows) <= (KEEP_PAGES + PINNED_PAGES) * PAGE_SIZE  # far pages were dropped

    run(loop, scenario())


@pytest.mark.parametrize("reverse", [False, True])
def test_go_to_position(loop, window_factory, redis_conn, redis_url, reverse) -> None:
    total = 20_000
    write_jobs(redis_conn, QUEUE, JobState.WAITING, total)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        show_state(window, JobState.WAITING)
        jobs = window.jobs_view
        model, table = jobs.models[JobState.WAITING], jobs.tables[JobState.WAITING]
        await wait_until(lambda: model.total == total and model.row_at(0) is not None, what="the first rows")
        jobs.set_reversed(JobState.WAITING, reverse)
        await wait_until(lambda: model.row_at(0) is not None, what="the first rows in order")
        jobs.go_to_action.trigger()  # Ctrl+G
        dialog = jobs.findChild(QInputDialog, "goToPosition")
        assert dialog is not None and dialog.isVisible()
        dialog.setIntValue(12_345)
        dialog.accept()
        await wait_until(
            lambda: table.rowAt(0) == 12_344 and model.row_at(12_344) is not None, what="position 12,345"
        )
        wanted = (
            (await window.controller.page(QUEUE, JobState.WAITING, 12_344, 1, reverse=reverse)).rows[0].id
        )
        assert jobs.current_row().id == wanted
        readout = jobs.position_label.text()
        assert readout.startswith(f"rows {fmt_count(12_345)}–") and readout.endswith(
            f" of {fmt_count(total)}"
        )
        assert not jobs.go_to_position(20_001)  # past the end: said, nothing moves
        assert jobs.current_row().id == wanted

    run(loop, scenario())


def test_a_search_match_is_shown_at_its_real_position(loop, window_factory, redis_conn, redis_url) -> None:
    ids = write_jobs(redis_conn, QUEUE, JobState.COMPLETED, 30_000)
    wanted = ids[4_321]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        show_state(window, JobState.COMPLETED)
        jobs = window.jobs_view
        model, table = jobs.models[JobState.COMPLETED], jobs.tables[JobState.COMPLETED]
        await wait_until(lambda: model.row_at(0) is not None, what="the first rows")
        jobs.filter_edit.setText(wanted)
        jobs._start_search_now()
        await wait_until(lambda: [r.id for r in jobs.search_model.rows] == [wanted], what="the match")
        jobs.search_table.selectionModel().setCurrentIndex(
            jobs.search_model.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        jobs.search_show.click()
        position = 30_000 - 1 - 4_321  # newest first
        await wait_until(lambda: not jobs.searching() and model.row_at(position) is not None, what="the job in its table")
        assert jobs.current_row().id == wanted and jobs.selected_rows()[0].id == wanted
        assert table.rowAt(0) == position

    run(loop, scenario())


@pytest.mark.parametrize(("typed", "reverse"), [("exact", False), ("prefix", False), ("prefix", True)])
def test_a_bullmq_job_found_by_id_is_shown_at_its_real_position(
    loop, window_factory, redis_conn, redis_url, typed, reverse
) -> None:
    """Jumping to a BullMQ job by its id (whole or its start) among 5,000 waiting selects it in the
    Waiting table of its own queue at the row the core's page puts it on."""
    older = bull_jobs.write_bulk(redis_conn, JobState.WAITING, 2_500)
    (named,) = bull_jobs.add_jobs(redis_url, [({"topic": "the one to find"}, {"jobId": "thesis-7f3a9c41"})])
    newer = bull_jobs.write_bulk(redis_conn, JobState.WAITING, 2_499)
    wanted, text = (newer[1_234], newer[1_234]) if typed == "exact" else (named, "THESIS-7f3a")
    forward = 2_501 + 1_234 if typed == "exact" else 2_500
    position = 5_000 - 1 - forward if reverse else forward
    # The same id in another BullMQ queue: the jump looks in the queue on screen only.
    bull_jobs.add_jobs(redis_url, [({"topic": "elsewhere"}, {"jobId": "thesis-7f3a9c41"})], queue="other-queue")
    assert len(older) + 1 + len(newer) == 5_000

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.queue_model.row_of(bull_jobs.QUEUE) >= 0, what="the BullMQ queue listed")
        window.controller.select_queue(bull_jobs.QUEUE)
        show_state(window, JobState.WAITING)
        jobs = window.jobs_view
        model, table = jobs.models[JobState.WAITING], jobs.tables[JobState.WAITING]
        await wait_until(lambda: model.total == 5_000 and model.row_at(0) is not None, what="the first rows")
        jobs.set_reversed(JobState.WAITING, reverse)
        jobs.filter_edit.setText(text)
        jobs._start_search_now()
        await wait_until(lambda: wanted in [r.id for r in jobs.search_model.rows], what="the match")
        match = [r.id for r in jobs.search_model.rows].index(wanted)
        jobs.search_table.selectionModel().setCurrentIndex(
            jobs.search_model.index(match, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        jobs.search_show.click()
        await wait_until(lambda: not jobs.searching() and model.row_at(position) is not None, what="the job in its table")
        assert table.rowAt(0) == position and table.currentIndex().row() == position
        assert jobs.current_row().id == wanted and [r.id for r in jobs.selected_rows()] == [wanted]
        id_cell = model.index(position, COLUMN_KEYS.index("id"))
        assert model.data(id_cell, Qt.ItemDataRole.ToolTipRole).splitlines()[0] == wanted
        assert wanted.startswith(model.data(id_cell).rstrip("\u2026"))
        page = await window.controller.page(bull_jobs.QUEUE, JobState.WAITING, position, 1, reverse=reverse)
        assert page.rows[0].id == wanted

    run(loop, scenario())


def test_hidden_columns_are_kept_per_state(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Columns"), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        jobs = window.jobs_view
        waiting, failed = jobs.tables[JobState.WAITING], jobs.tables[JobState.FAILED]
        error, worker = COLUMN_KEYS.index("error"), COLUMN_KEYS.index("worker")
        assert waiting.isColumnHidden(error) and not failed.isColumnHidden(error)  # the defaults
        assert waiting.isColumnHidden(worker)
        jobs.set_column_visible(JobState.WAITING, "worker", True)
        jobs.set_column_visible(JobState.WAITING, "enqueued", False)
        assert not waiting.isColumnHidden(worker) and failed.isColumnHidden(worker)  # per state
        model = jobs.models[JobState.WAITING]
        await wait_until(lambda: model.row_at(0) is not None, what="the row")
        shown = model.data(model.index(0, 0))
        assert shown == job_id[:8] + "\u2026" and model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole) == job_id

        reopened = JobsView(window.controller, settings=window.settings)
        table = reopened.tables[JobState.WAITING]
        assert not table.isColumnHidden(worker) and table.isColumnHidden(COLUMN_KEYS.index("enqueued"))
        reopened.deleteLater()

    run(loop, scenario())


def test_refresh_keeps_selection_on_the_same_job(loop, window_factory, redis_conn, redis_url) -> None:
    ids = [enqueue_thesis(redis_conn, ThesisRequest(topic=f"Topic {i}"), queue_name=QUEUE) for i in range(6)]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        window.views.setCurrentIndex(VIEW_JOBS)
        model = window.jobs_view.models[JobState.WAITING]
        table = window.jobs_view.tables[JobState.WAITING]
        await wait_until(lambda: len(model.rows) == 6, what="6 rows")
        chosen = ids[3]
        table.selectionModel().setCurrentIndex(
            model.index(model.index_of(chosen), 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )
        # Jobs come and go around the selected one.
        first = enqueue_thesis(redis_conn, ThesisRequest(topic="Urgent"), queue_name=QUEUE, at_front=True)
        redis_conn.lrem(f"rq:queue:{QUEUE}", 1, ids[0])
        await wait_until(
            lambda: model.index_of(first) == 0 and model.index_of(ids[0]) < 0, what="the refresh"
        )
        selected = [model.row_at(ix.row()).id for ix in table.selectionModel().selectedRows()]
        assert selected == [chosen]
        assert window.jobs_view.current_row().id == chosen
        assert window.detail.row is not None and window.detail.row.id == chosen

    run(loop, scenario())


def test_switching_queue_and_state_reloads(loop, window_factory, redis_conn, redis_url) -> None:
    enqueue_thesis(redis_conn, ThesisRequest(topic="In thesis"), queue_name=QUEUE)
    other = enqueue_thesis(redis_conn, ThesisRequest(topic="In another queue"), queue_name="other")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.queue_model.row_of("other") >= 0, what="the other queue listed")
        row = window.queue_model.row_of("other")
        window.queue_list.setCurrentIndex(window.queue_model.index(row, 0))
        assert window.controller.current_queue == "other"
        model = window.jobs_view.models[JobState.WAITING]
        await wait_until(lambda: [r.id for r in model.rows] == [other], what="the other queue's job")
        assert window.settings.last_queue == "other"

    run(loop, scenario())


def test_tab_titles_round_large_counts() -> None:
    from thesis_console.ui.widgets.jobs_view import state_title

    assert state_title(JobState.WAITING, 999) == "Waiting 999"
    assert state_title(JobState.SCHEDULED, 1_234) == "Scheduled 1.2k"
    assert state_title(JobState.WAITING, 9_999) == "Waiting 9.9k"
    assert state_title(JobState.WAITING, 200_001) == "Waiting 200k"
    assert state_title(JobState.COMPLETED, 1_250_000) == "Completed 1.2M"
    assert state_title(JobState.FAILED, 3_000_000) == "Failed 3M"
    assert state_title(JobState.DEFERRED, None) == "Deferred"


def test_each_tab_keeps_its_own_scroll_position(loop, window_factory, redis_conn, redis_url) -> None:
    write_jobs(redis_conn, QUEUE, JobState.WAITING, 2_000)
    write_jobs(redis_conn, QUEUE, JobState.COMPLETED, 2_000, prefix="done")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        jobs = window.jobs_view
        for state, position in ((JobState.WAITING, 1_500), (JobState.COMPLETED, 300)):
            show_state(window, state)
            await wait_until(lambda s=state: jobs.models[s].total == 2_000, what=f"{state.value} counted")
            jobs.go_to_position(position)
            await wait_until(lambda s=state, p=position: jobs.tables[s].rowAt(0) == p - 1, what=f"{state.value} at {position}")
        show_state(window, JobState.WAITING)
        await wait_until(lambda: jobs.models[JobState.WAITING].row_at(1_499) is not None, what="the waiting rows")
        assert jobs.tables[JobState.WAITING].rowAt(0) == 1_499
        assert jobs.position_label.text().startswith(f"rows {fmt_count(1_500)}–")
        show_state(window, JobState.COMPLETED)
        assert jobs.tables[JobState.COMPLETED].rowAt(0) == 299
        assert jobs.position_label.text().startswith("rows 300–")

    run(loop, scenario())
