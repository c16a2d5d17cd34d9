"""BullMQ workers in the snapshot, found in the server's client list: Node and Python, each by its own naming."""

from __future__ import annotations

import base64

import pytest
import redis

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs
from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker
from thesis_console.core.bullmq.clients import parse_name
from thesis_console.core.embedded_redis import EmbeddedRedis
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import Backend, BullLibrary

B64 = base64.b64encode(QUEUE.encode()).decode()


@pytest.fixture
def redis_server(private_redis_server: EmbeddedRedis) -> EmbeddedRedis:
    """This module counts the server's CLIENT LIST calls and changes its users: a server of its own per test."""
    return private_redis_server


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"bull:{B64}", (BullLibrary.NODE, QUEUE, "")),
        (f"bull:{B64}:w:node-1", (BullLibrary.NODE, QUEUE, "node-1")),
        (f"bull:{QUEUE}", (BullLibrary.PYTHON, QUEUE, "")),
        (f"bull:{QUEUE}:w:sup.thesis-generation-1", (BullLibrary.PYTHON, QUEUE, "sup.thesis-generation-1")),
        (f"bull:{base64.b64encode(b'fresh').decode()}:w:n", (BullLibrary.NODE, "fresh", "n")),  # a queue not known yet
        ("bull:unknown-queue", (BullLibrary.PYTHON, "unknown-queue", "")),
        (f"bull:{B64}:qe", None),  # Node's QueueEvents, not a worker
        ("rq:worker:abc", None),
        ("", None),
        ("bull:", None),
        ("other:thesis-generation", None),
    ],
)
def test_connection_names_of_both_libraries_are_told_apart(name, expected):
    assert parse_name(name, "bull", [QUEUE]) == expected


def _snapshot(url: str):
    return run(url, lambda c: QueueReader(c).snapshot())


def _client_commands_of_one_snapshot(conn: redis.Redis, url: str) -> int:
    """CLIENT commands the server counted during one snapshot on a connection already made (Redis 6
    counts subcommands together, and a new connection sends CLIENT commands of its own)."""

    async def read(client):
        reader = QueueReader(client)
        await reader.snapshot()
        before = int(conn.info("commandstats").get("cmdstat_client", {}).get("calls", 0))
        await reader.snapshot()
        return int(conn.info("commandstats").get("cmdstat_client", {}).get("calls", 0)) - before

    return run(url, read)


@pytest.mark.slow(20)
def test_node_and_python_workers_are_listed_with_address_age_idle_and_supervisor(redis_conn, redis_url, processes, isolated_env):
    add_jobs(redis_url, [({"topic": "keeps the queue known"}, {"delay": 3_600_000})])
    named = NodeWorker(redis_url, options={"name": "node-1"})
    unnamed = NodeWorker(redis_url)
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--backend", "bullmq", "--queue", QUEUE, "--id", "core-bull",
        "--concurrency", "1", "--heartbeat", "0.5", "--log-level", "WARNING",
    )  # fmt: skip
    try:
        named.wait_ready()
        unnamed.wait_ready()
        def settled(s):  # the Python worker names its two connections one after the other, and the
            # supervisor's record lists it from its next heartbeat on
            python = [w for w in s.bullmq_workers if w.library is BullLibrary.PYTHON]
            return len(s.bullmq_workers) == 3 and python and python[0].connections >= 2 and python[0].supervisor

        snapshot = wait_for(
            lambda: s if settled(s := _snapshot(redis_url)) else None,
            timeout=60, message="2 Node workers and 1 supervised Python worker with both connections, listed by its supervisor",
        )  # fmt: skip
        by_library = {(w.library, w.name != ""): w for w in snapshot.bullmq_workers}
        node, anonymous = by_library[(BullLibrary.NODE, True)], by_library[(BullLibrary.NODE, False)]
        python = by_library[(BullLibrary.PYTHON, True)]
        assert node.name == "node-1" and node.client_name == f"bull:{B64}:w:node-1" and node.connections == 1
        assert anonymous.client_name == f"bull:{B64}" and anonymous.supervisor == ""
        (record,) = snapshot.supervisors
        assert python.name in record.workers and python.supervisor == "core-bull"
        for worker in snapshot.bullmq_workers:
            assert worker.queue == QUEUE and worker.backend is Backend.BULLMQ
            assert worker.address.startswith("127.0.0.1:") and worker.age_s >= 0 and worker.idle_s >= 0
        assert snapshot.bullmq_workers_problem is None and snapshot.round_trips == 3


        named.stop()
        wait_for(lambda: all(w.name != "node-1" for w in _snapshot(redis_url).bullmq_workers), message="node-1 gone")
    finally:
        named.stop()
        unnamed.stop()
    assert _client_commands_of_one_snapshot(redis_conn, redis_url) == 1  # one CLIENT LIST


def test_a_refused_client_list_is_said_and_the_rest_of_the_snapshot_is_read(redis_conn, redis_server):
    add_jobs(redis_server.url, [({"topic": "waiting"}, {})])
    redis_conn.acl_setuser("console", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                           commands=["+@all", "-client", "+client|setname", "+client|getname", "+client|id"])  # fmt: skip
    url = redis_server.url.replace("redis://", "redis://console:secret@")

    snapshot = _snapshot(url)

    assert snapshot.queue(QUEUE).waiting == 1 and snapshot.bullmq_workers == ()
    assert "refused CLIENT LIST" in snapshot.bullmq_workers_problem and "ACL" in snapshot.bullmq_workers_problem
    assert "secret" not in snapshot.bullmq_workers_problem
