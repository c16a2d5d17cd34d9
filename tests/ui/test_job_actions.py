"""The job actions (ui/job_actions.py) driven through the window against a real Redis: each action's
target is what the user selected, destructive ones ask first and name their jobs, and the outcome
reads right."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import (
    QUEUE,
    button,
    confirmation,
    failed_job,
    ids_in,
    request,
    select,
    show_state,
    start_worker,
    wait_listed,
)
from thesis_console.core.policy import JobAction
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.types import JobState


def test_retry_failed_job_from_context_menu(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.FAILED, job_id)
        table = window.jobs_view.tables[JobState.FAILED]
        model = window.jobs_view.models[JobState.FAILED]
        rect = table.visualRect(model.index(model.index_of(job_id), 1))
        table.customContextMenuRequested.emit(rect.center())
        menu = window.job_actions.menu
        retry = next(a for a in menu.actions() if a.text() == "Retry")
        assert retry.isEnabled()
        retry.trigger()
        menu.close()
        # No question for a retry: it is undone instead.
        await wait_until(lambda: "Retried 1 job" in window.status_area.text(), what="the notice")
        assert "Retried 1 jobs" not in window.status_area.text()
        assert window.active_dialog is None
        await wait_listed(window, JobState.WAITING, job_id)
        assert redis_conn.zscore(f"rq:failed:{QUEUE}", job_id) is None

    run(loop, scenario())


def test_cancel_waiting_job(loop, window_factory, redis_conn, redis_url) -> None:
    keep = enqueue_thesis(redis_conn, request("A job that stays"), queue_name=QUEUE)
    job_id = enqueue_thesis(redis_conn, request("A job to cancel"), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, job_id)
        select(window, JobState.WAITING, [job_id])
        assert window.job_actions.act_cancel.isEnabled()
        assert not window.job_actions.act_retry.isEnabled()
        assert "a waiting job is already queued" in window.job_actions.act_retry.toolTip()  # the policy's reason
        window.job_actions.act_cancel.trigger()
        box = await confirmation(window)
        assert job_id in box.text() and "A job to cancel" in box.text()
        button(box, "Cancel 1 job").click()
        await wait_listed(window, JobState.CANCELED, job_id)
        assert ids_in(window, JobState.CANCELED) == [job_id]

    run(loop, scenario())
    assert redis_conn.hget(f"rq:job:{job_id}", "status") == b"canceled"
    assert redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [keep.encode()]


def test_delete_key_asks_then_cancels(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = enqueue_thesis(redis_conn, request("Cancelled with the Delete key"), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, job_id)
        select(window, JobState.WAITING, [job_id])
        window.job_actions.act_remove_key.trigger()
        box = await confirmation(window)
        assert "Cancel 1 job" in box.text() and job_id in box.text()
        button(box, "Cancel 1 job").click()
        await wait_listed(window, JobState.CANCELED, job_id)

    run(loop, scenario())


def test_stop_running_job(loop, window_factory, redis_conn, redis_url, processes, isolated_env, tmp_path) -> None:
    job_id = enqueue_thesis(redis_conn, request("A long job to stop", pace_s=3.0), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        start_worker(processes, redis_url, tmp_path)
        await wait_listed(window, JobState.ACTIVE, job_id, timeout=30)
        select(window, JobState.ACTIVE, [job_id])
        assert window.job_actions.act_stop.isEnabled() and not window.job_actions.act_cancel.isEnabled()
        window.job_actions.act_stop.trigger()
        box = await confirmation(window)
        assert box.defaultButton() is button(box, "Let it run")
        button(box, "Stop 1 job").click()
        await wait_listed(window, JobState.FAILED, job_id, timeout=30)
        row = window.jobs_view.models[JobState.FAILED].rows[0]
        assert row.status == "stopped"

    run(loop, scenario(), 60)


def test_empty_state_needs_the_queue_name(qtbot, loop, window_factory, redis_conn, redis_url) -> None:
    from thesis_console.ui.widgets.dialogs.confirm_empty import ConfirmEmptyDialog

    for _ in range(3):
        failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        show_state(window, JobState.FAILED)
        await wait_until(lambda: len(ids_in(window, JobState.FAILED)) == 3, what="3 failed")
        window.update_actions()
        window.job_actions.act_empty.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, ConfirmEmptyDialog), what="the dialog")
        dialog = window.active_dialog
        assert dialog.ok_button.text() == "Delete 3 failed jobs" and dialog.keep_button.text() == "Keep them"
        qtbot.keyClicks(dialog.confirm_edit, "thesi")
        assert not dialog.ok_button.isEnabled()
        qtbot.keyClicks(dialog.confirm_edit, "s")
        assert dialog.ok_button.isEnabled()
        # Enter keeps the jobs, even with the name typed: only the button deletes.
        qtbot.keyClick(dialog.confirm_edit, Qt.Key.Key_Return)
        await wait_until(lambda: window.active_dialog is None, what="the dialog closed")
        assert redis_conn.zcard(f"rq:failed:{QUEUE}") == 3
        window.job_actions.act_empty.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, ConfirmEmptyDialog), what="the dialog again")
        dialog = window.active_dialog
        qtbot.keyClicks(dialog.confirm_edit, "thesis")
        dialog.ok_button.click()
        await wait_until(lambda: redis_conn.zcard(f"rq:failed:{QUEUE}") == 0, what="failed emptied")
        await wait_until(lambda: not ids_in(window, JobState.FAILED), what="table emptied")

    run(loop, scenario())


def test_retry_all_failed_with_progress_dialog(loop, window_factory, redis_conn, redis_url) -> None:
    from thesis_console.ui.widgets.dialogs.retry_all import RetryAllDialog

    ids = {failed_job(redis_conn) for _ in range(4)}
    redis_conn.hset("rq:job:half-written", "status", "failed")  # skipped as a broken job hash
    redis_conn.zadd(f"rq:failed:{QUEUE}", {"half-written": time.time() + 60})

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.job_actions.act_retry_all.isEnabled(), what="retry all enabled")
        window.job_actions.act_retry_all.trigger()
        # It asks first, naming the queue and the count; the safe button is the default.
        box = await confirmation(window)
        assert "Retry all 5 failed jobs of the queue thesis?" in box.text()
        assert box.defaultButton() is button(box, "Not now")
        button(box, "Retry 5 failed jobs").click()
        await wait_until(lambda: isinstance(window.active_dialog, RetryAllDialog), what="the progress dialog")
        dialog = window.active_dialog
        await wait_until(lambda: not dialog.running, what="the retry to finish")
        assert "Retried 4 jobs" in dialog.label.text()
        assert "1 — broken job hash (half-written)" in dialog.skips.text(), dialog.skips.text()
        assert dialog.bar.value() == dialog.bar.maximum()
        assert "Retried 4 jobs of thesis; 1 skipped: 1 broken job hash (half-written)" in window.status_area.text()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()

    run(loop, scenario())
    assert redis_conn.zrange(f"rq:failed:{QUEUE}", 0, -1) == [b"half-written"]
    assert {i.decode() for i in redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1)} == ids


def test_retry_all_failed_can_be_cancelled(loop, window_factory, redis_conn, redis_url) -> None:
    from tests.core.bulk_jobs import write_jobs
    from thesis_console.ui.widgets.dialogs.retry_all import RetryAllDialog

    write_jobs(redis_conn, QUEUE, JobState.FAILED, 40_000, prefix="f", batch=10_000)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.job_actions.act_retry_all.isEnabled(), what="retry all enabled")
        window.job_actions.act_retry_all.trigger()
        button(await confirmation(window), "Retry 40\u202f000 failed jobs").click()
        await wait_until(lambda: isinstance(window.active_dialog, RetryAllDialog), what="the dialog")
        dialog = window.active_dialog
        await wait_until(lambda: dialog.bar.value() > 0, what="the first chunk")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
        await wait_until(lambda: not dialog.running, 30, what="the retry to stop")
        assert "left failed" in dialog.label.text()
        requeued = redis_conn.llen(f"rq:queue:{QUEUE}")
        assert 0 < requeued < 40_000
        assert redis_conn.zcard(f"rq:failed:{QUEUE}") == 40_000 - requeued

    run(loop, scenario(), 60)


async def _activate(window) -> None:
    # Focus needs an active window; offscreen, activation must be asked for.
    window.windowHandle().requestActivate()
    await wait_until(lambda: QApplication.activeWindow() is window, what="the window active")


def test_the_next_row_never_becomes_the_target(loop, window_factory, redis_conn, redis_url) -> None:
    """Waiting, select job #12 of 13, Cancel: the row leaves, no other row is selected or current, the
    detail panel keeps #12 and says where it went, Cancel is disabled (a second Cancel cancels nothing),
    and the keyboard focus is back in the table."""
    ids = [enqueue_thesis(redis_conn, request(f"Numbered job {i + 1}"), queue_name=QUEUE) for i in range(13)]
    target, neighbour = ids[11], ids[10]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, ids[-1])
        await _activate(window)
        select(window, JobState.WAITING, [target])
        table = window.jobs_view.tables[JobState.WAITING]
        table.setFocus()
        panel = window.detail
        await wait_until(lambda: panel.detail is not None and panel.detail.row.id == target, what="the detail")
        window.job_actions.act_cancel.trigger()
        button(await confirmation(window), "Cancel 1 job").click()
        await wait_until(lambda: target not in [r.id for r in window.jobs_view.models[JobState.WAITING].rows],
                         what="the row gone")  # fmt: skip
        await wait_until(lambda: "now canceled" in panel.status.text(), what="the panel saying where it went")
        assert window.selected_rows() == []
        assert not table.currentIndex().isValid()
        assert not window.job_actions.act_cancel.isEnabled() and not window.job_actions.act_delete.isEnabled()
        assert panel.row.id == target and panel.row.state == JobState.CANCELED
        # The panel's actions are those of the new state.
        assert panel.action_buttons[JobAction.RETRY].isVisibleTo(panel)
        assert not panel.action_buttons[JobAction.CANCEL].isVisibleTo(panel)
        assert window.focusWidget() is table  # the keyboard focus is back in the table
        window.job_actions.act_cancel.trigger()  # disabled: nothing happens
        assert window.active_dialog is None

    run(loop, scenario())
    assert redis_conn.hget(f"rq:job:{target}", "status") == b"canceled"
    assert redis_conn.hget(f"rq:job:{neighbour}", "status") == b"queued"
    assert redis_conn.llen(f"rq:queue:{QUEUE}") == 12


def test_multi_selection_survives_refreshes_by_job_id(loop, window_factory, redis_conn, redis_url) -> None:
    """Three jobs selected; jobs are queued in front of them and one of them is canceled elsewhere: the
    two still listed stay selected (by id, wherever their rows moved), the canceled one is deselected."""
    ids = [enqueue_thesis(redis_conn, request(f"Kept job {i}"), queue_name=QUEUE) for i in range(6)]
    chosen = [ids[1], ids[3], ids[4]]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, ids[-1])
        select(window, JobState.WAITING, chosen)
        front = [enqueue_thesis(redis_conn, request(f"Pushed in front {i}"), queue_name=QUEUE, at_front=True)
                 for i in range(3)]  # fmt: skip
        from rq.job import Job

        from thesis_console.core import contract

        Job.fetch(ids[3], connection=redis_conn, serializer=contract.SERIALIZER).cancel()
        await wait_until(lambda: front[0] in [r.id for r in window.jobs_view.models[JobState.WAITING].rows],
                         what="the new rows")  # fmt: skip
        await wait_until(lambda: ids[3] not in [r.id for r in window.jobs_view.models[JobState.WAITING].rows],
                         what="the canceled row gone")  # fmt: skip
        assert [r.id for r in window.selected_rows()] == [ids[1], ids[4]]
        assert window.job_actions.act_cancel.isEnabled()

    run(loop, scenario())


def test_confirmations_name_their_jobs_and_enter_keeps_them(qtbot, loop, window_factory, redis_conn, redis_url) -> None:
    """Delete 7 selected jobs: the question counts them and names the first 3, the buttons are verbs and
    the safe one is the default: Enter deletes nothing. Then the verb button deletes all 7."""
    ids = [failed_job(redis_conn) for _ in range(7)]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        show_state(window, JobState.FAILED)
        await wait_until(lambda: len(ids_in(window, JobState.FAILED)) == 7, what="7 failed")
        listed = ids_in(window, JobState.FAILED)
        select(window, JobState.FAILED, listed)
        window.job_actions.act_delete.trigger()
        box = await confirmation(window)
        text = box.text()
        assert "Delete 7 jobs of thesis?" in text
        assert all(job_id in text for job_id in listed[:3]) and not any(job_id in text for job_id in listed[3:])
        assert "and 4 more" in text and "boom for the test" in text
        assert box.defaultButton() is button(box, "Keep them")
        assert {b.text() for b in box.buttons()} == {"Delete 7 jobs", "Keep them"}
        qtbot.keyClick(box, Qt.Key.Key_Return)
        await wait_until(lambda: window.active_dialog is None, what="the question closed")
        assert all(redis_conn.exists(f"rq:job:{job_id}") for job_id in ids)
        window.job_actions.act_delete.trigger()
        button(await confirmation(window), "Delete 7 jobs").click()
        await wait_until(lambda: "Deleted 7 jobs" in window.status_area.text(), what="the notice")

    run(loop, scenario())
    assert not any(redis_conn.exists(f"rq:job:{job_id}") for job_id in ids)


def test_retry_all_reports_the_skip_reasons(loop, window_factory, redis_conn, redis_url) -> None:
    """Two failed jobs and a registry entry whose hash is gone: two retried, the third reported with
    the core's reason, in the dialog and in the status area."""
    from thesis_console.ui.widgets.dialogs.retry_all import RetryAllDialog

    ids = {failed_job(redis_conn) for _ in range(2)}
    redis_conn.zadd(f"rq:failed:{QUEUE}", {"gone-1": 4_000_000_000})

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.job_actions.act_retry_all.isEnabled(), what="retry all enabled")
        window.job_actions.act_retry_all.trigger()
        button(await confirmation(window), "Retry 3 failed jobs").click()
        await wait_until(lambda: isinstance(window.active_dialog, RetryAllDialog), what="the progress dialog")
        dialog = window.active_dialog
        await wait_until(lambda: not dialog.running, what="the retry to finish")
        assert "Retried 2 jobs" in dialog.label.text()
        skips = dialog.skips.text()
        assert dialog.skips.isVisible() and "Skipped 1 job" in skips and "gone-1" in skips, skips
        assert "no such job" in skips, skips
        assert "Retried 2 jobs of thesis; 1 skipped" in window.status_area.text()
        dialog.accept()

    run(loop, scenario())
    assert {i.decode() for i in redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1)} == ids


