"""LocalWorkersPanel with a real thesis-worker supervisor, real RQ workers and a real Redis.

Each test runs one scenario coroutine on the qasync loop from start to end (stopping the loop while
Redis replies are in flight can leave a pooled connection with unread replies; see tests/ui/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Queue

from tests.ui.live_console import (
    LiveSession,
    alive_children,
    close_controller,
    enqueue_plain,
    fail_if_children_left,
    live_controller,
)
from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.supervisor_protocol import SupervisorRecord, queue_control, stop_message
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.process.supervisor_process import RunEnd
from thesis_console.ui.widgets.local_workers import (
    STATUS_LOG,
    SUPERVISOR_LOG,
    LocalWorkersPanel,
    supervisor_command,
    supervisor_environment,
)

START_S = 30  # starting a supervisor and its worker interpreters, on a busy 2-core machine


@pytest.fixture
def no_children_left() -> Iterator[None]:
    before = alive_children()
    yield
    fail_if_children_left(before)


@pytest.fixture
def fast_supervisor_env(isolated_env, monkeypatch):
    """Short heartbeats, so the supervisor's record in Redis follows changes within a second."""
    monkeypatch.setenv("THESIS_SUPERVISOR_HEARTBEAT", "0.5")
    monkeypatch.setenv("THESIS_RECOVERY_INTERVAL", "1")
    return isolated_env


@pytest.fixture
def panel_factory(qtbot, loop, redis_conn, redis_url, fast_supervisor_env, no_children_left):
    """Makes (controller, panel) pairs on the test Redis; stops what is left at teardown."""
    made: list[tuple[ConsoleController, LocalWorkersPanel]] = []

    def make() -> tuple[ConsoleController, LocalWorkersPanel]:
        controller = live_controller(redis_url)
        panel = LocalWorkersPanel(controller, stop_grace_s=2)
        qtbot.addWidget(panel)
        panel.resize(700, 600)
        panel.show()
        made.append((controller, panel))
        return controller, panel

    yield make
    for controller, panel in made:
        if panel.is_running():
            panel.process.shutdown()
        run(loop, close_controller(controller))


def record_of(controller: ConsoleController, pid: int | None) -> SupervisorRecord | None:
    """A supervisor as the console's last snapshot shows it."""
    snapshot = controller.snapshot
    if snapshot is None or pid is None:
        return None
    return next((r for r in snapshot.supervisors if r.pid == pid), None)


def registered_workers(controller: ConsoleController, record: SupervisorRecord | None) -> int:
    """How many of the supervisor's workers are registered RQ workers in the snapshot."""
    if record is None:
        return 0
    names = set(record.workers)
    return sum(1 for w in controller.snapshot.workers if w.name in names)


def test_command_line_uses_this_interpreter():
    command = supervisor_command(["a", "b"], 4, (2, 6), grace_s=5, python="/venv/bin/python")
    assert command[:3] == ["/venv/bin/python", "-m", "worker_runner"]
    assert "--url" not in command and not any("redis" in part for part in command[1:])
    assert supervisor_environment("redis://:pw@h:1/0") == {"REDIS_URL": "redis://:pw@h:1/0"}
    assert command[command.index("--concurrency") + 1] == "4"
    assert command[command.index("--autoscale") + 1] == "2:6"
    assert [command[i + 1] for i, a in enumerate(command) if a == "--queue"] == ["a", "b"]


