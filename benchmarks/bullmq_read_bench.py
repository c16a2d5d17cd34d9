"""BullMQ reading benchmark: pages at any depth and the counts of 10 queues on a Redis holding a million
BullMQ jobs, beside bull-board's API on the same Redis; then the bulk retry of 100,000 failed jobs
beside Node BullMQ's ``queue.retryJobs``.

Starts its own ``redis-server`` on a free port (persistence off), writes the jobs of the queue
``thesis-generation`` (400,000 waiting, 300,000 completed, 300,000 failed by default) with the bulk
writer that tests/core/bullmq/test_bulk_writer.py checks against the Node scripts' output, and nine
small queues beside it, then measures:

* ours: a page of 50 rows at the start, the middle and the end of waiting, completed and failed
  through the console's ``QueueReader`` (goal: under 20 ms, at most 2 round trips), and the counts
  of all 10 queues (the snapshot's BullMQ pipeline: goal 1 round trip);
* bull-board (``@bull-board/api`` 9.10.1 with ``@bull-board/express``, pinned in benchmarks/node):
  the same page positions through ``GET /api/queues?activeQueue=...&status=...&page=N&jobsPerPage=50``,
  and the counts through ``GET /api/queues``, over HTTP on a kept-alive connection;
* the Redis commands each request costs, from the server's statistics.

What bull-board's request does (read from its handlers/queues.js): every request answers for every
queue at once, with ``getJobCounts``, ``isPaused``, the global concurrency, the rate-limit TTL, the
job-scheduler count and ``getWorkers`` (a ``CLIENT LIST``) per queue; for the queue it shows, it
reads the page with BullMQ's ``getJobs(status, start, end)``, a ranged read (a Lua script for the
ids, then each job's hash), not the whole list. Its waiting list is newest first where ours is in
the order workers take jobs, so "the start" of waiting is the other end of the same list there.

The bulk retry is core_act_bench's (its functions): the console's BullMQ retry-all, then Node's
``queue.retryJobs({state: "failed"})`` on the same 100,000 jobs made again, run after the reading
measurements on the emptied Redis.

Run: ``python -m benchmarks.bullmq_read_bench [--jobs 1000000] [--repeat 20] [--retry-jobs 100000] [--no-board]``
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.asyncio as aioredis

from benchmarks.core_act_bench import (
    BULL_GOAL_JOBS_PER_S,
    check_bull_retried,
    make_failed_bull_jobs,
    node_retry_jobs,
    ours_bull,
)
from tests.core.bulk_jobs import command_calls, reset_command_stats
from tests.core.bullmq.bull_jobs import QUEUE, write_bulk
from thesis_console.core.bullmq import reader as bull
from thesis_console.core.bullmq.reader import BullReader
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import JobState

PAGE = 50
SMALL_QUEUES = [f"queue-{i}" for i in range(1, 10)]
SHARES = {JobState.WAITING: 0.4, JobState.COMPLETED: 0.3, JobState.FAILED: 0.3}
NODE_DIR = Path(__file__).resolve().parent / "node"


@dataclass
class Row:
    what: str
    ours_ms: float
    round_trips: int
    commands: int
    goal: str
    peer_ms: float | None = None
    peer_commands: int | None = None
    peer_path: str = ""


def fill(conn: redis.Redis, jobs: int) -> dict[JobState, int]:
    counts = {state: int(jobs * share) for state, share in SHARES.items()}
    for state, count in counts.items():
        started = time.perf_counter()
        write_bulk(conn, state, count, batch=10_000)
        print(f"  wrote {count:>9,} {state.value:<9} jobs in {time.perf_counter() - started:5.1f} s", flush=True)
    for queue in SMALL_QUEUES:
        write_bulk(conn, JobState.WAITING, 10, queue=queue)
        write_bulk(conn, JobState.FAILED, 5, queue=queue)
    return counts


def _commands(conn: redis.Redis) -> int:
    return sum(command_calls(conn).values())


async def measure_ours(url: str, conn: redis.Redis, counts: dict[JobState, int], repeat: int) -> list[Row]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    reader = QueueReader(client, timeout_s=30)
    queues = [QUEUE, *SMALL_QUEUES]
    rows = []
    try:
        snapshot = await reader.snapshot()  # finds the queues (a key scan), connects, warms up
        assert len(snapshot.queues) == len(queues), [q.name for q in snapshot.queues]

        async def read_counts() -> int:
            trips = RoundTrips(client, 30)
            replies = await trips.run(lambda pipe: bull.fill_counts(pipe, "bull", queues))
            parsed = bull.parse_counts("bull", queues, replies)
            assert parsed[0].waiting == counts[JobState.WAITING] and parsed[0].failed == counts[JobState.FAILED]
            return trips.count

        times = []
        for _ in range(repeat * 2):
            started = time.perf_counter()
            trips = await read_counts()
            times.append((time.perf_counter() - started) * 1000)
        reset_command_stats(conn)
        await read_counts()
        rows.append(Row(f"counts of {len(queues)} queues", statistics.median(times), trips, _commands(conn), "1 RT"))

        for state, total in counts.items():
            for label, offset in (("start", 0), ("middle", total // 2), ("end", total - PAGE)):
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    page = await reader.page(QUEUE, state, offset, PAGE)
                    times.append((time.perf_counter() - started) * 1000)
                assert len(page.rows) == PAGE and page.total == total and not any(r.problem for r in page.rows)
                counted = RoundTrips(client, 30)
                reset_command_stats(conn)
                await BullReader(counted, "bull").page(QUEUE, state, offset, PAGE)
                commands = _commands(conn)
                what = f"page {state.value} @{label} ({offset:,})"
                rows.append(Row(what, statistics.median(times), counted.count, commands, "<= 2 RT, < 20 ms"))
    finally:
        await client.aclose()
    return rows


class Board:
    """bull-board's API in a Node process, asked over one kept-alive HTTP connection."""

    def __init__(self, url: str, queues: list[str]) -> None:
        self.proc = subprocess.Popen(
            ["node", "board_server.mjs", url, "bull", *queues], cwd=NODE_DIR, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("bull-board's server exited before it listened")
        self.http = http.client.HTTPConnection("127.0.0.1", json.loads(line)["port"], timeout=120)

    def get(self, path: str) -> tuple[float, dict]:
        started = time.perf_counter()
        self.http.request("GET", path)
        response = self.http.getresponse()
        body = response.read()
        seconds = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"bull-board answered {response.status} for {path}: {body[:200]!r}")
        return seconds, json.loads(body)

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure_board(url: str, conn: redis.Redis, rows: list[Row], counts: dict[JobState, int], repeat: int) -> None:
    board = Board(url, [QUEUE, *SMALL_QUEUES])
    try:
        board.get("/api/queues")  # connect the queues and warm up outside the measurements
        for row in rows:
            if row.what.startswith("counts"):
                path = "/api/queues"
            else:
                state = next(s for s in counts if f"page {s.value} " in row.what)
                offset = int(row.what.split("(")[1].rstrip(")").replace(",", ""))
                path = f"/api/queues?activeQueue={QUEUE}&status={state.value}&page={offset // PAGE + 1}&jobsPerPage={PAGE}"
            samples = []
            for _ in range(repeat):
                seconds, body = board.get(path)
                samples.append(seconds * 1000)
            reset_command_stats(conn)
            _, body = board.get(path)
            row.peer_commands = _commands(conn)
            row.peer_ms = statistics.median(samples)
            row.peer_path = path
            shown = next(q for q in body["queues"] if q["name"] == QUEUE)
            assert len(body["queues"]) == len(SMALL_QUEUES) + 1
            if not row.what.startswith("counts"):
                assert len(shown["jobs"]) == PAGE, (path, len(shown["jobs"]))
            print(f"  bull-board: {row.what}: {row.peer_ms:.1f} ms, {row.peer_commands} commands", flush=True)
    finally:
        board.stop()


