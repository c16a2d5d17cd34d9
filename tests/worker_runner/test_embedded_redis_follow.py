"""Supervisors on the embedded default get the managed Redis back when it dies; and a URL that
stops being a Redis is said in one line."""

from __future__ import annotations

import fcntl
import json
import os
import signal
from pathlib import Path

import pytest
import redis
from rq.job import JobStatus

from tests.helpers import SocketServer, answer_http, wait_for
from tests.worker_runner.test_supervisor import _fetch
from thesis_console.core import contract
from thesis_console.core.embedded_redis import free_port, pid_alive, stop_server


def _state(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / "server.json").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture
def embedded(isolated_env: Path, monkeypatch: pytest.MonkeyPatch):
    """The embedded default for supervisors started in this test: no REDIS_URL, a data folder of its own."""
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("THESIS_REDIS_PORT", str(free_port()))
    data_dir = isolated_env / "data" / "redis"
    yield data_dir
    state = _state(data_dir)
    if state and pid_alive(int(state["pid"])):
        stop_server(int(state["pid"]), state["host"], int(state["port"]))


def _live_server(data_dir: Path, other_than: int | None = None) -> dict:
    def found() -> dict | None:
        state = _state(data_dir)
        if not state or state["pid"] == other_than or not pid_alive(int(state["pid"])):
            return None
        return state

    return wait_for(found, 30, message="a live embedded Redis")


def _take_port(port: int) -> SocketServer:
    """Listen on ``port`` as soon as the dead server's last thread let go of it."""

    def take() -> SocketServer | None:
        try:
            return SocketServer(answer_http, port=port)
        except OSError:
            return None

    return wait_for(take, 10, message=f"port {port} to be free")


def _worker_logs(sup) -> list[str]:
    return [p.read_text(errors="replace") for p in sup.log_dir.glob(f"{sup.id}.*.log")]


def _runs_a_job(url: str) -> None:
    conn = redis.Redis.from_url(url)
    job = contract.thesis_queue(conn).enqueue("tests.jobs.noop")
    wait_for(lambda: _fetch(conn, job.id).get_status() == JobStatus.FINISHED, 30, message="a job to run")
    conn.close()


@pytest.mark.parametrize("port_taken", [False, True], ids=["same-port", "port-taken"])
def test_a_dead_embedded_redis_is_brought_back(embedded, supervisors, port_taken):
    sup = supervisors("-n", "2")
    first = _live_server(embedded)
    url = f"redis://127.0.0.1:{first['port']}/0"
    conn = redis.Redis.from_url(url)
    sup.wait_live(conn, 2)
    conn.close()
    _runs_a_job(url)

    # Holding the launcher's lock while killing it, so that the port can be taken before anyone
    # restarts the server (they all wait for that lock).
    with open(embedded / "launcher.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.kill(first["pid"], signal.SIGKILL)
        wait_for(lambda: not pid_alive(first["pid"]), 10, message="the embedded Redis to die")
        squatter = _take_port(first["port"]) if port_taken else None
        fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        second = _live_server(embedded, other_than=first["pid"])
        assert (second["port"] == first["port"]) is not port_taken
        url = f"redis://127.0.0.1:{second['port']}/0"
        conn = redis.Redis.from_url(url)
        sup.wait_live(conn, 2, timeout=60)
        conn.close()
        _runs_a_job(url)
        assert sup.proc.poll() is None
        assert "Traceback" not in sup.stderr_text()
    finally:
        if squatter is not None:
            squatter.close()


def test_sigterm_when_the_url_is_not_a_redis_any_more(own_redis, supervisors):
    server = own_redis()
    conn = server.client()
    sup = supervisors("-n", "2", env={"REDIS_URL": server.url})
    sup.wait_live(conn, 2)
    conn.close()
    server.shutdown()
    squatter = SocketServer(answer_http, port=server.port)
    try:
        wait_for(lambda: "not a Redis at" in sup.stderr_text(), 30, message="the supervisor to say so")
        wait_for(lambda: any("not a Redis at" in log for log in _worker_logs(sup)), 30, message="a worker to say so")
        assert sup.terminate(timeout=30) == 0
    finally:
        squatter.close()
    text = sup.stderr_text()
    assert text.count("not a Redis at") == 1, text
    assert "Traceback" not in text
    logs = _worker_logs(sup)
    for log in logs:
        assert "Traceback" not in log, log
        assert log.count("not a Redis at") <= 1, log
