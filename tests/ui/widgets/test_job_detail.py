"""The detail panel (ui/widgets/job_detail.py) in the window, on jobs written to a real Redis."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import QUEUE, failed_job, select, wait_listed
from thesis_console.core import contract
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.types import JobState


def test_copy_ids_and_detail_sections(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.FAILED, job_id)
        select(window, JobState.FAILED, [job_id])
        window.job_actions.act_copy_ids.trigger()
        assert QApplication.clipboard().text() == job_id
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        assert "boom: planned test failure" in window.detail.section_text("traceback")
        assert "failed" in window.detail.section_text("timeline")
        window.detail.sections["traceback"].copy()
        assert "RuntimeError" in QApplication.clipboard().text()

    run(loop, scenario())


def test_pickled_payload_is_described_not_unpickled(loop, window_factory, redis_conn, redis_url) -> None:
    import pickle
    import zlib

    marker = "never-unpickled"
    data = zlib.compress(pickle.dumps(("os.system", None, ("echo " + marker,), {})))
    now = "2026-01-01T00:00:00.000000Z"
    redis_conn.hset("rq:job:pickled-1", mapping={
        "data": data, "status": "queued", "origin": QUEUE, "created_at": now, "enqueued_at": now, "description": "pickled job",
    })  # fmt: skip
    redis_conn.rpush(f"rq:queue:{QUEUE}", "pickled-1")
    redis_conn.sadd("rq:queues", f"rq:queue:{QUEUE}")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, "pickled-1")
        select(window, JobState.WAITING, ["pickled-1"])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        text = window.detail.section_text("arguments")
        assert "Pickled data" in text and "not unpickled" in text
        assert marker not in text

    run(loop, scenario())


def _set_meta(redis_conn, job_id: str, **meta) -> None:
    from rq.job import Job

    from thesis_console.core import contract

    job = Job.fetch(job_id, connection=redis_conn, serializer=contract.SERIALIZER)
    job.meta.update(meta)
    job.save_meta()


def test_a_hash_that_contradicts_its_registry_is_shown(loop, window_factory, redis_conn, redis_url) -> None:
    """A key in the failed registry whose hash says queued: the panel says so, not just "State: waiting"."""
    from tests.ui.window_helpers import request
    from thesis_console.core.producer import enqueue_thesis

    job_id = enqueue_thesis(redis_conn, request("Listed as failed, queued by its hash"), queue_name=QUEUE)
    redis_conn.lrem(f"rq:queue:{QUEUE}", 0, job_id)
    redis_conn.zadd(f"rq:failed:{QUEUE}", {job_id: 4_000_000_000})

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.FAILED, job_id)
        select(window, JobState.FAILED, [job_id])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        said = window.detail.status.text()
        assert "listed in the failed registry, but its hash says queued" in said, said
        assert "contradiction" in window.detail.summary_text()

    run(loop, scenario())


def test_a_waiting_job_shows_no_stale_progress(loop, window_factory, redis_conn, redis_url) -> None:
    """A job waiting again keeps its earlier attempt's progress in meta; neither table nor panel shows it."""
    from tests.ui.window_helpers import ids_in, request
    from thesis_console.core.producer import enqueue_thesis
    from thesis_console.ui.models.job_table import COLUMN_KEYS

    job_id = enqueue_thesis(redis_conn, request("Retried after chapter 3"), queue_name=QUEUE)
    _set_meta(redis_conn, job_id, progress=62, stage="chapter 3/5", updated_at=1_764_460_000.25)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, job_id)
        assert ids_in(window, JobState.WAITING) == [job_id]
        model = window.jobs_view.models[JobState.WAITING]
        for key in ("progress", "stage"):
            assert model.index(0, COLUMN_KEYS.index(key)).data() == "", key
        select(window, JobState.WAITING, [job_id])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        panel = window.detail
        assert panel.row.progress == 62  # the core reads it; the panel does not show it as this job's
        assert not panel.progress.isVisible()
        summary = panel.summary_text().replace(job_id, "")  # a random id may contain "62"
        assert "chapter 3/5" not in summary and "62" not in summary
        # Meta times are readable, not raw epoch floats.
        meta = panel.section_text("meta")
        from thesis_console.ui.models.formatting import fmt_full_time

        assert "1764460000" not in meta and fmt_full_time(1_764_460_000.25) in meta, meta

    run(loop, scenario())


