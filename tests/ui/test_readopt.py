"""A supervisor left running by a console is adopted by the next one on this host: start one from the
Local workers panel, close the window with "Leave running", open a new window. Real supervisor."""

from __future__ import annotations

import uuid

import psutil
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.profiles import ad_hoc_profile


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_new_window_adopts_the_supervisor_left_running(loop, window_factory, redis_url, isolated_env, monkeypatch) -> None:
    monkeypatch.setenv("THESIS_SUPERVISOR_HEARTBEAT", "0.5")
    queue = f"adopt-{uuid.uuid4().hex[:8]}"
    pids: list[int] = []

    async def scenario() -> None:
        first = await window_factory(ad_hoc_profile(redis_url))
        panel = first.local_workers
        panel._stop_grace_s = 1.0
        panel.queues_edit.setText(queue)
        panel.slider.setValue(2)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 2, 30, what="2 local workers")
        pids.append(panel.process.pid)
        sid = panel.status["id"]
        first.close()
        await wait_until(lambda: isinstance(first.active_dialog, QMessageBox), what="the close question")
        next(b for b in first.active_dialog.buttons() if b.text() == "Leave running").click()
        await wait_until(lambda: not first.isVisible(), 10, what="the first window closed")
        assert not _gone(pids[0])

        second = await window_factory(ad_hoc_profile(redis_url))
        adopted = second.local_workers
        await wait_until(lambda: adopted.adopted is not None, 15, what="the supervisor adopted")
        assert adopted.is_running() and adopted.adopted.record.id == sid
        await wait_until(lambda: "left running by an earlier console" in adopted.state_label.text(), what="its state")
        # The record it first reads may predate the workers' latest heartbeat.
        await wait_until(lambda: "2 of 2 workers live" in adopted.state_label.text(), 30, what="its 2 workers live")
        assert sid in adopted.state_label.text()
        assert adopted.slider.value() == 2 and adopted.stop_button.isEnabled() and not adopted.start_button.isEnabled()
        assert adopted.queues_edit.text() == queue
        assert "supervisor" in adopted.log_view.sources() and len(adopted.log_view.sources()) >= 3, adopted.log_view.sources()

        # The slider scales it through Redis.
        adopted.slider.setValue(3)
        await wait_until(lambda: adopted.adopted is not None and adopted.adopted.record.live == 3, 30, what="3 live workers")

        # The demo reuses it and says so.
        second.controller.select_queue(queue)
        second.act_demo.trigger()
        await wait_until(lambda: "reused it" in second.status_area.text(), 20, what="the demo's notice")
        assert "started 2 local workers" not in second.status_area.text()
        assert sid in second.status_area.text()

        # Stop ends it (warm), and the panel says so.
        adopted.stop_button.click()
        await wait_until(lambda: adopted.adopted is None, 40, what="the adopted supervisor stopped")
        await wait_until(lambda: _gone(pids[0]), 20, what="its process gone")
        assert f"Supervisor {sid} stopped" in adopted.state_label.text()
        assert not adopted.is_running() and adopted.start_button.isEnabled()

    try:
        run(loop, scenario(), 150)
    finally:
        for pid in pids:
            if not _gone(pid):
                psutil.Process(pid).kill()


def test_closing_with_stop_workers_shows_progress_then_stop_now(loop, window_factory, redis_conn, redis_url, isolated_env, monkeypatch) -> None:
    """Stop workers on close: a dialog counts the jobs still running, offers Stop now after its
    timeout, and the window closes once the workers are gone (the job goes back to its queue)."""
    from rq import Queue

    from thesis_console.core import contract

    monkeypatch.setenv("THESIS_SUPERVISOR_HEARTBEAT", "0.5")
    queue = f"close-{uuid.uuid4().hex[:8]}"
    pids: list[int] = []

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        window.stop_now_after_s = 1.0
        panel = window.local_workers
        panel._stop_grace_s = 60.0  # the job would be given a minute: Stop now is the way out
        panel.queues_edit.setText(queue)
        panel.slider.setValue(1)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 1, 30, what="1 local worker")
        pids.append(panel.process.pid)
        Queue(queue, connection=redis_conn, serializer=contract.SERIALIZER).enqueue("tests.jobs.sleep_for", 120)
        await wait_until(lambda: panel.running_jobs() == 1, 30, what="the job running")
        window.close()
        await wait_until(lambda: isinstance(window.active_dialog, QMessageBox), what="the close question")
        next(b for b in window.active_dialog.buttons() if b.text() == "Stop workers").click()
        await wait_until(lambda: getattr(window.active_dialog, "objectName", lambda: "")() == "stopProgress", what="the progress dialog")
        progress = window.active_dialog
        await wait_until(lambda: "1 job still running" in " ".join(w.text() for w in progress.findChildren(QLabel)), what="the count")
        assert window.isVisible()
        stop_now = progress.findChild(QPushButton, "stopNow")
        await wait_until(lambda: stop_now.isVisible(), 10, what="Stop now offered")
        stop_now.click()
        await wait_until(lambda: not window.isVisible(), 30, what="the window closed")
        assert not panel.is_running()
        await wait_until(lambda: _gone(pids[0]), 20, what="the supervisor gone")
        await wait_until(lambda: Queue(queue, connection=redis_conn).count == 1, 20, what="the job back in its queue")

    try:
        run(loop, scenario(), 150)
    finally:
        for pid in pids:
            if not _gone(pid):
                psutil.Process(pid).kill()