def test_start_resize_logs_and_stop(panel_factory, loop, redis_conn):
    controller, panel = panel_factory()

    async def scenario() -> None:
        assert panel.slider.value() == 3
        panel.start_button.click()
        await wait_until(lambda: panel.status.get("live") == 3, timeout=START_S, what="3 live workers")
        assert panel.is_running() and not panel.start_button.isEnabled()
        assert "3 of 3 workers live" in panel.state_label.text()

        # The URL (a password may be in it) reached the supervisor through its environment, not argv.
        pid = panel.process.pid
        assert b"redis://" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert f"REDIS_URL={controller.worker_url()}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")

        # The slider resizes the running supervisor through its stdin: no restart, same pid.
        panel.slider.setValue(5)
        await wait_until(
            lambda: (r := record_of(controller, pid)) is not None and (r.live, r.desired) == (5, 5),
            timeout=START_S, what="the record showing 5 live workers",
        )  # fmt: skip
        await wait_until(
            lambda: registered_workers(controller, record_of(controller, pid)) == 5,
            timeout=START_S, what="5 registered RQ workers",
        )  # fmt: skip
        assert panel.process.pid == pid

        # The log view offers the supervisor's log and each worker's, and tails them.
        await wait_until(lambda: len([s for s in panel.log_view.sources() if s.startswith("worker ")]) >= 5)
        sources = panel.log_view.sources()
        assert SUPERVISOR_LOG in sources and STATUS_LOG in sources
        worker_logs = [label for label in sources if label.startswith("worker ")]
        panel.log_view.select_source(SUPERVISOR_LOG)
        await wait_until(lambda: "starting 3" in panel.log_view.text.toPlainText(), what="supervisor log")
        enqueue_plain(redis_conn, "tests.jobs.noop", 5)
        await wait_until(lambda: controller.snapshot.queue("thesis").completed == 5, timeout=20, what="jobs done")
        busy_logs = [label for label in worker_logs if "tests.jobs.noop" in sources[label].read_text()]
        assert busy_logs, "a worker's log file shows the job it ran"
        panel.log_view.select_source(busy_logs[0])
        await wait_until(lambda: "tests.jobs.noop" in panel.log_view.text.toPlainText(), what="worker log in view")

        # Stop: warm, asynchronous, and nothing is left behind (the fixture checks).
        panel.stop_button.click()
        assert panel.is_running(), "stop() does not wait for the supervisor"
        await wait_until(lambda: not panel.is_running(), timeout=START_S, what="the supervisor to stop")
        assert panel.last_outcome.end == RunEnd.EXITED and panel.last_outcome.exit_code == 0
        assert "Supervisor stopped" in panel.state_label.text()
        assert len([s for s in panel.log_view.sources() if s.startswith("worker ")]) == 5, "logs of the run stay"
        assert panel.start_button.isEnabled()
        await wait_until(lambda: record_of(controller, pid) is None, what="its record to go")

    run(loop, scenario(), timeout=150)


def test_a_crash_is_shown(panel_factory, loop):
    controller, panel = panel_factory()
    errors: list[str] = []
    controller.noticePosted.connect(lambda notice: errors.append(notice.text))

    async def scenario() -> None:
        panel.slider.setValue(1)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 1, timeout=START_S, what="1 live worker")
        os.kill(panel.process.pid, signal.SIGKILL)
        await wait_until(lambda: not panel.is_running(), what="the crash to be noticed")
        assert panel.last_outcome.end == RunEnd.CRASHED
        assert "crashed" in panel.state_label.text() and "SIGKILL" in panel.state_label.text()
        assert "#c62828" in panel.state_label.styleSheet()
        assert any("SIGKILL" in e for e in errors)
        assert panel.start_button.isEnabled()
        # Its workers die with it (they arm parent-death signals); the fixture checks none is left.

    run(loop, scenario(), timeout=60)


def test_busy_count_follows_the_supervisor_record(panel_factory, loop, redis_conn):
    """The supervisor writes a status line only when its worker count or state changes; the busy
    count shown comes from its record in Redis, so it follows jobs starting and ending."""
    controller, panel = panel_factory()

    async def scenario() -> None:
        panel.slider.setValue(1)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 1, timeout=START_S, what="1 live worker")
        assert "0 busy" in panel.state_label.text()
        contract_queue = Queue("thesis", connection=redis_conn, serializer=contract.SERIALIZER)
        contract_queue.enqueue("tests.jobs.sleep_for", 3)
        await wait_until(lambda: "1 of 1 workers live, 1 busy" in panel.state_label.text(), timeout=10, what="1 busy")
        await wait_until(lambda: "0 busy" in panel.state_label.text(), timeout=15, what="idle again")
        panel.stop()
        await wait_until(lambda: not panel.is_running(), timeout=START_S)

    run(loop, scenario(), timeout=60)


def test_autoscale_switch_reaches_the_supervisor(panel_factory, loop):
    controller, panel = panel_factory()

    async def scenario() -> None:
        panel.slider.setValue(2)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 2, timeout=START_S, what="2 live workers")
        panel.autoscale_min.setValue(1)
        panel.autoscale_max.setValue(4)
        panel.autoscale.setChecked(True)
        assert not panel.slider.isEnabled()
        await wait_until(lambda: panel.status.get("autoscale") == [1, 4], what="autoscale on")
        pid = panel.process.pid
        await wait_until(
            lambda: (r := record_of(controller, pid)) is not None and (r.autoscale_min, r.autoscale_max) == (1, 4),
            what="the record showing autoscale 1-4",
        )
        panel.autoscale.setChecked(False)
        await wait_until(lambda: panel.status.get("autoscale") is None, what="autoscale off")
        panel.stop()
        await wait_until(lambda: not panel.is_running(), timeout=START_S)

    run(loop, scenario(), timeout=90)


