"""The Jobs view on a real Redis: models pass qtmodeltester with real rows, tables page lazily as the
user scrolls, and a refresh keeps the selection on the same job while rows move around it."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel
from rq import Queue

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import JobState
from thesis_console.ui.main_window import VIEW_JOBS
from thesis_console.ui.models.job_table import PAGE_SIZE

QUEUE = "thesis"


def many_waiting(redis_conn, n: int) -> None:
    queue = contract.thesis_queue(redis_conn, QUEUE)
    queue.enqueue_many([Queue.prepare_data("tests.jobs.noop", description=f"noop {i}") for i in range(n)])


def test_models_pass_qtmodeltester_with_real_rows(qtmodeltester, loop, window_factory, redis_conn, redis_url) -> None:
    enqueue_thesis(redis_conn, ThesisRequest(topic="A real thesis row"), queue_name=QUEUE)
    many_waiting(redis_conn, 5)
    # A broken hash listed in the queue: a problem row.
    redis_conn.rpush(f"rq:queue:{QUEUE}", "no-such-job")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        model = window.jobs_view.models[JobState.WAITING]
        await wait_until(lambda: model.rowCount() == 7, what="7 rows")
        assert any(r.problem for r in model.rows)
        qtmodeltester.check(model)
        qtmodeltester.check(window.queue_model)
        window.jobs_view.filter_edit.setText("real thesis")
        window.jobs_view._start_search_now()
        await wait_until(lambda: window.jobs_view.search_model.rowCount() == 1, what="search row")
        qtmodeltester.check(window.jobs_view.search_model)

    run(loop, scenario())


def test_lazy_paging_fetches_more_on_scroll(loop, window_factory, redis_conn, redis_url) -> None:
    many_waiting(redis_conn, PAGE_SIZE * 3 + 17)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        window.views.setCurrentIndex(VIEW_JOBS)
        model = window.jobs_view.models[JobState.WAITING]
        table = window.jobs_view.tables[JobState.WAITING]
        await wait_until(lambda: model.rowCount() == PAGE_SIZE and model.total == PAGE_SIZE * 3 + 17, what="first page")
        for pages in (2, 3, 4):
            table.scrollToBottom()
            await wait_until(lambda p=pages: model.rowCount() >= min(PAGE_SIZE * p, model.total), what=f"{pages} pages")
        assert model.rowCount() == model.total
        ids = [r.id for r in model.rows]
        assert len(set(ids)) == len(ids)
        assert ids == [i.decode() for i in redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1)]
        assert "Waiting (617)" in window.jobs_view.tabs.tabText(0)

    run(loop, scenario())


def test_refresh_keeps_selection_on_the_same_job(loop, window_factory, redis_conn, redis_url) -> None:
    ids = [enqueue_thesis(redis_conn, ThesisRequest(topic=f"Topic {i}"), queue_name=QUEUE) for i in range(6)]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        window.views.setCurrentIndex(VIEW_JOBS)
        model = window.jobs_view.models[JobState.WAITING]
        table = window.jobs_view.tables[JobState.WAITING]
        await wait_until(lambda: model.rowCount() == 6, what="6 rows")
        chosen = ids[3]
        table.selectionModel().setCurrentIndex(
            model.index(model.index_of(chosen), 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
        )
        # Jobs come and go around the selected one.
        first = enqueue_thesis(redis_conn, ThesisRequest(topic="Urgent"), queue_name=QUEUE, at_front=True)
        redis_conn.lrem(f"rq:queue:{QUEUE}", 1, ids[0])
        await wait_until(lambda: model.index_of(first) == 0 and model.index_of(ids[0]) < 0, what="the refresh")
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
