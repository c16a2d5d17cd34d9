"""The main window driven as a person would, against a real Redis and real worker processes.

Each test runs one scenario coroutine on the qasync loop (see the ``window_factory`` fixture for why
the loop keeps running for the whole scenario): it builds a window connected to the session's
redis-server (an ad-hoc profile), clicks, types and waits, and checks what the window shows and
what Redis holds. The job actions have their own tests (test_job_actions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from rq import SimpleWorker

from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import QUEUE, failed_job, request, select, show_state, start_worker, wait_listed
from thesis_console.core import contract
from thesis_console.core.policy import JobAction
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.profiles import ConnectionProfile, ProfileStore, ad_hoc_profile
from thesis_console.core.types import JobState, ReadOnlyError
from thesis_console.ui.main_window import MainWindow
from thesis_console.ui.settings import ConsoleSettings
from thesis_console.ui.widgets.dialogs.enqueue import EnqueueDialog


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
        assert window.jobs_view.tabs.tabText(0) == "Waiting 1"

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
        window.controller.noticePosted.connect(lambda notice: errors.append(notice.text))
        await wait_listed(window, JobState.FAILED, failed)
        select(window, JobState.FAILED, [failed])
        assert "read-only" in window.status_area.text()

        # The window: every mutating action is disabled and says why.
        for action in [*window.mutating, window.act_demo]:
            assert not action.isEnabled(), action.objectName()
            assert "read-only" in action.toolTip(), action.objectName()
        assert window.job_actions.act_copy_ids.isEnabled() and window.act_refresh.isEnabled()
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
        jobs = window.job_actions
        jobs.run(JobAction.RETRY)
        jobs.run(JobAction.DELETE)
        jobs.run(JobAction.DELETE, [window.selected_rows()[0]])  # an explicit target (the detail panel's)
        jobs.delete_key()
        jobs.retry_all_failed()
        await wait_listed(window, JobState.WAITING, waiting)
        select(window, JobState.WAITING, [waiting])
        jobs.run(JobAction.CANCEL)
        jobs.run(JobAction.STOP)
        window.open_enqueue()
        jobs.empty_state()
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
        for action in (window.act_refresh, window.act_search, window.job_actions.act_copy_ids, window.job_actions.act_retry, window.job_actions.act_remove_key):
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


def test_password_is_asked_when_the_server_needs_one(loop, window_factory, tmp_path) -> None:
    from PySide6.QtWidgets import QInputDialog

    from thesis_console.core.embedded_redis import free_port, start_server

    server = start_server(tmp_path / "auth-redis", free_port())
    try:
        import redis

        redis.Redis.from_url(server.url).config_set("requirepass", "s3cret")

        async def scenario() -> None:
            window = await window_factory(ad_hoc_profile(server.url), connect=False)
            task = window.connect_profile(ConnectionProfile(name="auth", url=server.url))
            await wait_until(lambda: isinstance(window.active_dialog, QInputDialog), what="the password dialog")
            assert "needs a password" in window.active_dialog.labelText()
            window.active_dialog.setTextValue("s3cret")
            window.active_dialog.accept()
            assert await task
            assert window.controller.worker_url() is None  # never put a password on a command line

        run(loop, scenario())
    finally:
        # Without the password gone, the server refuses a plain SHUTDOWN and stop() waits 10 s to kill it.
        with contextlib.suppress(Exception):
            redis.Redis.from_url(server.url, password="s3cret").config_set("requirepass", "")
        server.stop()


def test_new_failures_are_noticed(loop, window_factory, redis_conn, redis_url) -> None:
    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        queue = contract.thesis_queue(redis_conn, QUEUE)
        for _ in range(2):
            queue.enqueue("tests.jobs.boom")
        SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
        await wait_until(lambda: "2 new failed jobs in thesis" in window.status_area.text(), what="the notice")

    run(loop, scenario())


def test_settings_persist_layout_and_interval(qtbot, tmp_path) -> None:
    path = str(tmp_path / "settings.ini")
    settings = ConsoleSettings(QSettings(path, QSettings.Format.IniFormat))
    settings.refresh_interval_s = 99
    assert settings.refresh_interval_s == 10.0
    settings.refresh_interval_s = 0.1
    assert settings.refresh_interval_s == 0.5
    settings.refresh_interval_s = 1.5
    window = MainWindow(settings=settings, store=ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(window)
    assert window.controller.refresh_interval_s() == 1.5
    window.resize(720, 520)  # within the offscreen screen (800x600), where restoreGeometry clamps
    window.local_dock.hide()
    window.settings.save_window(window, window.splitter_states())
    again = MainWindow(settings=ConsoleSettings(QSettings(path, QSettings.Format.IniFormat)), store=ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (720, 520)
    assert not again.local_dock.isVisibleTo(again)


def test_chart_range_is_kept_in_the_settings(qtbot, loop, tmp_path) -> None:
    from thesis_console.ui.widgets.overview import RANGES

    path = str(tmp_path / "settings.ini")
    settings = ConsoleSettings(QSettings(path, QSettings.Format.IniFormat))
    settings.chart_range_s = 24 * 3600
    window = MainWindow(settings=settings, store=ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(window)
    assert window.overview.range.seconds == 24 * 3600
    window.overview.range_buttons.button(RANGES.index(next(r for r in RANGES if r.seconds == 3600))).click()
    assert ConsoleSettings(QSettings(path, QSettings.Format.IniFormat)).chart_range_s == 3600