def test_the_pickle_notice_is_said_once(loop, window_factory, redis_conn, redis_url) -> None:
    import pickle
    import zlib

    data = zlib.compress(pickle.dumps(("tests.jobs.ok", None, ("x",), {"y": 1})))
    now = "2026-01-01T00:00:00.000000Z"
    redis_conn.hset("rq:job:pickled-2", mapping={
        "data": data, "status": "queued", "origin": QUEUE, "created_at": now, "enqueued_at": now, "description": "pickled",
    })  # fmt: skip
    redis_conn.rpush(f"rq:queue:{QUEUE}", "pickled-2")
    redis_conn.sadd("rq:queues", f"rq:queue:{QUEUE}")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, "pickled-2")
        select(window, JobState.WAITING, ["pickled-2"])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        text = window.detail.section_text("arguments")
        assert text.count("not unpickled") == 1, text

    run(loop, scenario())


def test_the_tabs_do_not_move_with_the_progress_bar(qtbot) -> None:
    from thesis_console.core.types import JobRow
    from thesis_console.ui.controller import ConsoleController
    from thesis_console.ui.widgets.job_detail import JobDetailPanel

    controller = ConsoleController()
    panel = JobDetailPanel(controller)
    qtbot.addWidget(panel)
    panel.resize(420, 600)
    panel.show()
    running = JobRow("a1", QUEUE, JobState.ACTIVE, description="Thesis: A long running one", progress=40, stage="chapter 2/5")
    waiting = JobRow("w1", QUEUE, JobState.WAITING, description="Thesis: " + "A very long topic " * 8)
    tops = []
    for row in (running, waiting, running, None):
        panel.show_row(row)
        qtbot.wait(1)
        tops.append(panel.tabs.mapTo(panel, panel.tabs.rect().topLeft()).y())
    assert panel.progress.isHidden()
    assert len(set(tops[:3])) == 1, tops


def test_a_job_outside_the_allowlist_is_flagged_in_table_and_detail(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = contract.thesis_queue(redis_conn, QUEUE).enqueue("os.system", "touch /tmp/x").id

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, job_id)
        model = window.jobs_view.models[JobState.WAITING]
        index = model.index(model.index_of(job_id), 0)
        assert model.data(index) == f"\u26a0 {job_id[:8]}\u2026"  # the short id; the tooltip has it whole
        tooltip = "Problem with this job: function not allowed: os.system"
        assert model.data(index, Qt.ItemDataRole.ToolTipRole) == f"{job_id}\n{tooltip}"
        assert model.data(model.index(index.row(), 1), Qt.ItemDataRole.ToolTipRole) == tooltip
        select(window, JobState.WAITING, [job_id])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        assert "Problem" in window.detail.summary_text() and "function not allowed: os.system" in window.detail.summary_text()

    run(loop, scenario())


def test_a_bullmq_row_shows_its_own_queue_s_job_when_ids_repeat(loop, window_factory, redis_url) -> None:
    # BullMQ numbers jobs per queue: both queues have a job "1"; each row shows its own.
    from tests.core.bullmq.bull_jobs import add_jobs

    first = add_jobs(redis_url, [({"thesisId": "a", "topic": "Topic of the first queue"}, {})], queue="alpha")
    second = add_jobs(redis_url, [({"thesisId": "b", "topic": "Topic of the second queue"}, {})], queue="beta")
    assert first == second == ["1"]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.queue_model.row_of("beta") >= 0, what="the BullMQ queue listed")
        window.controller.select_queue("beta")
        await wait_listed(window, JobState.WAITING, "1")
        select(window, JobState.WAITING, ["1"])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        assert window.detail.detail.row.queue == "beta"
        assert "Topic of the second queue" in window.detail.section_text("arguments")
        assert "Topic of the first queue" not in window.detail.section_text("arguments")

    run(loop, scenario())