def test_detach_leaves_it_running(panel_factory, loop, redis_conn):
    controller, panel = panel_factory()

    async def scenario() -> None:
        panel.slider.setValue(1)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 1, timeout=START_S, what="1 live worker")
        pid, supervisor_id = panel.process.pid, panel.status["id"]
        panel.detach()
        assert not panel.is_running()
        assert "Left running" in panel.state_label.text()
        panel.process.deleteLater()  # the QProcess goes; the child must not
        await asyncio.sleep(1.0)
        assert not _reaped(pid)
        await wait_until(lambda: record_of(controller, pid) is not None, what="its record after detach")
        # It still obeys orders, now through Redis, the way another console would send them.
        with redis_conn.pipeline() as pipe:
            queue_control(pipe, supervisor_id, stop_message())
            pipe.execute()
        await wait_until(lambda: _reaped(pid), timeout=START_S, what="the detached supervisor to stop")

    run(loop, scenario(), timeout=90)


def test_without_a_worker_url_it_explains(qtbot, loop, redis_url):
    controller = ConsoleController()
    panel = LocalWorkersPanel(controller)
    qtbot.addWidget(panel)
    assert not panel.start_button.isEnabled()
    assert "Not connected" in panel.state_label.text()
    panel.start()
    assert panel.process is None

    async def scenario() -> None:
        controller.attach(LiveSession(redis_url), worker_url=None)
        assert not panel.start_button.isEnabled()
        assert "password" in panel.state_label.text()
        panel.start()
        assert panel.process is None
        await close_controller(controller)

    run(loop, scenario())


def test_a_queue_name_the_worker_would_refuse_is_named_before_start(panel_factory, loop):
    _controller, panel = panel_factory()
    panel.queues_edit.setText("thesis, a:b")
    panel.start()
    assert panel.process is None
    assert "'a:b' is not allowed" in panel.state_label.text()


def _reaped(pid: int) -> bool:
    """True once ``pid`` (a detached child of this process) has exited; reaps it, as Qt no longer does."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


# --------------------------------------------------------------------------- the log tail
def test_file_tail_follows_appends_rotation_and_truncation(tmp_path):
    from thesis_console.ui.widgets.log_tail import FileTail

    path = tmp_path / "w.log"
    tail = FileTail(path, tail_bytes=None, chunk_bytes=1024)
    assert tail.read() == [], "a file that does not exist yet is not an error"
    path.write_text("one\ntw")
    assert tail.read() == ["one"], "a partial line waits for its end"
    with path.open("a") as fh:
        fh.write("o\nthree\n")
    assert tail.read() == ["two", "three"]

    # Bounded reads: a burst comes in chunks, none lost.
    with path.open("a") as fh:
        fh.writelines(f"line {i:05d}\n" for i in range(1000))
    got: list[str] = []
    for _ in range(100):
        chunk = tail.read()
        assert sum(len(line) + 1 for line in chunk) <= 1024 + 16
        got += chunk
        if len(got) == 1000:
            break
    assert got == [f"line {i:05d}" for i in range(1000)]

    # Rotation (rename and a new file): the rest of the old file, then the new one from its start.
    with path.open("a") as fh:
        fh.write("last of old\n")
    path.rename(tmp_path / "w.log.1")
    path.write_text("first of new\n")
    assert tail.read() + tail.read() == ["last of old", "first of new"]

    # Truncation in place: start over.
    path.write_text("")
    assert tail.read() == []
    path.write_text("after truncate\n")
    assert tail.read() == ["after truncate"]
    tail.close()


def test_file_tail_starts_near_the_end_of_a_big_file(tmp_path):
    from thesis_console.ui.widgets.log_tail import FileTail

    path = tmp_path / "big.log"
    path.write_text("".join(f"old line {i}\n" for i in range(100_000)))
    tail = FileTail(path, tail_bytes=200)
    lines = tail.read()
    assert 0 < len(lines) < 20 and lines[-1] == "old line 99999"
    assert all(line.startswith("old line ") for line in lines), "the cut first line is dropped"


def test_on_a_bullmq_queue_it_starts_python_bullmq_workers_that_complete_the_node_producers_jobs(
    panel_factory, loop, redis_conn, redis_url
):
    from tests.node_bullmq import produce

    controller, panel = panel_factory()
    (job_id,) = produce(redis_url, [{"thesisId": "gui", "topic": "A thesis from the panel", "chapters": 3}])

    async def scenario() -> None:
        await controller.refresh_now()
        panel.queues_edit.setText("thesis-generation, thesis")
        panel.start()
        assert not panel.is_running() and "need a supervisor each" in panel.state_label.text()
        panel.queues_edit.setText("thesis-generation")
        panel.slider.setValue(1)
        panel.start()
        await wait_until(lambda: panel.status.get("live") == 1, timeout=START_S, what="1 live worker")
        cmdline = Path(f"/proc/{panel.process.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[cmdline.index(b"--backend") + 1] == b"bullmq"
        await wait_until(
            lambda: redis_conn.zscore("bull:thesis-generation:completed", job_id) is not None,
            timeout=30, what="the job completed by the Python BullMQ worker",
        )  # fmt: skip
        panel.stop()
        await wait_until(lambda: not panel.is_running(), timeout=START_S)

    run(loop, scenario(), timeout=90)