def print_table(rows: list[Row], board: bool) -> None:
    head = f"{'what':<36} {'ours ms':>8} {'RT':>3} {'cmds':>5} {'goal':>16}"
    if board:
        head += f" {'bull-board ms':>14} {'cmds':>6} {'ratio':>7}"
    print("\n" + head)
    print("-" * len(head))
    for row in rows:
        line = f"{row.what:<36} {row.ours_ms:>8.2f} {row.round_trips:>3} {row.commands:>5} {row.goal:>16}"
        if board and row.peer_ms is not None:
            line += f" {row.peer_ms:>14.1f} {row.peer_commands:>6} {row.peer_ms / row.ours_ms:>6.1f}x"
        print(line)


def measure_retry(url: str, conn: redis.Redis, jobs: int, batch: int) -> None:
    ids = make_failed_bull_jobs(url, conn, jobs)
    ours_s = asyncio.run(ours_bull(url, batch))
    problem = check_bull_retried(conn, ids, fresh=True)
    if problem:
        raise RuntimeError(f"the console's retry-all gave a wrong result: {problem}")
    ids = make_failed_bull_jobs(url, conn, jobs)
    node_s = node_retry_jobs(url, batch)
    node_problem = check_bull_retried(conn, ids, fresh=False) if node_s is not None else ""
    head = f"{'retry all failed':<36} {'jobs':>8} {'seconds':>8} {'jobs/s':>10}"
    print("\n" + head + "\n" + "-" * len(head))
    print(f"{'ours (console retry-all)':<36} {jobs:>8,} {ours_s:>8.2f} {jobs / ours_s:>10,.0f}")
    if node_s is None:
        print("Node BullMQ is not installed in tests/node (make test installs it): no side-by-side retry")
        return
    print(f"{'Node BullMQ queue.retryJobs':<36} {jobs:>8,} {node_s:>8.2f} {jobs / node_s:>10,.0f}")
    print(f"ratio Node / ours: {node_s / ours_s:.2f}x; goal >= {BULL_GOAL_JOBS_PER_S:,} jobs/s: "
          f"{'met' if jobs / ours_s >= BULL_GOAL_JOBS_PER_S else 'MISSED'}")  # fmt: skip
    if node_problem:
        print(f"note: Node's retryJobs result: {node_problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bullmq_read_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the big queue (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=20, help="samples per measurement (median shown)")
    parser.add_argument("--retry-jobs", type=int, default=100_000, help="failed jobs to retry; 0 skips (default 100,000)")
    parser.add_argument("--batch", type=int, default=1000, help="jobs per step of both bulk retries")
    parser.add_argument("--no-board", action="store_true", help="skip the bull-board comparison")
    args = parser.parse_args(argv)

    board = not args.no_board
    if board and (shutil.which("node") is None or not (NODE_DIR / "node_modules" / "@bull-board" / "api").exists()):
        print(f"bull-board is not installed in {NODE_DIR} (make bench installs it): no side-by-side reading")
        board = False
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    server: EmbeddedRedis = start_server(Path(tempfile.mkdtemp(prefix="bullmq-read-bench-")), free_port())
    try:
        conn = redis.Redis.from_url(server.url)
        conn.config_set("appendonly", "no")  # a throw-away data set: no disk writes while filling
        print(f"redis-server {conn.info('server')['redis_version']} on {server.url}; writing {args.jobs:,} BullMQ jobs", flush=True)
        started = time.perf_counter()
        counts = fill(conn, args.jobs)
        print(f"  filled in {time.perf_counter() - started:.0f} s, Redis uses {conn.info('memory')['used_memory_human']}", flush=True)
        rows = asyncio.run(measure_ours(server.url, conn, counts, args.repeat))
        if board:
            measure_board(server.url, conn, rows, counts, max(3, args.repeat // 4))
        print_table(rows, board)
        missed = [r.what for r in rows if (r.what.startswith("page") and (r.ours_ms >= 20 or r.round_trips > 2))
                  or (r.what.startswith("counts") and r.round_trips > 1)]  # fmt: skip
        if missed:
            print(f"\nmissed goals: {', '.join(missed)}")
        if args.retry_jobs:
            measure_retry(server.url, conn, args.retry_jobs, args.batch)
        print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
