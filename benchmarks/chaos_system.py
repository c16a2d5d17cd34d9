"""The chaos run's hold on the system under test: its ``thesis-worker`` supervisors, its redis-server,
and reads of RQ's keys (busy workers, the scheduler-lock holder) that choose and time the faults."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis

from benchmarks.soak_job import SOAK_FUNCTION
from thesis_console.core import contract
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, pid_alive, start_server
from thesis_console.core.job_allowlist import ALLOW_ENV

REPO_ROOT = Path(__file__).resolve().parent.parent
QUEUE = contract.DEFAULT_QUEUE_NAME
LOCK_KEY = f"rq:scheduler-lock:{QUEUE}"


def text(value) -> str:  # type: ignore[no-untyped-def]
    """A Redis reply as text."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


# ------------------------------------------------------------------ processes
class Supervisors:
    """The ``thesis-worker`` child processes of the run."""

    def __init__(
        self,
        url: str,
        workdir: Path,
        recovery_interval_s: float,
        completed_keep: int,
        failed_keep: int,
        extra_args: tuple[str, ...] = (),
        allow: tuple[str, ...] = (SOAK_FUNCTION,),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``extra_args`` go to every ``thesis-worker`` (the backend, its queue); ``allow`` is their
        allowlist; ``env`` adds to their environment."""
        self.url = url
        self.workdir = workdir
        self.recovery_interval_s = recovery_interval_s
        self.extra_args = extra_args
        self.procs: dict[str, subprocess.Popen] = {}
        self.counter = 0
        self.env = {
            **os.environ,
            "THESIS_OUTPUT_DIR": str(workdir / "out"),
            "THESIS_DATA_DIR": str(workdir / "data"),
            contract.COMPLETED_KEEP_ENV: str(completed_keep),
            contract.FAILED_KEEP_ENV: str(failed_keep),
            ALLOW_ENV: ",".join(allow),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
            **(env or {}),
        }
        self.env.pop("REDIS_URL", None)

    def start(self, concurrency: int) -> str:
        self.counter += 1
        sup_id = f"chaos-{self.counter}"
        log = open(self.workdir / f"{sup_id}.out", "wb")  # noqa: SIM115 (kept open for the child's life)
        self.procs[sup_id] = subprocess.Popen(
            [
                sys.executable, "-m", "worker_runner", "--url", self.url, "-n", str(concurrency),
                "--id", sup_id, "--heartbeat", "1", "--recovery-interval", str(self.recovery_interval_s),
                "--grace", "5", "--restart-backoff-max", "3", "--log-dir", str(self.workdir / "logs"),
                "--log-level", "WARNING", *self.extra_args,
            ],
            env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )  # fmt: skip
        return sup_id

    def alive(self) -> list[str]:
        return [sid for sid, p in self.procs.items() if p.poll() is None]

    def kill(self, sup_id: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.procs[sup_id].kill()
        self.procs[sup_id].wait()

    def terminate(self, sup_id: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.procs[sup_id].terminate()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class RunRedis:
    """The run's redis-server: restarts on the same port and folder, with the outages recorded."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.port = free_port()
        self.server: EmbeddedRedis = self._start()
        self.url = self.server.url
        self.outages: list[tuple[float, float]] = []

    def _start(self) -> EmbeddedRedis:
        server = start_server(self.dir, self.port)
        conn = redis.Redis(host=server.host, port=server.port, socket_timeout=5)
        conn.config_set("appendfsync", "always")  # a SIGKILL then loses no acknowledged write
        conn.close()
        return server

    def restart(self, kill: bool, down_s: float) -> tuple[float, float]:
        """Stop (SHUTDOWN, or SIGKILL when ``kill``), wait ``down_s``, start again; (down, back) times."""
        down_at = time.time()
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.server.pid, 0)
        else:
            self.server.stop()
        time.sleep(down_s)
        self.server = self._start()
        back_at = time.time()
        self.outages.append((down_at, back_at))
        return down_at, back_at

    def stop(self) -> None:
        self.server.stop()


# ------------------------------------------------------------------ reading the system
@dataclass(frozen=True)
class Busy:
    """A worker process that holds a job now."""

    worker: str
    pid: int
    job_id: str
    execution: str
    """What ties this run to the worker: RQ's started-registry member ``job_id:execution_id``, BullMQ's lock token."""


def busy_workers(conn: redis.Redis) -> list[Busy]:
    """Every live worker that runs a job now."""
    keys = [text(n) for n in conn.smembers("rq:workers")]
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, ["pid", "state"])
        pipe.smembers(f"{key}:executions")  # RQ 3: the worker's running executions, "job_id:execution_id"
    replies = pipe.execute()
    found = []
    for key, (pid, state), executions in zip(keys, replies[::2], replies[1::2], strict=True):
        members = sorted(text(e) for e in executions)
        if pid and members and text(state) == "busy" and pid_alive(int(pid)):
            found.append(Busy(key.removeprefix("rq:worker:"), int(pid), members[0].rsplit(":", 1)[0], members[0]))
    return found


def live_worker_pids(conn: redis.Redis, supervisors: set[str]) -> list[int]:
    """Pids of the live workers of ``supervisors``."""
    keys = [text(n) for n in conn.smembers("rq:workers")]
    keys = [k for k in keys if k.removeprefix("rq:worker:").partition(".")[0] in supervisors]
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "pid")
    return [int(pid) for pid in pipe.execute() if pid and pid_alive(int(pid))]


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@dataclass(frozen=True)
class Holder:
    lock_value: str
    scheduler_pid: int
    worker: str
    worker_pid: int


def scheduler_holder(conn: redis.Redis) -> Holder | None:
    """The worker whose scheduler holds the queue's lock (its scheduler is a child process of it)."""
    value = text(conn.get(LOCK_KEY))
    if not value:
        return None
    raw_pid = conn.hget(f"rq:scheduler:{value}", "pid")
    scheduler_pid = int(raw_pid) if raw_pid else 0
    worker_pid = _parent_pid(scheduler_pid) if scheduler_pid else None
    if not worker_pid:
        return None
    keys = [text(n) for n in conn.smembers("rq:workers")]
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "pid")
    for key, pid in zip(keys, pipe.execute(), strict=True):
        if pid and int(pid) == worker_pid:
            return Holder(value, scheduler_pid, key.removeprefix("rq:worker:"), worker_pid)
    return None
