"""The window's actions on a BullMQ queue go through the core's one entry to BullMQ's scripts: each changes
exactly the chosen job, the policy's BullMQ reasons disable what BullMQ cannot do, retry all gives fresh
attempts, the pause button is BullMQ's own pause, the Enqueue dialog shows and keeps the queue's job
options, and the demo runs on a BullMQ queue."""

from __future__ import annotations

import json

import pytest

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce
from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import button, confirmation, ids_in, select, wait_listed
from thesis_console.core.bullmq.job_defaults import SEED_OPTIONS
from thesis_console.core.profiles import ConnectionProfile, ProfileStore, ad_hoc_profile
from thesis_console.core.types import JobState
from thesis_console.ui.widgets.dialogs.enqueue import EnqueueDialog


def _failed_by_node(redis_conn, redis_url, count: int) -> list[str]:
    ids = produce(redis_url, [{"thesisId": f"f{i}", "topic": f"Failing {i}", "fail": True} for i in range(count)],
                  opts={"attempts": 1})  # fmt: skip
    worker = NodeWorker(redis_url)
    try:
        worker.wait_ready()
        wait_for(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == count, message="the jobs failed")
    finally:
        worker.stop()
    return ids


async def _window_on_bull_queue(window_factory, profile):
    window = await window_factory(profile)
    await wait_until(lambda: window.queue_model.row_of(QUEUE) >= 0, what="the BullMQ queue listed")
    window.controller.select_queue(QUEUE)
    return window


@pytest.mark.slow(20)
def test_window_actions_on_bullmq_rows_change_exactly_the_chosen_jobs(loop, window_factory, redis_conn, redis_url) -> None:
    failed = _failed_by_node(redis_conn, redis_url, 3)
    waiting = add_jobs(redis_url, [({"thesisId": f"w{i}", "topic": f"Waiting {i}"}, {}) for i in range(3)])

    async def scenario() -> None:
        window = await _window_on_bull_queue(window_factory, ad_hoc_profile(redis_url))
        actions = window.job_actions

        # Retry one failed job: BullMQ's retry, only that job, with fresh attempts.
        await wait_listed(window, JobState.FAILED, failed[1])
        select(window, JobState.FAILED, [failed[1]])
        assert actions.act_retry.isEnabled()
        actions.act_retry.trigger()
        await wait_until(lambda: redis_conn.zscore(f"bull:{QUEUE}:failed", failed[1]) is None, what="the job retried")
        assert redis_conn.lrange(f"bull:{QUEUE}:wait", 0, -1)[0] == failed[1].encode()
        assert redis_conn.hget(f"bull:{QUEUE}:{failed[1]}", "atm") is None
        assert [redis_conn.hget(f"bull:{QUEUE}:{i}", "atm") for i in (failed[0], failed[2])] == [b"1", b"1"]
        assert redis_conn.zcard(f"bull:{QUEUE}:failed") == 2

        # Stop is disabled on a BullMQ job with the policy's BullMQ reason; Cancel removes the one job.
        await wait_listed(window, JobState.WAITING, waiting[1])
        select(window, JobState.WAITING, [waiting[1]])
        assert not actions.act_stop.isEnabled()
        assert "BullMQ offers no way to stop a running job" in actions.act_stop.toolTip()
        actions.act_cancel.trigger()
        box = await confirmation(window)
        assert waiting[1] in box.text() and "removed" in box.text()
        button(box, "Cancel 1 job").click()
        await wait_until(lambda: not redis_conn.exists(f"bull:{QUEUE}:{waiting[1]}"), what="the job removed")
        assert all(redis_conn.exists(f"bull:{QUEUE}:{i}") for i in (waiting[0], waiting[2]))
        await wait_until(lambda: waiting[1] not in ids_in(window, JobState.WAITING), what="the row gone")

        # Retry all failed: the confirmation says the attempts start again; the rest are retried.
        actions.update()
        assert actions.act_retry_all.isEnabled()
        actions.act_retry_all.trigger()
        box = await confirmation(window)
        assert "fresh set of attempts" in box.text()
        button(box, "Retry 2 failed jobs").click()
        await wait_until(lambda: redis_conn.zcard(f"bull:{QUEUE}:failed") == 0, what="all failed jobs retried")
        assert all(redis_conn.hget(f"bull:{QUEUE}:{i}", "atm") is None for i in failed)
        dialog = window.active_dialog
        await wait_until(lambda: "Retried 2 jobs" in dialog.label.text(), what="the bulk retry's report")
        dialog.reject()

        # The Overview's pause button: BullMQ's own pause, then resume.
        overview = window.overview
        await wait_until(lambda: overview.pause_button.isEnabled(), what="Pause offered on a BullMQ queue")
        overview.pause_button.click()
        await wait_until(lambda: redis_conn.hget(f"bull:{QUEUE}:meta", "paused") == b"1", what="BullMQ's pause")
        await wait_until(lambda: overview.pause_button.text() == "Resume queue", what="Resume offered")
        overview.pause_button.click()
        await wait_until(lambda: redis_conn.hget(f"bull:{QUEUE}:meta", "paused") is None, what="resumed")

    run(loop, scenario(), 90)


