"""The main window driven as a person would, against a real Redis and real worker processes.

Each test runs one scenario coroutine on the qasync loop (see the ``window_factory`` fixture for why
the loop keeps running for the whole scenario): it builds a window connected to the session's
redis-server (an ad-hoc profile), clicks, types and waits, and checks what the window shows and
what Redis holds.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox
from rq import SimpleWorker

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import JobState, ReadOnlyError
from thesis_console.ui.main_window import VIEW_JOBS, MainWindow
from thesis_console.ui.widgets.dialogs.enqueue import EnqueueDialog

QUEUE = "thesis"


def ids_in(window: MainWindow, state: JobState) -> list[str]:
    return [r.id for r in window.jobs_view.models[state].rows]


def show_state(window: MainWindow, state: JobState) -> None:
    window.views.setCurrentIndex(VIEW_JOBS)
    window.jobs_view.select_state(state)


def select(window: MainWindow, state: JobState, job_ids: list[str]) -> None:
    show_state(window, state)
    model = window.jobs_view.models[state]
    table = window.jobs_view.tables[state]
    table.clearSelection()
    for job_id in job_ids:
        row = model.index_of(job_id)
        assert row >= 0, f"{job_id} not listed in {state}"
        table.selectionModel().select(
            model.index(row, 0), QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        )
    table.selectionModel().setCurrentIndex(model.index(model.index_of(job_ids[0]), 0), QItemSelectionModel.SelectionFlag.NoUpdate)
    window.update_actions()


async def wait_listed(window: MainWindow, state: JobState, job_id: str, timeout: float = 20.0) -> None:
    show_state(window, state)
    await wait_until(lambda: job_id in ids_in(window, state), timeout, what=f"{job_id} in {state.value}")


def request(topic: str = "Queues in distributed systems", **options) -> ThesisRequest:
    return ThesisRequest(topic=topic, chapters=3, target_words=1000, options=options)


def failed_job(redis_conn) -> str:
    """A job that fails at once, run by a real RQ worker in this process (no retries)."""
    queue = contract.thesis_queue(redis_conn, QUEUE)
    job = queue.enqueue("tests.jobs.boom", description="boom for the test")
    SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
    return str(job.id)


def start_worker(processes, redis_url: str, tmp_path) -> None:
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--queue", QUEUE, "-n", "1",
        "--log-dir", str(tmp_path / "worker-logs"), "--heartbeat", "0.5",
    )  # fmt: skip


# --------------------------------------------------------------------------- the flows
def test_enqueue_through_dialog_then_progress_and_completion(qtbot, loop, window_factory, redis_conn, redis_url,
                                                            processes, isolated_env, tmp_path) -> None:  # fmt: skip
    from thesis_console.ui.models import roles
    from thesis_console.ui.models.job_table import PROGRESS_COLUMN

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        window.act_enqueue.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, EnqueueDialog), what="the enqueue dialog")
        dialog = window.active_dialog
        assert isinstance(dialog, EnqueueDialog)
        qtbot.keyClicks(dialog.topic, "Lock-free queues on many-core machines")
        dialog.chapters.setValue(3)
        dialog.target_words.setValue(1000)
        dialog.demo_group.setChecked(True)
        dialog.pace.setValue(0.4)
        assert dialog.submit_button.isEnabled()
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: dialog.job_id is not None and window.active_dialog is None, what="the job id")
        job_id = dialog.job_id
        assert job_id in window.status_area.text()
        await wait_listed(window, JobState.WAITING, job_id)
        assert "Waiting (1)" in window.jobs_view.tabs.tabText(0)

        start_worker(processes, redis_url, tmp_path)
        show_state(window, JobState.ACTIVE)
        model = window.jobs_view.models[JobState.ACTIVE]

        def progressing() -> bool:
            row = model.row_at(model.index_of(job_id))
            return row is not None and (row.progress or 0) > 0

        await wait_until(progressing, 30, what="the job running with progress")
        # The progress column carries a bar for the delegate.
        assert model.data(model.index(model.index_of(job_id), PROGRESS_COLUMN), roles.PROGRESS_ROLE) is not None
        await wait_listed(window, JobState.COMPLETED, job_id, timeout=30)
        select(window, JobState.COMPLETED, [job_id])
        await wait_until(lambda: window.detail.detail is not None and window.detail.detail.row.id == job_id, what="detail")
        assert '"path"' in window.detail.section_text("result")
        assert "Lock-free queues" in window.detail.section_text("arguments")

    run(loop, scenario(), 90)


def test_retry_failed_job_from_context_menu(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.FAILED, job_id)
        table = window.jobs_view.tables[JobState.FAILED]
        model = window.jobs_view.models[JobState.FAILED]
        rect = table.visualRect(model.index(model.index_of(job_id), 1))
        table.customContextMenuRequested.emit(rect.center())
        menu = window.context_menu
        retry = next(a for a in menu.actions() if a.text() == "Retry")
        assert retry.isEnabled()
        retry.trigger()
        menu.close()
        await wait_listed(window, JobState.WAITING, job_id)
        assert redis_conn.zscore(f"rq:failed:{QUEUE}", job_id) is None
        assert "retry: 1 done" in window.status_area.text()

    run(loop, scenario())


def test_cancel_waiting_job(loop, window_factory, redis_conn, redis_url) -> None:
    keep = enqueue_thesis(redis_conn, request("A job that stays"), queue_name=QUEUE)
    job_id = enqueue_thesis(redis_conn, request("A job to cancel"), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, job_id)
        select(window, JobState.WAITING, [job_id])
        assert window.act_cancel.isEnabled()
        assert not window.act_retry.isEnabled() and "select failed" in window.act_retry.toolTip()
        window.act_cancel.trigger()
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
        window.act_remove_key.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, QMessageBox), what="the confirmation")
        box = window.active_dialog
        assert "Cancel 1 job" in box.text()
        next(b for b in box.buttons() if b.text() == "Cancel jobs").click()
        await wait_listed(window, JobState.CANCELED, job_id)

    run(loop, scenario())


def test_stop_running_job(loop, window_factory, redis_conn, redis_url, processes, isolated_env, tmp_path) -> None:
    job_id = enqueue_thesis(redis_conn, request("A long job to stop", pace_s=3.0), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        start_worker(processes, redis_url, tmp_path)
        await wait_listed(window, JobState.ACTIVE, job_id, timeout=30)
        select(window, JobState.ACTIVE, [job_id])
        assert window.act_stop.isEnabled() and not window.act_cancel.isEnabled()
        window.act_stop.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, QMessageBox), what="the confirmation")
        box = window.active_dialog
        next(b for b in box.buttons() if b.text() == "Stop").click()
        await wait_listed(window, JobState.FAILED, job_id, timeout=30)
        row = window.jobs_view.models[JobState.FAILED].rows[0]
        assert row.status == "stopped"

    run(loop, scenario(), 60)


def test_read_only_profile_disables_actions_and_core_refuses(loop, window_factory, redis_conn, redis_url, processes,
                                                             isolated_env, tmp_path) -> None:  # fmt: skip
    """A read-only profile refuses every mutation: each action in the window is disabled with a tooltip
    saying why, the slots do nothing when called anyway, and the core (and the controller, for the
    supervisor orders) refuses each one: enqueue, retry, retry all, cancel, stop, delete, empty,
    resize and autoscale of a supervisor, and starting local workers."""
    from thesis_console.core.supervisor_protocol import control_key

    failed = failed_job(redis_conn)
    waiting = enqueue_thesis(redis_conn, request("A job that must stay waiting"), queue_name=QUEUE)
    # A real supervisor to order about, on a queue of its own (it must not take the waiting job).
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--queue", "read-only-idle", "-n", "1", "--id", "ro-sup",
        "--log-dir", str(tmp_path / "worker-logs"), "--heartbeat", "0.5",
    )  # fmt: skip
    errors: list[str] = []

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url, read_only=True))
        window.controller.errorRaised.connect(errors.append)
        await wait_listed(window, JobState.FAILED, failed)
        select(window, JobState.FAILED, [failed])
        assert "read-only" in window.status_area.text()

        # The window: every mutating action is disabled and says why.
        for action in [*window.mutating, window.act_demo]:
            assert not action.isEnabled(), action.objectName()
            assert "read-only" in action.toolTip(), action.objectName()
        assert window.act_copy_ids.isEnabled() and window.act_refresh.isEnabled()
        assert not window.demo_button.isEnabled()
        panel = window.local_workers
        assert not panel.start_button.isEnabled() and "read-only" in panel.start_button.toolTip()
        assert "read-only" in panel.state_label.text()

        # The Workers view: the supervisor's scaling controls are disabled and say why.
        workers = window.workers_view
        await wait_until(lambda: workers.select_supervisor("ro-sup"), 30, what="the supervisor listed")
        controls = workers.controls
        for widget in (controls.concurrency, controls.apply, controls.autoscale_min, controls.autoscale_max,
                       controls.apply_autoscale):  # fmt: skip
            assert not widget.isEnabled(), widget.accessibleName() or widget.text()
            assert "read-only" in widget.toolTip(), widget.toolTip()

        # Called anyway, the window's slots open nothing and change nothing.
        window.retry_selected()
        window.delete_selected()
        window.delete_key()
        window.retry_all_failed()
        await wait_listed(window, JobState.WAITING, waiting)
        select(window, JobState.WAITING, [waiting])
        window.cancel_selected()
        window.stop_selected()
        window.open_enqueue()
        window.empty_state()
        window.start_demo()
        panel.start()
        await asyncio.sleep(0.3)
        assert window.active_dialog is None
        assert not panel.is_running() and "read-only" in panel.state_label.text()

        # The Workers view's buttons, called anyway, reach the controller, which reports the refusal.
        controls.concurrency.setValue(3)
        workers.apply_concurrency()
        await wait_until(lambda: "read-only" in controls.feedback.text(), what="the resize refused")
        workers.apply_autoscale()
        await wait_until(lambda: any("autoscale" in e and "read-only" in e for e in errors), what="autoscale refused")
        errors.clear()
        await window.controller.resize_supervisor("ro-sup", 2)
        await window.controller.autoscale_supervisor("ro-sup", 1, 3)
        assert len(errors) == 2 and all("read-only" in e for e in errors), errors

        # The core refuses every mutation itself.
        actions = window.controller.session.actions
        refused = {
            "enqueue": lambda: actions.enqueue(request("Refused")),
            "retry": lambda: actions.retry([failed]),
            "retry all": lambda: actions.retry_all_failed(QUEUE),
            "cancel": lambda: actions.cancel([waiting]),
            "stop": lambda: actions.stop([waiting]),
            "delete": lambda: actions.delete([failed]),
            "empty": lambda: actions.empty(QUEUE, JobState.FAILED),
            "resize": lambda: actions.resize_supervisor("ro-sup", 2),
            "autoscale": lambda: actions.autoscale_supervisor("ro-sup", 1, 3),
        }
        for name, call in refused.items():
            try:
                await call()
            except ReadOnlyError as exc:
                assert "read-only" in str(exc), exc
            else:
                pytest.fail(f"the core did not refuse {name} on a read-only profile")

    run(loop, scenario(), 60)
    # Nothing changed in Redis.
    assert redis_conn.zscore(f"rq:failed:{QUEUE}", failed) is not None
    assert redis_conn.lrange(f"rq:queue:{QUEUE}", 0, -1) == [waiting.encode()]
    assert redis_conn.hget(f"rq:job:{waiting}", "status") == b"queued"
    assert not redis_conn.exists(control_key("ro-sup"))
    assert redis_conn.llen(f"rq:queue:{QUEUE}") == 1


def test_copy_ids_and_detail_sections(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.FAILED, job_id)
        select(window, JobState.FAILED, [job_id])
        window.act_copy_ids.trigger()
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


def test_search_streams_matches_into_the_results_table(qtbot, loop, window_factory, redis_conn, redis_url) -> None:
    for i in range(30):
        enqueue_thesis(redis_conn, request(f"Ordinary topic number {i}"), queue_name=QUEUE)
    wanted = enqueue_thesis(redis_conn, request("Zebrafish regeneration of fins"), queue_name=QUEUE)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, wanted)
        window.act_search.trigger()
        qtbot.keyClicks(window.jobs_view.filter_edit, "zebrafish")
        await wait_until(lambda: [r.id for r in window.jobs_view.search_model.rows] == [wanted], what="the match")
        await wait_until(lambda: "1 found" in window.jobs_view.search_status.text(), what="search finished")
        assert window.jobs_view.searching()
        window.jobs_view.search_table.selectRow(0)
        assert window.selected_rows()[0].id == wanted
        window.jobs_view.clear_search()
        assert not window.jobs_view.searching()

    run(loop, scenario())


def test_empty_state_needs_the_queue_name(qtbot, loop, window_factory, redis_conn, redis_url) -> None:
    from thesis_console.ui.widgets.dialogs.confirm_empty import ConfirmEmptyDialog

    for _ in range(3):
        failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        show_state(window, JobState.FAILED)
        await wait_until(lambda: len(ids_in(window, JobState.FAILED)) == 3, what="3 failed")
        window.update_actions()
        window.act_empty.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, ConfirmEmptyDialog), what="the dialog")
        dialog = window.active_dialog
        qtbot.keyClicks(dialog.confirm_edit, "thesi")
        assert not dialog.ok_button.isEnabled()
        qtbot.keyClicks(dialog.confirm_edit, "s")
        assert dialog.ok_button.isEnabled()
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
        await wait_until(lambda: window.act_retry_all.isEnabled(), what="retry all enabled")
        results: list = []
        window.actionFinished.connect(results.append)
        window.act_retry_all.trigger()
        await wait_until(lambda: results, what="the retry to finish")
        dialog = window.active_dialog
        assert isinstance(dialog, RetryAllDialog)
        assert not isinstance(results[0], str), results[0]
        assert set(results[0].done) == ids
        assert "Retried 4 jobs" in dialog.label.text()
        assert "Skipped: 1 broken job hash." in dialog.label.text()
        assert dialog.bar.value() == dialog.bar.maximum()
        dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()

    run(loop, scenario())
    assert redis_conn.zrange(f"rq:failed:{QUEUE}", 0, -1) == [b"half-written"]


def test_enqueue_dialog_shows_field_errors(qtbot, loop, window_factory, redis_url) -> None:
    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        dialog = EnqueueDialog(window.controller, window)
        dialog.show()
        qtbot.keyClicks(dialog.topic, "ab")
        assert not dialog.submit_button.isEnabled()
        assert dialog.errors["topic"].isVisible()
        assert "3 to 300 characters" in dialog.errors["topic"].text()
        qtbot.keyClicks(dialog.topic, "c")
        assert dialog.submit_button.isEnabled() and not dialog.errors["topic"].isVisible()
        dialog.chapters.setValue(13)
        assert dialog.errors["chapters"].isVisible() and "3 to 12" in dialog.errors["chapters"].text()
        dialog.chapters.setValue(5)
        dialog.queue.setCurrentText("")
        assert dialog.errors["queue"].isVisible()
        for bad in ("a:b", "\udcff", "x" * 65, "tab\there"):  # the core's one rule for queue names
            dialog.queue.setCurrentText(bad)
            assert dialog.errors["queue"].isVisible() and not dialog.submit_button.isEnabled(), bad
            assert "1 to 64 characters" in dialog.errors["queue"].text()
        dialog.queue.setCurrentText("thesis.v2_b-1")
        assert not dialog.errors["queue"].isVisible() and dialog.submit_button.isEnabled()
        dialog.close()

    run(loop, scenario())


def test_connection_lost_then_recovered_while_responsive(tmp_path, loop, window_factory) -> None:
    """Kill a dedicated redis-server: the window says reconnecting (countdown, reason), keeps its loop
    running, and recovers by itself once a server listens on the same port again."""
    from PySide6.QtCore import QTimer

    from thesis_console.core.embedded_redis import free_port, start_server

    port = free_port()
    servers = [start_server(tmp_path / "own-redis", port)]

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(servers[0].url), session_options={"ping_interval_s": 0.2, "backoff_max_s": 1.0})
        await wait_until(lambda: window.controller.snapshot is not None, what="first snapshot")
        gaps: list[float] = []
        last = [time.monotonic()]

        def beat() -> None:
            now = time.monotonic()
            gaps.append(now - last[0])
            last[0] = now

        heartbeat = QTimer()
        heartbeat.setInterval(10)
        heartbeat.timeout.connect(beat)
        heartbeat.start()
        servers[0].stop()
        await wait_until(lambda: "reconnecting" in window.status_area.text(), 15, what="reconnecting")
        text = window.status_area.text()
        assert "retrying" in text and ("refused" in text or "connect" in text), text
        await wait_until(lambda: len(gaps) > 100, what="heartbeats while disconnected")
        # Functional check with a generous bound: the loop kept turning while Redis was gone.
        assert max(gaps) < 1.0, max(gaps)
        servers.append(start_server(tmp_path / "own-redis", port))
        before = window.controller.snapshot.taken_at
        await wait_until(lambda: window.controller.is_connected(), 20, what="connected again")
        await wait_until(lambda: window.controller.snapshot.taken_at > before, 10, what="fresh snapshot")
        assert window.status_area.badge.text() == "connected"
        heartbeat.stop()

    try:
        run(loop, scenario(), 60)
    finally:
        servers[-1].stop()


def test_retry_all_failed_can_be_cancelled(loop, window_factory, redis_conn, redis_url) -> None:
    from tests.core.bulk_jobs import write_jobs
    from thesis_console.ui.widgets.dialogs.retry_all import RetryAllDialog

    write_jobs(redis_conn, QUEUE, JobState.FAILED, 40_000, prefix="f", batch=10_000)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.act_retry_all.isEnabled(), what="retry all enabled")
        results: list = []
        window.actionFinished.connect(results.append)
        window.act_retry_all.trigger()
        await wait_until(lambda: isinstance(window.active_dialog, RetryAllDialog), what="the dialog")
        dialog = window.active_dialog
        await wait_until(lambda: dialog.bar.value() > 0, what="the first chunk")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
        await wait_until(lambda: results, 30, what="the retry to stop")
        result = results[0]
        assert 0 < len(result.done) < 40_000
        assert "left failed" in dialog.label.text()
        assert redis_conn.zcard(f"rq:failed:{QUEUE}") == 40_000 - len(result.done)

    run(loop, scenario(), 60)


def test_keyboard_shortcuts(qtbot, loop, window_factory, redis_conn, redis_url) -> None:
    failed = failed_job(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))

        async def activate() -> None:
            # Window shortcuts need an active window; offscreen, activation must be asked for.
            window.windowHandle().requestActivate()
            await wait_until(lambda: QApplication.activeWindow() is window, what="the window active")

        await activate()
        await wait_listed(window, JobState.FAILED, failed)
        select(window, JobState.FAILED, [failed])
        table = window.jobs_view.tables[JobState.FAILED]
        table.setFocus()
        fired: list[str] = []
        for action in (window.act_refresh, window.act_search, window.act_copy_ids, window.act_retry, window.act_remove_key):
            action.triggered.connect(lambda _=False, n=action.objectName(): fired.append(n))
        qtbot.keyClick(table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
        assert QApplication.clipboard().text() == failed
        qtbot.keyClick(table, Qt.Key.Key_F5)
        qtbot.keyClick(table, Qt.Key.Key_Delete)
        await wait_until(lambda: isinstance(window.active_dialog, QMessageBox), what="the delete confirmation")
        window.active_dialog.reject()
        await wait_until(lambda: window.active_dialog is None, what="the confirmation closed")
        await activate()  # the closed dialog leaves no active window behind
        table.setFocus()
        qtbot.keyClick(table, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        await wait_listed(window, JobState.WAITING, failed)
        qtbot.keyClick(window.jobs_view.tables[JobState.WAITING], Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        assert fired == ["copyIds", "refresh", "removeKey", "retry", "search"]
        assert window.jobs_view.filter_edit.hasFocus()

    run(loop, scenario())


def test_a_job_outside_the_allowlist_is_flagged_in_table_and_detail(loop, window_factory, redis_conn, redis_url) -> None:
    job_id = contract.thesis_queue(redis_conn, QUEUE).enqueue("os.system", "touch /tmp/x").id

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_listed(window, JobState.WAITING, job_id)
        model = window.jobs_view.models[JobState.WAITING]
        index = model.index(model.index_of(job_id), 0)
        assert model.data(index) == f"\u26a0 {job_id}"
        assert model.data(index, Qt.ItemDataRole.ToolTipRole) == "Problem with this job: function not allowed: os.system"
        select(window, JobState.WAITING, [job_id])
        await wait_until(lambda: window.detail.detail is not None, what="detail")
        assert "Problem" in window.detail.summary_text() and "function not allowed: os.system" in window.detail.summary_text()

    run(loop, scenario())
