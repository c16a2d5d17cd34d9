from __future__ import annotations

import socket
import subprocess
import time

from tests.helpers import wait_for
from thesis_console.core.supervisor_protocol import SupervisorRecord
from worker_runner import registration


def _record(pid: int) -> SupervisorRecord:
    return SupervisorRecord(
        id="web-1", host=socket.gethostname(), pid=pid, queues=("thesis",), desired=1, live=0, workers=(),
        started_at=time.time(), restarts=0, heartbeat_at=time.time(),
    )  # fmt: skip


def _is_zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_an_id_whose_process_on_this_host_is_a_zombie_is_free(redis_conn):
    exited = subprocess.Popen(["true"])  # not reaped yet: a zombie, as a killed supervisor can be
    try:
        wait_for(lambda: _is_zombie(exited.pid), 10, message="the child to exit")
        registration.write_record(redis_conn, _record(exited.pid), heartbeat_s=2)
        assert registration.id_in_use(redis_conn, "web-1", socket.gethostname(), pid=1) is None
    finally:
        exited.wait()


def test_an_id_whose_process_runs_is_in_use(redis_conn):
    running = subprocess.Popen(["sleep", "30"])
    try:
        registration.write_record(redis_conn, _record(running.pid), heartbeat_s=2)
        other = registration.id_in_use(redis_conn, "web-1", socket.gethostname(), pid=1)
        assert other is not None and other.pid == running.pid
    finally:
        running.kill()
        running.wait()