def test_the_enqueue_dialog_shows_edits_and_keeps_a_bullmq_queue_job_options(qtbot, loop, window_factory, redis_conn, redis_url, tmp_path) -> None:
    add_jobs(redis_url, [({"thesisId": "x", "topic": "makes the queue known"}, {})])
    profile = ConnectionProfile(name="node system", url=redis_url)

    async def scenario() -> None:
        window = await _window_on_bull_queue(window_factory, profile)
        window.store.put(profile)
        dialog = EnqueueDialog(window.controller, window, store=window.store)
        dialog.show()
        assert dialog.bull_group.isVisible()
        assert dialog.job_name.text() == "generate-thesis"
        assert json.loads(dialog.job_options.toPlainText()) == SEED_OPTIONS
        dialog.queue.setCurrentText("thesis")  # an RQ queue: no BullMQ options
        assert not dialog.bull_group.isVisible()
        dialog.queue.setCurrentText(QUEUE)
        assert dialog.bull_group.isVisible()

        qtbot.keyClicks(dialog.topic, "A thesis with five attempts")
        dialog.job_options.setPlainText('{"attempts": 0}')
        assert "options.attempts must be a whole number from 1 to 1000, got 0" in dialog.error_text("job_options")
        assert not dialog.submit_button.isEnabled()
        dialog.job_options.setPlainText(json.dumps({**SEED_OPTIONS, "attempts": 5}))
        dialog.keep_defaults.setChecked(True)
        assert dialog.submit_button.isEnabled()
        dialog.submit()
        await wait_until(lambda: dialog.job_id is not None, what="the job added")
        job = redis_conn.hgetall(f"bull:{QUEUE}:{dialog.job_id}")
        assert job[b"name"] == b"generate-thesis" and json.loads(job[b"opts"])["attempts"] == 5
        assert json.loads(job[b"data"])["topic"] == "A thesis with five attempts"
        saved = ProfileStore(window.store.path).get("node system")
        assert saved.job_defaults(QUEUE).options["attempts"] == 5  # kept with the profile
        again = EnqueueDialog(window.controller, window, store=window.store)
        assert json.loads(again.job_options.toPlainText())["attempts"] == 5

    run(loop, scenario(), 60)


@pytest.mark.slow(40)
def test_the_demo_runs_on_a_bullmq_queue(loop, window_factory, redis_conn, redis_url, isolated_env) -> None:
    add_jobs(redis_url, [({"thesisId": "x", "topic": "makes the queue known"}, {})])

    async def scenario() -> None:
        window = await _window_on_bull_queue(window_factory, ad_hoc_profile(redis_url))
        window.local_workers._stop_grace_s = 1.0
        window.act_demo.trigger()
        await wait_until(lambda: window.local_workers.is_running(), 20, what="local workers running")
        samples = lambda: redis_conn.zcard(f"bull:{QUEUE}:delayed") >= 1 and int(redis_conn.get(f"bull:{QUEUE}:id")) == 10  # noqa: E731
        await wait_until(samples, what="the samples added to the BullMQ queue")
        assert not redis_conn.exists("rq:queue:" + QUEUE)
        counts = lambda: window.controller.snapshot.queue(QUEUE)  # noqa: E731
        await wait_until(lambda: counts().completed > 0, 60, what="a demo job completed by a Python BullMQ worker")
        window.local_workers.stop()
        await wait_until(lambda: not window.local_workers.is_running(), 40, what="the local workers stopped")

    run(loop, scenario(), 120)