def test_retry_asks_nothing_and_offers_undo(loop, window_factory, redis_conn, redis_url) -> None:
    """Retry of selected jobs runs at once; its notice offers Undo, which puts the job (not yet taken by
    a worker) back in the failed registry."""
    job_id = failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.FAILED, job_id)
        select(window, JobState.FAILED, [job_id])
        said: list[str] = []
        window.controller.noticePosted.connect(lambda notice: said.append(notice.text))
        window.job_actions.act_retry.trigger()
        area = window.status_area
        await wait_until(lambda: area.undo_button.isVisibleTo(window), what="Undo offered")
        assert window.active_dialog is None and "Retried 1 job" in area.text()
        assert redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [job_id.encode()]
        area.undo_button.click()
        assert not area.undo_button.isVisibleTo(window)  # once
        await wait_until(lambda: "Undid the retry of 1 job" in said, what="the undo's notice")
        undone_at = time.time()
        await wait_listed(window, JobState.FAILED, job_id)
        # A snapshot read after the undo counts the job in Failed again: the operator's doing, not news.
        await wait_until(
            lambda: (s := window.controller.snapshot) is not None and s.taken_at > undone_at and s.queue(QUEUE).failed == 1,
            what="a snapshot after the undo",
        )
        assert not [text for text in said if "new failed job" in text]

    run(loop, scenario())
    assert redis_conn.llen(f"rq:queue:{QUEUE}") == 0
    assert redis_conn.zscore(f"rq:failed:{QUEUE}", job_id) is not None
    assert redis_conn.hget(f"rq:job:{job_id}", "status") == b"failed"


def test_enqueue_now_promotes_a_scheduled_job(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = enqueue_thesis(redis_conn, request("Scheduled for later"), queue_name=QUEUE, delay_s=3600)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.SCHEDULED, job_id)
        select(window, JobState.SCHEDULED, [job_id])
        assert window.job_actions.act_promote.isEnabled() and not window.job_actions.act_retry.isEnabled()
        window.job_actions.act_promote.trigger()
        await wait_listed(window, JobState.WAITING, job_id)  # a refresh may list it before the notice shows
        await wait_until(lambda: "Enqueued 1 job now" in window.status_area.text(), what="the notice")

    run(loop, scenario())
