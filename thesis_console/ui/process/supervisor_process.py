"""A local ``thesis-worker`` supervisor process, owned by a QObject (qutebrowser's ``guiprocess`` pattern).

:class:`SupervisorProcess` owns a ``QProcess(self)``, re-emits its signals in a simpler form, keeps
the outcome of the run in a small frozen dataclass, talks to the child by line commands on its
stdin, and never blocks the GUI thread: stopping is a sequence of timers (``stop`` on stdin, then
SIGTERM, then SIGKILL to the whole process group).

How the child is started, and why (the ``detach`` question):

* ``QProcess.startDetached`` would give a child that outlives the console, but no stdin to talk to,
  no ``finished`` signal and no exit code, so a crash could not be shown and the concurrency could
  not change without a restart.
* So the child is started with ``QProcess.start`` and two Unix process parameters: a new session
  (setsid: the child leads its own process group and has no controlling terminal, so a Ctrl+C or a
  hang-up that reaches the console does not reach the workers) and default signal handlers.
* Its stdout and stderr go to files, not pipes, so that once detached it never writes into a closed
  pipe; the panel tails those files like the workers' own logs.
* :meth:`detach` marks the ``QProcess`` as not running, so destroying it neither kills nor waits for
  the child; the child keeps running, its stdin reaches end of file (the supervisor keeps running
  then, as it does under systemd with no stdin) and it stays reachable through Redis control
  messages from any console. Until the console exits, a detached child that ends stays a zombie
  (Qt no longer reaps it); the console's exit hands it to init.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from PySide6.QtCore import QIODevice, QObject, QProcess, QProcessEnvironment, QTimer, Signal

log = logging.getLogger("thesis_console.ui.process")

DEFAULT_STOP_GRACE_S = 15.0
"""How long a warm stop may take (workers finish their current job) before SIGTERM."""
DEFAULT_TERM_GRACE_S = 5.0
"""How long after SIGTERM before SIGKILL goes to the whole process group."""


class RunEnd(StrEnum):
    """How a run ended."""

    EXITED = "exited"  # the process exited by itself (any exit code)
    CRASHED = "crashed"  # killed by a signal
    FAILED_TO_START = "failed-to-start"
    DETACHED = "detached"  # still running, no longer supervised by this console


@dataclass(frozen=True)
class ProcessOutcome:
    """What happened to one run of the child."""

    command: tuple[str, ...]
    pid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    end: RunEnd | None = None
    exit_code: int | None = None
    error: str = ""
    stop_requested: bool = False

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.end is None

    @property
    def clean(self) -> bool:
        """The run ended as asked: a stop was requested, or it exited with code 0."""
        if self.end == RunEnd.DETACHED:
            return True
        if self.end == RunEnd.EXITED:
            return self.exit_code == 0 or self.stop_requested
        return self.end == RunEnd.CRASHED and self.stop_requested

    def describe(self) -> str:
        """One sentence for a person."""
        pid = f" (pid {self.pid})" if self.pid else ""
        if self.end is None:
            return f"running{pid}" if self.started_at else "not started"
        if self.end == RunEnd.FAILED_TO_START:
            return f"failed to start: {self.error or 'unknown error'}"
        if self.end == RunEnd.DETACHED:
            return f"left running{pid}; it is no longer supervised by this console"
        if self.end == RunEnd.EXITED:
            if self.exit_code == 0:
                return f"stopped{pid}" if self.stop_requested else f"exited{pid}"
            if self.stop_requested:
                return f"stopped{pid} with exit code {self.exit_code}"
            return f"exited with code {self.exit_code}{pid}"
        if self.stop_requested:
            return f"stopped by a signal{pid}"
        return f"crashed{pid}: {self.error or 'killed by a signal'}"


class _Teardown:
    """Kills the child's process group when the owning QObject is destroyed while the child runs.

    A plain object (not a QObject) connected to ``destroyed``: Qt emits that signal before it deletes
    the children, so the ``QProcess`` is still there to wait on, and its own destructor then finds
    the child gone (no kill of the supervisor alone, which would orphan its workers' horses, and no
    "destroyed while still running" warning).
    """

    def __init__(self, process: QProcess) -> None:
        self.process = process
        self.pid: int | None = None

    def __call__(self, *_args: object) -> None:
        pid, self.pid = self.pid, None
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        self.process.waitForFinished(3000)


class SupervisorProcess(QObject):
    """One run of a child process with stdin commands, log files and a non-blocking stop.

    Signals:
        started(): the child is running (``pid`` is set).
        finished(ProcessOutcome): the run is over. Emitted exactly once per :meth:`start`, also when
            the child failed to start (``QProcess`` emits no ``finished`` then) and on :meth:`detach`.
        errorOccurred(str): a message for a person (failed to start, crashed, could not write).

    Args:
        command: program and arguments.
        stdout_path: file that receives the child's stdout (appended).
        stderr_path: file that receives the child's stderr (appended).
        env: variables added to the console's environment.
        workdir: the child's working directory.
        stop_grace_s: seconds between the ``stop`` line and SIGTERM.
        term_grace_s: seconds between SIGTERM and SIGKILL.
    """

    started = Signal()
    finished = Signal(object)
    errorOccurred = Signal(str)

    def __init__(
        self,
        command: Sequence[str],
        stdout_path: Path,
        stderr_path: Path,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
        stop_grace_s: float = DEFAULT_STOP_GRACE_S,
        term_grace_s: float = DEFAULT_TERM_GRACE_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if not command:
            raise ValueError("a command needs at least a program")
        self.command = tuple(command)
        self.stdout_path = Path(stdout_path)
        self.stderr_path = Path(stderr_path)
        self.outcome = ProcessOutcome(command=self.command)
        self._stop_grace_ms = int(stop_grace_s * 1000)
        self._term_grace_ms = int(term_grace_s * 1000)
        self._detached = False
        self._process = QProcess(self)
        self._process.setProgram(self.command[0])
        self._process.setArguments(list(self.command[1:]))
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")  # lines reach the log files as they are printed
        for key, value in (env or {}).items():
            environment.insert(key, value)
        self._process.setProcessEnvironment(environment)
        if workdir is not None:
            self._process.setWorkingDirectory(str(workdir))
        flags = QProcess.UnixProcessFlag
        self._process.setUnixProcessParameters(flags.CreateNewSession | flags.ResetSignalHandlers)
        self._process.started.connect(self._on_started)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)
        self._teardown = _Teardown(self._process)
        self.destroyed.connect(self._teardown)
        self._term_timer = self._single_shot(self._terminate)
        self._kill_timer = self._single_shot(self.kill)

    def _single_shot(self, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.timeout.connect(slot)
        return timer

    # ----------------------------------------------------------------- state
    @property
    def pid(self) -> int | None:
        return self.outcome.pid

    def is_running(self) -> bool:
        return not self._detached and self._process.state() != QProcess.ProcessState.NotRunning

    def is_stopping(self) -> bool:
        return self.is_running() and self.outcome.stop_requested

    # ----------------------------------------------------------------- control
    def start(self) -> None:
        """Start the child (asynchronously: ``started`` or ``finished`` tells how it went)."""
        if self.is_running():
            raise RuntimeError("the process is already running")
        for path in (self.stdout_path, self.stderr_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._process.setStandardOutputFile(str(self.stdout_path), QIODevice.OpenModeFlag.Append)
        self._process.setStandardErrorFile(str(self.stderr_path), QIODevice.OpenModeFlag.Append)
        self._detached = False
        self.outcome = ProcessOutcome(command=self.command)
        log.info("starting %s", " ".join(self.command))
        self._process.start()

    def send_line(self, line: str) -> bool:
        """Write one command line to the child's stdin; False when it is not running."""
        if not self.is_running() or self._process.state() != QProcess.ProcessState.Running:
            return False
        data = (line.rstrip("\n") + "\n").encode("utf-8")
        return self._process.write(data) == len(data)

    def stop(self) -> None:
        """Warm stop: ``stop`` on stdin, SIGTERM after the stop grace, SIGKILL after the term grace.

        Returns at once; ``finished`` tells when the child is gone.
        """
        if not self.is_running() or self.outcome.stop_requested:
            return
        self.outcome = replace(self.outcome, stop_requested=True)
        if not self.send_line("stop"):
            self._terminate()
            return
        self._term_timer.start(self._stop_grace_ms)

    def _terminate(self) -> None:
        if not self.is_running():
            return
        self.outcome = replace(self.outcome, stop_requested=True)
        log.info("terminating pid %s", self.pid)
        self._process.terminate()
        self._kill_timer.start(self._term_grace_ms)

    def kill(self) -> None:
        """SIGKILL the child's whole process group (its workers included); returns at once."""
        if not self.is_running():
            return
        pid = self.pid
        if pid:
            try:
                # The child leads its own session, so its process group is exactly it and its workers.
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError as exc:
                log.warning("could not kill process group %s: %s", pid, exc)
        self._process.kill()

    def shutdown(self, timeout_ms: int = 3000) -> None:
        """Teardown: kill the child unless detached, and wait briefly so no process is left behind.

        The only blocking call here, meant for the end of the application or of a test, when the
        child must be gone before the console is.
        """
        if not self.is_running():
            return
        self.kill()
        self._process.waitForFinished(timeout_ms)

    def detach(self) -> None:
        """Stop supervising: the child keeps running after this object and the console are gone."""
        if not self.is_running():
            return
        self._term_timer.stop()
        self._kill_timer.stop()
        self._teardown.pid = None
        for signal_ in (self._process.started, self._process.finished, self._process.errorOccurred):
            signal_.disconnect()
        self._process.closeWriteChannel()
        # NotRunning means QProcess's destructor neither kills the child nor waits for it.
        self._process.setProcessState(QProcess.ProcessState.NotRunning)
        self._detached = True
        self.outcome = replace(self.outcome, end=RunEnd.DETACHED, ended_at=time.time())
        log.info("detached from pid %s", self.pid)
        self.finished.emit(self.outcome)

    # ----------------------------------------------------------------- QProcess signals
    def _on_started(self) -> None:
        self.outcome = replace(self.outcome, pid=int(self._process.processId()), started_at=time.time())
        self._teardown.pid = self.pid
        log.info("started pid %s", self.pid)
        self.started.emit()

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._term_timer.stop()
        self._kill_timer.stop()
        self._teardown.pid = None
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self.outcome = replace(
            self.outcome,
            ended_at=time.time(),
            end=RunEnd.CRASHED if crashed else RunEnd.EXITED,
            exit_code=None if crashed else int(exit_code),
            # On Unix, QProcess reports the number of the signal that ended a crashed child as its exit code.
            error=_signal_text(int(exit_code)) if crashed else self.outcome.error,
        )
        log.info("pid %s %s", self.pid, self.outcome.describe())
        if crashed and not self.outcome.stop_requested:
            self.errorOccurred.emit(f"{Path(self.command[0]).name} {self.outcome.describe()}")
        self.finished.emit(self.outcome)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        message = self._process.errorString()
        if error == QProcess.ProcessError.FailedToStart:
            # No finished() follows a failed start: close the run here.
            self.outcome = replace(
                self.outcome, end=RunEnd.FAILED_TO_START, ended_at=time.time(), error=message
            )
            self.errorOccurred.emit(f"could not start {self.command[0]}: {message}")
            self.finished.emit(self.outcome)
            return
        if error == QProcess.ProcessError.Crashed:
            return  # finished() follows and knows the signal; it reports an unrequested crash
        self.errorOccurred.emit(f"{self.command[0]}: {message}")


def _signal_text(number: int) -> str:
    """``killed by SIGKILL (9)``, or a plain phrase for a number that is not a signal."""
    try:
        return f"killed by {signal.Signals(number).name} ({number})"
    except ValueError:
        return "killed by a signal"
