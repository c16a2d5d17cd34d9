"""Fixtures for the supervisor tests: a supervisor child process to talk to, and a leak check.

Every test that starts supervisors gets a unique supervisor id prefix; after the test, no process
whose environment marks it as one of that test's workers (worker, work horse or scheduler) may be
left, or the test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from tests.helpers import wait_for
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server
from thesis_console.core.supervisor_protocol import SupervisorRecord, record_key
from worker_runner.parent_death import WORKER_MARKER_ENV

FAST_FLAGS = ("--heartbeat", "0.5", "--recovery-interval", "1", "--grace", "5", "--autoscale-cooldown", "1")


class SupervisorRun:
    """One ``python -m worker_runner`` child: stdin commands, JSON status lines, its record."""

    def __init__(self, supervisor_id: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.id = supervisor_id
        self.log_dir = log_dir
        self.stderr_path = log_dir.parent / f"{supervisor_id}.stderr"
        log_dir.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (open for the child's whole life)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker_runner", "--id", supervisor_id, "--log-dir", str(log_dir), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, **env},
            text=True,
        )
        self.lines: list[dict] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self.lines.append(payload)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            return [p for p in self.lines if kind is None or p.get("event") == kind]

    def latest(self) -> dict:
        with self._lock:
            return dict(self.lines[-1]) if self.lines else {}

    def send(self, line: str, timeout: float = 10.0) -> dict:
        """Write one command line; returns its JSON reply."""
        before = len(self.events("reply"))
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return wait_for(lambda: self.events("reply")[before:] and self.events("reply")[before], timeout, message=f"reply to {line!r}")

    def record(self, conn: redis.Redis) -> SupervisorRecord | None:
        raw = conn.get(record_key(self.id))
        return SupervisorRecord.from_json(raw) if raw else None

    def worker_processes(self) -> list[psutil.Process]:
        """Live worker processes (direct children running worker_main)."""
        try:
            children = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "worker_runner.worker_main" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    def wait_live(self, conn: redis.Redis, count: int, timeout: float = 30.0) -> SupervisorRecord:
        """Until exactly ``count`` worker processes run and the record says so."""

        def settled() -> SupervisorRecord | None:
            record = self.record(conn)
            if record is None or record.live != count or len(self.worker_processes()) != count:
                return None
            return record

        return wait_for(settled, timeout, message=f"{count} live workers of {self.id}")

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self._stderr.close()


@pytest.fixture
def test_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def supervisors(isolated_env: Path, test_prefix: str) -> Iterator:
    """Start supervisors with ``supervisors(*args, suffix='a', env={})``; all are stopped after the test."""
    started: list[SupervisorRun] = []

    def start(*args: str, suffix: str = "a", env: dict[str, str] | None = None, fast: bool = True) -> SupervisorRun:
        run = SupervisorRun(
            f"{test_prefix}-{suffix}",
            [*(FAST_FLAGS if fast else ()), *args],
            env or {},
            isolated_env / "logs" / "workers",
        )
        started.append(run)
        return run

    yield start
    for run in started:
        run.close()
    _assert_no_leftovers(test_prefix)


def _assert_no_leftovers(prefix: str) -> None:
    """Fail when a worker, horse or scheduler of this test's supervisors is still running."""
    marker = f"{WORKER_MARKER_ENV}={prefix}".encode()

    def leftovers() -> list[int]:
        found = []
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if proc.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
                with open(f"/proc/{proc.pid}/environ", "rb") as fh:
                    if any(item.startswith(marker) for item in fh.read().split(b"\0")):
                        found.append(proc.pid)
            except (OSError, psutil.Error):
                continue
        return found

    deadline = time.monotonic() + 10
    left = leftovers()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftovers()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes left behind by the supervisor: {left}"


class OwnRedis:
    """A redis-server of the test's own, to shut down, kill and start again on the same port and data.

    Args:
        appendfsync: ``always`` for tests that kill Redis and count exactly: with ``everysec`` a
            SIGKILL may undo the last second of writes.
    """

    def __init__(self, data_dir: Path, appendfsync: str = "everysec") -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.appendfsync = appendfsync
        self.server: EmbeddedRedis | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = start_server(self.data_dir, self.port, appendfsync=self.appendfsync)

    def shutdown(self) -> None:
        """SHUTDOWN: the append-only file is written out, then the server exits."""
        assert self.server is not None
        self.server.stop()
        self.server = None

    def kill(self) -> None:
        """SIGKILL: the server dies at once."""
        assert self.server is not None
        os.kill(self.server.pid, signal.SIGKILL)
        os.waitpid(self.server.pid, 0)
        self.server = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator:
    """Start :class:`OwnRedis` servers with ``own_redis(appendfsync=...)``; all are stopped after the test."""
    started: list[OwnRedis] = []

    def start(appendfsync: str = "everysec") -> OwnRedis:
        server = OwnRedis(tmp_path / f"own-redis-{len(started)}", appendfsync)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
