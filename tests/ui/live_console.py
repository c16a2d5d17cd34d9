"""A real ConsoleController on a real Redis for the overview and workers tests.

The controller is the GUI's own; the session behind it is made of the core's real reader and
actions on an asyncio client of the test server.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import psutil
import pytest
import redis
import redis.asyncio as aioredis
from rq import Queue

from thesis_console.core import contract
from thesis_console.core.actions import QueueActions
from thesis_console.core.bullmq.actions import BullActions
from thesis_console.core.console_actions import ConsoleActions
from thesis_console.core.reader import QueueReader, ThroughputTracker
from thesis_console.core.types import ConnectionPhase, ConnectionState
from thesis_console.ui.controller import ConsoleController


class LiveSession:
    """What the controller needs of a session: ``reader``, ``actions``, ``state`` and ``close``."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.client = aioredis.Redis.from_url(url, decode_responses=False, socket_timeout=5)
        self.reader = QueueReader(self.client)
        self.actions = ConsoleActions(
            QueueActions(self.client, read_only=read_only, sync_factory=lambda: redis.Redis.from_url(url)),
            BullActions(self.client, "bull", read_only=read_only),
            self.reader.backend_of,
            read_only=read_only,
        )
        self.state = ConnectionState(ConnectionPhase.CONNECTED, "test", url, read_only=read_only)

    async def close(self) -> None:
        await self.actions.close()
        await self.client.aclose()


def live_controller(url: str, refresh_s: float = 0.5) -> ConsoleController:
    """A controller refreshing from ``url`` every ``refresh_s`` seconds (call on the qasync loop)."""
    controller = ConsoleController()
    controller.set_refresh_interval_s(refresh_s)
    controller.attach(LiveSession(url), worker_url=url, throughput=ThroughputTracker())
    return controller


async def close_controller(controller: ConsoleController) -> None:
    session = controller.session
    controller.detach()
    if session is not None:
        await asyncio.sleep(0.05)  # detach() schedules close(); let it finish before the loop goes


def enqueue_plain(conn: redis.Redis, func: str, count: int, queue: str = contract.DEFAULT_QUEUE_NAME) -> None:
    """Enqueue ``count`` JSON jobs of ``func`` without retries (a failure is final at once)."""
    q = Queue(queue, connection=conn, serializer=contract.SERIALIZER)
    for _ in range(count):
        q.enqueue(func)


def run_burst_worker(url: str, queue: str = contract.DEFAULT_QUEUE_NAME, timeout: float = 60) -> None:
    """Run a real ``thesis-worker --burst`` until the queue is empty."""
    subprocess.run(
        [sys.executable, "-m", "worker_runner", "--url", url, "--queue", queue, "--burst", "--log-level", "WARNING"],
        check=True,
        timeout=timeout,
    )


def alive_children() -> set[int]:
    """Pids of this process's descendants that are running (zombies waiting to be reaped are gone)."""
    alive = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return alive


def fail_if_children_left(before: set[int], timeout: float = 10.0) -> None:
    """Wait for descendants started since ``before`` to end; kill them and fail the test if they do not."""
    deadline = time.monotonic() + timeout
    while (left := alive_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        for pid in left:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        pytest.fail(f"processes left behind: {sorted(left)}")
