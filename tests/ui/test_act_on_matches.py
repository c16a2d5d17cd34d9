"""Acting on a search's matches, and Ctrl+A over a whole state, through the window against a real
Redis with real RQ jobs: the confirmation names the count and the query, a progress dialog runs the
action, and jobs that changed state since they matched are skipped with their reason."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import QUEUE, button, confirmation, show_state
from thesis_console.core import contract
from thesis_console.core.policy import JobAction
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.types import JobState
from thesis_console.ui.models.formatting import fmt_count
from thesis_console.ui.widgets.dialogs.bulk_action import BulkActionDialog


def _failed_jobs(redis_conn, descriptions: list[str]) -> list[str]:
    """Real failed jobs: enqueued with these descriptions and run by a real RQ worker."""
    queue = contract.thesis_queue(redis_conn, QUEUE)
    ids = [str(queue.enqueue("tests.jobs.boom", description=d).id) for d in descriptions]
    SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
    return ids


def test_delete_all_matches_skips_a_job_that_changed_since_it_matched(loop, window_factory, redis_conn, redis_url) -> None:
    *matched, other = _failed_jobs(redis_conn, ["alpha one", "alpha two", "alpha three", "beta"])

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        jobs, actions = window.jobs_view, window.job_actions
        show_state(window, JobState.FAILED)
        delete = actions.on_matches[JobAction.DELETE]
        assert not delete.isEnabled() and "search first" in delete.toolTip()
        await wait_until(lambda: jobs.queue == QUEUE, what="the queue shown")
        jobs.filter_edit.setText("alpha")
        jobs._start_search_now()
        await wait_until(lambda: not jobs.search_running() and len(jobs.matches()) == 3, what="the matches")
        assert delete.isEnabled() and jobs.matches_button.isEnabled()
        assert jobs.position_label.text() == ""  # it speaks of a table, not of the search
        cancel = actions.on_matches[JobAction.CANCEL]
        assert not cancel.isEnabled() and "a failed job cannot be canceled" in cancel.toolTip()
        # After the search, someone retries one of the matches: it is waiting now.
        FailedJobRegistry(QUEUE, connection=redis_conn, serializer=contract.SERIALIZER).requeue(matched[1])

        delete.trigger()
        box = await confirmation(window)
        assert "Delete all 3 matches of “alpha” in the failed jobs of thesis?" in box.text()
        assert box.defaultButton() is button(box, "Keep them")
        button(box, "Delete 3 matches").click()
        await wait_until(lambda: isinstance(window.active_dialog, BulkActionDialog), what="the progress dialog")
        dialog = window.active_dialog
        await wait_until(lambda: not dialog.running, what="the delete to finish")
        assert "Deleted 2 jobs of thesis" in dialog.label.text()
        assert "changed since it matched (it is waiting now)" in dialog.skips.text()
        assert matched[1] in dialog.skips.text()
        assert dialog.bar.value() == dialog.bar.maximum() == 3
        assert "Deleted 2 jobs of thesis; 1 skipped" in window.status_area.text()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()
        # The search runs again: nothing of "alpha" is failed any more.
        await wait_until(lambda: not jobs.search_running() and not jobs.matches(), what="the search again")

    run(loop, scenario())
    assert redis_conn.zrange(f"rq:failed:{QUEUE}", 0, -1) == [other.encode()]
    assert redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [matched[1].encode()]
    assert not redis_conn.exists(f"rq:job:{matched[0]}", f"rq:job:{matched[2]}")


def test_stopping_the_action_leaves_the_rest(loop, window_factory, redis_conn, redis_url) -> None:
    from tests.core.bulk_jobs import write_jobs

    write_jobs(redis_conn, QUEUE, JobState.FAILED, 3000, prefix="f", describe=lambda i: f"Thesis: needle {i}")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        jobs = window.jobs_view
        show_state(window, JobState.FAILED)
        await wait_until(lambda: jobs.queue == QUEUE, what="the queue shown")
        jobs.filter_edit.setText("needle")
        jobs._start_search_now()
        await wait_until(lambda: not jobs.search_running() and len(jobs.matches()) == 3000, 30, what="the matches")
        window.job_actions.on_matches[JobAction.DELETE].trigger()
        button(await confirmation(window), f"Delete {fmt_count(3000)} matches").click()
        await wait_until(lambda: isinstance(window.active_dialog, BulkActionDialog), what="the progress dialog")
        dialog = window.active_dialog
        await wait_until(lambda: dialog.bar.value() > 0, 30, what="the first chunk")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
        await wait_until(lambda: not dialog.running, 30, what="the delete to stop")
        assert "left failed" in dialog.label.text()
        left = redis_conn.zcard(f"rq:failed:{QUEUE}")
        assert 0 < left < 3000
        assert f"Deleted {fmt_count(3000 - left)} jobs" in dialog.label.text()

    run(loop, scenario(), 60)


def test_select_all_of_a_big_state_means_the_state(loop, window_factory, qtbot, redis_conn, redis_url) -> None:
    from tests.core.bulk_jobs import write_jobs

    total = 5000
    write_jobs(redis_conn, QUEUE, JobState.FAILED, total, prefix="f")

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        jobs, actions = window.jobs_view, window.job_actions
        show_state(window, JobState.FAILED)
        model, table = jobs.models[JobState.FAILED], jobs.tables[JobState.FAILED]
        await wait_until(lambda: model.rowCount() == total and model.row_at(0) is not None, what="the first page")
        table.setFocus()
        qtbot.keyClick(table, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        assert not model.all_read and jobs.whole_state_selected()
        assert f"all {fmt_count(total)} selected" in jobs.position_label.text()
        window.update_actions()
        assert not actions.act_cancel.isEnabled()
        assert not actions.act_copy_ids.isEnabled()
        assert f"all {fmt_count(total)} failed jobs are selected" in actions.act_copy_ids.toolTip()
        # Retry means "retry all failed", asking first with the state's count (not the rows read so far).
        assert actions.act_retry.isEnabled()
        actions.act_retry.trigger()
        box = await confirmation(window)
        assert f"Retry all {fmt_count(total)} failed jobs of the queue thesis?" in box.text()
        button(box, "Not now").click()
        await wait_until(lambda: window.active_dialog is None, what="the question closed")
        # Delete means "empty", which names the count too.
        assert actions.act_delete.isEnabled()
        actions.act_delete.trigger()
        await wait_until(lambda: window.active_dialog is not None, what="the empty dialog")
        dialog = window.active_dialog
        assert type(dialog).__name__ == "ConfirmEmptyDialog"
        assert dialog.ok_button.text() == f"Delete {fmt_count(total)} failed jobs"
        dialog.reject()

    run(loop, scenario(), 60)
    assert redis_conn.zcard(f"rq:failed:{QUEUE}") == total
