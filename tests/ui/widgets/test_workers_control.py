"""Supervisor control from the Workers tab with a real supervisor: stop (warm, then asked to stop at
once after the timeout), restart, and stop one RQ worker, each confirmed in a dialog that names the
host and the counts. Each test runs its own supervisor on a queue of its own (xdist-safe)."""

from __future__ import annotations

import socket
import uuid

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox
from rq import Queue

from tests.ui.live_console import close_controller, live_controller
from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.supervisor_protocol import SupervisorRecord
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.widgets.workers_view import WorkersView

START_S = 30
HOST = socket.gethostname()


@pytest.fixture
def own_supervisor(processes, redis_url, isolated_env):
    """A real supervisor with 2 workers on a queue of its own; its id and queue."""
    sid, queue = f"ctl-{uuid.uuid4().hex[:6]}", f"ctl-{uuid.uuid4().hex[:6]}"
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--id", sid, "--queue", queue, "--concurrency", "2",
        "--heartbeat", "0.5", "--grace", "30", "--log-level", "WARNING",
    )  # fmt: skip
    return sid, queue


def _record(controller: ConsoleController, sid: str) -> SupervisorRecord | None:
    snapshot = controller.snapshot
    return next((r for r in snapshot.supervisors if r.id == sid), None) if snapshot else None


async def _dialog() -> QMessageBox:
    def shown() -> QMessageBox | None:
        return next((w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()), None)

    box = await wait_until(shown, what="a confirmation")
    assert box is not None
    return box


def _click(box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text() == text)
    assert box.defaultButton() is not button, "the default button is the safe one"
    button.click()


def _view(qtbot, controller: ConsoleController) -> WorkersView:
    view = WorkersView(controller)
    qtbot.addWidget(view)
    view.resize(1100, 650)
    view.show()
    return view


def test_stop_a_supervisor_warm_then_at_once_after_the_timeout(qtbot, loop, redis_conn, redis_url, own_supervisor):
    sid, queue = own_supervisor
    controller = live_controller(redis_url)
    view = _view(qtbot, controller)
    view.stop_timeout_s = 1.0

    async def scenario() -> None:
        await wait_until(lambda: (r := _record(controller, sid)) is not None and r.live == 2, START_S, what="2 live workers")
        Queue(queue, connection=redis_conn, serializer=contract.SERIALIZER).enqueue("tests.jobs.sleep_for", 60)
        await wait_until(lambda: (r := _record(controller, sid)) is not None and r.busy == 1, START_S, what="a running job")
        assert view.select_supervisor(sid)
        assert view.controls.stop.isEnabled()
        view.controls.stop.click()
        box = await _dialog()
        assert HOST in box.text() and "2 workers" in box.text() and "1 running job" in box.text(), box.text()
        _click(box, f"Stop 2 workers on {HOST}")
        # The job runs for a minute: after the timeout the view asks whether to stop at once.
        box = await _dialog()
        assert "still running 1 job" in box.text(), box.text()
        _click(box, "Stop 1 job now")
        await wait_until(lambda: redis_conn.get(f"thesis:supervisor:{sid}") is None, START_S, what="the supervisor gone")
        await wait_until(lambda: _record(controller, sid) is None, what="gone from the table")
        await close_controller(controller)

    run(loop, scenario(), timeout=120)


def test_restart_a_supervisor_and_stop_one_worker(qtbot, loop, redis_conn, redis_url, own_supervisor):
    sid, _queue = own_supervisor
    controller = live_controller(redis_url)
    view = _view(qtbot, controller)

    async def scenario() -> None:
        await wait_until(lambda: (r := _record(controller, sid)) is not None and r.live == 2, START_S, what="2 live workers")
        first = _record(controller, sid)
        assert first is not None
        assert view.select_supervisor(sid)
        view.controls.restart.click()
        box = await _dialog()
        assert HOST in box.text() and "2 workers" in box.text(), box.text()
        _click(box, "Restart 2 workers")
        await wait_until(
            lambda: (r := _record(controller, sid)) is not None and r.live == 2 and not set(r.workers) & set(first.workers),
            START_S, what="2 fresh workers",
        )  # fmt: skip

        record = _record(controller, sid)
        assert record is not None
        name = record.workers[0]
        await wait_until(lambda: view.select_worker(name), what="the worker listed")
        assert view.stop_worker_button.isEnabled()
        view.stop_worker_button.click()
        box = await _dialog()
        assert name in box.text() and HOST in box.text() and sid in box.text(), box.text()
        _click(box, "Stop 1 worker")
        await wait_until(
            lambda: (r := _record(controller, sid)) is not None and name not in r.workers and r.live == 2,
            START_S, what="the worker replaced by a fresh one",
        )  # fmt: skip
        await close_controller(controller)

    run(loop, scenario(), timeout=120)
