"""SupervisorProcess with real child processes: start, stdin commands, warm stop, escalation, crash, detach."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from thesis_console.ui.process.supervisor_process import ProcessOutcome, RunEnd, SupervisorProcess

pytestmark = pytest.mark.usefixtures("no_leftover_processes")

# A stand-in child that speaks the supervisor's stdin protocol: echoes commands, exits on "stop",
# and (like a supervisor) keeps running when its stdin reaches end of file.
ECHO_CHILD = """
import sys, time
print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    print("got " + command, flush=True)
    if command == "stop":
        sys.exit(0)
print("stdin closed", flush=True)
time.sleep(60)
"""

# A child that ignores "stop" and SIGTERM, and has a grandchild in its process group.
STUBBORN_CHILD = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("grandchild", grandchild.pid, flush=True)
for line in sys.stdin:
    pass
time.sleep(60)
"""


def make(tmp_path: Path, code: str, **kwargs) -> SupervisorProcess:
    return SupervisorProcess(
        [sys.executable, "-c", code], stdout_path=tmp_path / "out.log", stderr_path=tmp_path / "err.log", **kwargs
    )


def wait_for_text(qtbot, path: Path, text: str) -> None:
    qtbot.waitUntil(lambda: path.exists() and text in path.read_text(), timeout=10_000)


def test_start_send_and_warm_stop(qtbot, tmp_path):
    proc = make(tmp_path, ECHO_CHILD)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start()
    assert proc.is_running() and proc.pid
    assert os.getsid(proc.pid) == proc.pid, "the child leads its own session"
    wait_for_text(qtbot, tmp_path / "out.log", "ready")
    assert proc.send_line("resize 5")
    wait_for_text(qtbot, tmp_path / "out.log", "got resize 5")

    with qtbot.waitSignal(proc.finished, timeout=10_000) as blocker:
        proc.stop()
        assert proc.is_stopping()
    outcome: ProcessOutcome = blocker.args[0]
    assert outcome.end == RunEnd.EXITED and outcome.exit_code == 0
    assert outcome.stop_requested and outcome.clean
    assert "got stop" in (tmp_path / "out.log").read_text()
    assert not proc.is_running()
    assert not proc.send_line("resize 2")


def test_failed_to_start_reports_once(qtbot, tmp_path):
    proc = SupervisorProcess(
        [str(tmp_path / "no-such-program")], stdout_path=tmp_path / "o", stderr_path=tmp_path / "e"
    )
    finished: list[ProcessOutcome] = []
    proc.finished.connect(finished.append)
    with qtbot.waitSignal(proc.errorOccurred, timeout=10_000) as error:
        proc.start()
    assert "could not start" in error.args[0]
    qtbot.wait(200)
    assert len(finished) == 1
    assert finished[0].end == RunEnd.FAILED_TO_START
    assert "failed to start" in finished[0].describe()
    assert not proc.is_running()


def test_crash_is_reported_with_the_signal(qtbot, tmp_path):
    proc = make(tmp_path, ECHO_CHILD)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start()
    errors: list[str] = []
    proc.errorOccurred.connect(errors.append)
    with qtbot.waitSignal(proc.finished, timeout=10_000) as blocker:
        os.kill(proc.pid, signal.SIGKILL)
    outcome = blocker.args[0]
    assert outcome.end == RunEnd.CRASHED and not outcome.clean
    assert "SIGKILL" in outcome.describe()
    assert errors and "SIGKILL" in errors[0]


def test_stop_escalates_to_sigkill_of_the_whole_group(qtbot, tmp_path):
    proc = make(tmp_path, STUBBORN_CHILD, stop_grace_s=0.3, term_grace_s=0.3)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start()
    wait_for_text(qtbot, tmp_path / "out.log", "grandchild")
    grandchild = int((tmp_path / "out.log").read_text().split()[1])
    with qtbot.waitSignal(proc.finished, timeout=10_000) as blocker:
        proc.stop()
        assert proc.is_running(), "stop() returns before the child is gone"
    assert blocker.args[0].end == RunEnd.CRASHED
    assert blocker.args[0].clean, "a crash we asked for is a clean stop"
    qtbot.waitUntil(lambda: not psutil.pid_exists(grandchild) or _zombie(grandchild), timeout=5_000)


def test_detach_leaves_the_child_running(qtbot, tmp_path):
    proc = make(tmp_path, ECHO_CHILD)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start()
    pid = proc.pid
    with qtbot.waitSignal(proc.finished, timeout=1_000) as blocker:
        proc.detach()
    assert blocker.args[0].end == RunEnd.DETACHED
    assert not proc.is_running()
    proc.deleteLater()
    del proc
    qtbot.wait(300)  # deleteLater runs; QProcess's destructor must not kill the child
    try:
        wait_for_text(qtbot, tmp_path / "out.log", "stdin closed")
        assert psutil.pid_exists(pid) and not _zombie(pid)
    finally:
        _kill_and_reap(pid)


def test_shutdown_kills_and_waits(qtbot, tmp_path):
    proc = make(tmp_path, STUBBORN_CHILD)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start()
    wait_for_text(qtbot, tmp_path / "out.log", "grandchild")
    proc.shutdown()
    assert not proc.is_running()


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.02)


def test_destroying_the_owner_kills_the_group(qtbot, tmp_path):
    import shiboken6

    proc = make(tmp_path, STUBBORN_CHILD)
    with qtbot.waitSignal(proc.started, timeout=10_000):
        proc.start()
    wait_for_text(qtbot, tmp_path / "out.log", "grandchild")
    pid = proc.pid
    grandchild = int((tmp_path / "out.log").read_text().split()[1])
    with qtbot.captureExceptions() as exceptions:
        shiboken6.delete(proc)
    assert not exceptions
    assert not psutil.pid_exists(pid), "killed and reaped before the QProcess went"
    qtbot.waitUntil(lambda: _zombie(grandchild), timeout=5_000)
