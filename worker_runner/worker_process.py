"""How the supervisor starts one worker process, and what it remembers of it.

Each worker is a fresh interpreter running :mod:`worker_runner.worker_main` (not a fork of the
supervisor, which has threads and Redis connections that a fork would copy). Its stdout and stderr
go to its own log file from the first byte, so even an import error is kept. The Redis URL travels
in the environment, never on the command line where ``ps`` shows it to every user. The worker stays
in the supervisor's process group, so a console that kills the group kills the workers too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from thesis_console.core.job_allowlist import ALLOW_ENV
from worker_runner.config import SupervisorConfig, WorkerBackend
from worker_runner.parent_death import WORKER_MARKER_ENV
from worker_runner.redis_wait import EMBEDDED_DIR_ENV, EXIT_REDIS_MOVED
from worker_runner.worker_args import shared_arguments
from worker_runner.worker_logs import log_path

__all__ = ["EXIT_REDIS_MOVED", "WorkerProcess", "describe_exit", "spawn_worker", "worker_command"]


@dataclass
class WorkerProcess:
    """One running worker process as the supervisor tracks it."""

    name: str
    popen: subprocess.Popen
    started_at: float
    """``time.monotonic()`` at start."""
    log_file: Path
    retiring: bool = False
    """Asked to leave (scale-down or shutdown): it finishes its job first."""
    stop_sent_at: float | None = None
    cold_stop_sent: bool = False
    killed: bool = False

    @property
    def pid(self) -> int:
        return int(self.popen.pid)

    def signal(self, sig: int) -> bool:
        """Send ``sig``; False when the process is already gone."""
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def warm_stop(self) -> None:
        """Ask it to leave after its current job (RQ's warm shutdown)."""
        self.retiring = True
        if self.stop_sent_at is None:
            self.stop_sent_at = time.monotonic()
            self.signal(signal.SIGTERM)

    def cold_stop(self) -> None:
        """Stop it now: RQ kills the work horse and the worker exits (the job goes back by recovery)."""
        self.retiring = True
        if self.stop_sent_at is None:
            self.warm_stop()
            return
        if not self.cold_stop_sent:
            self.cold_stop_sent = True
            self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.retiring = True
        self.killed = True
        self.signal(signal.SIGKILL)


def worker_command(config: SupervisorConfig, name: str, log_file: Path, supervisor_pid: int) -> list[str]:
    shared = shared_arguments(name, log_file, config.log_level, config.log_max_bytes, config.log_backups, supervisor_pid)
    if config.backend is WorkerBackend.BULLMQ:
        return [
            sys.executable, "-m", "worker_runner.bullmq_worker_main", *shared,
            "--queue", config.queues[0],
            "--prefix", config.bullmq_prefix,
            "--job-name", config.job_name,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "worker_runner.worker_main", *shared,
        "--queues", ",".join(config.queues),
        "--worker-class", config.worker_class,
        "--supervisor-id", config.supervisor_id,
    ]  # fmt: skip


def spawn_worker(config: SupervisorConfig, name: str, url: str, embedded_dir: Path | None = None) -> WorkerProcess:
    """Start one worker process named ``name`` (its log file is named after it).

    Args:
        embedded_dir: the embedded Redis's data folder when ``url`` is that server (the worker then
            restarts or follows it when it dies).

    Raises:
        OSError: the log file or the process could not be created.
    """
    config.log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_path(config.log_dir, name)
    env = {**os.environ, "REDIS_URL": url, WORKER_MARKER_ENV: name, "PYTHONUNBUFFERED": "1", ALLOW_ENV: ",".join(config.allow)}
    env.pop(EMBEDDED_DIR_ENV, None)
    if embedded_dir is not None:
        env[EMBEDDED_DIR_ENV] = str(embedded_dir)
    with open(log_file, "ab") as output:
        popen = subprocess.Popen(
            worker_command(config, name, log_file, os.getpid()),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=env,
            close_fds=True,
        )
    return WorkerProcess(name=name, popen=popen, started_at=time.monotonic(), log_file=log_file)


def describe_exit(status: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL``, from a ``waitpid`` status."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    return f"status {status}"
