"""Position benchmark: how long finding a job's row in its state's table takes (the jump from a search
match to its table), on a BullMQ queue beside an RQ queue of the same size on the same Redis.

Starts its own ``redis-server`` on a free port (persistence off) and writes, for each backend, the
same numbers of waiting and failed jobs (200,000 and 100,000 by default): BullMQ's with the bulk writer
that tests/core/bullmq/test_bulk_writer.py checks against the Node scripts, RQ's with the tests' bulk
writer (ids in the lists and registries only: a position reads no job hash). Then, through the
console's ``QueueReader``, it asks for the position of the first, the middle and the last job of
each state in the table's order, in both orders, and prints the median time, the round trips and the
Redis commands of each, BullMQ beside RQ with the ratio.

What it shows: a sorted set answers in O(log N) (ZRANK/ZREVRANK), whatever the depth; a list is
walked by LPOS inside Redis from the end the table starts at (no ids come back to the client), so its
cost grows with the row's depth in either order.

Run: ``python -m benchmarks.position_bench [--waiting 200000] [--failed 100000] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from benchmarks.bench_setup import bench_redis
from tests.core.bulk_jobs import command_calls, reset_command_stats, write_jobs
from tests.core.bullmq.bull_jobs import QUEUE as BULL_QUEUE
from tests.core.bullmq.bull_jobs import write_bulk
from thesis_console.core.bullmq.reader import BullReader
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.rq_reader import RqReader
from thesis_console.core.types import JobState

RQ_QUEUE = "thesis"
STATES = (JobState.WAITING, JobState.FAILED)


@dataclass
class Row:
    what: str
    bull_ms: float
    bull_trips: int
    bull_commands: int
    rq_ms: float
    rq_trips: int
    rq_commands: int


def fill(conn: redis.Redis, counts: dict[JobState, int]) -> dict[tuple[str, JobState], list[str]]:
    """Both queues' jobs; each state's ids in the table's forward order."""
    ordered = {}
    for state, count in counts.items():
        started = time.perf_counter()
        bull = write_bulk(conn, state, count, batch=10_000)
        rq = write_jobs(conn, RQ_QUEUE, state, count, with_hashes=False)
        newest_first = state is JobState.FAILED
        ordered[(BULL_QUEUE, state)] = bull[::-1] if newest_first else bull
        ordered[(RQ_QUEUE, state)] = rq[::-1] if newest_first else rq
        print(f"  wrote {count:>9,} {state.value} jobs per backend in {time.perf_counter() - started:5.1f} s", flush=True)
    return ordered


async def measure(url: str, conn: redis.Redis, ordered: dict[tuple[str, JobState], list[str]], repeat: int) -> list[Row]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    reader = QueueReader(client, timeout_s=30)

    async def timed(queue: str, state: JobState, job_id: str, row: int, reverse: bool) -> tuple[float, int, int]:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            found = await reader.position(queue, state, job_id, reverse)
            times.append((time.perf_counter() - started) * 1000)
        assert found == row, (queue, state.value, job_id, found, row)
        trips = RoundTrips(client, 30)
        backend = BullReader(trips, "bull") if queue == BULL_QUEUE else RqReader(trips)
        reset_command_stats(conn)
        await backend.position(queue, state, job_id, reverse)
        return statistics.median(times), trips.count, sum(command_calls(conn).values())

    rows = []
    try:
        await reader.snapshot()  # connects, finds the BullMQ queue
        for state in STATES:
            for reverse in (False, True):
                bull_ids, rq_ids = ordered[(BULL_QUEUE, state)], ordered[(RQ_QUEUE, state)]
                total = len(bull_ids)
                for label, row in (("first", 0), ("middle", total // 2), ("last", total - 1)):
                    at = total - 1 - row if reverse else row  # the job shown at ``row`` in this order
                    bull_ms, bull_trips, bull_commands = await timed(BULL_QUEUE, state, bull_ids[at], row, reverse)
                    rq_ms, rq_trips, rq_commands = await timed(RQ_QUEUE, state, rq_ids[at], row, reverse)
                    order = "reversed" if reverse else "forward"
                    what = f"{state.value} {order}, {label} row ({row:,} of {total:,})"
                    rows.append(Row(what, bull_ms, bull_trips, bull_commands, rq_ms, rq_trips, rq_commands))
    finally:
        await client.aclose()
    return rows


def print_table(rows: list[Row]) -> None:
    print(f"\n{'position of':<50} {'BullMQ ms':>9} {'RT':>3} {'cmds':>5} {'RQ ms':>8} {'RT':>3} {'cmds':>5} {'BullMQ/RQ':>9}")
    for r in rows:
        ratio = r.bull_ms / r.rq_ms if r.rq_ms else float("nan")
        print(f"{r.what:<50} {r.bull_ms:9.2f} {r.bull_trips:3d} {r.bull_commands:5d} {r.rq_ms:8.2f} {r.rq_trips:3d} {r.rq_commands:5d} {ratio:9.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.position_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=200_000, help="waiting jobs per backend (default 200,000)")
    parser.add_argument("--failed", type=int, default=100_000, help="failed jobs per backend (default 100,000)")
    parser.add_argument("--repeat", type=int, default=20, help="samples per measurement (median shown)")
    args = parser.parse_args(argv)
    if args.waiting < 1 or args.failed < 1 or args.repeat < 1:
        parser.error("--waiting, --failed and --repeat must be at least 1")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with bench_redis("position-bench-") as (_tmp, server):
        conn = redis.Redis.from_url(server.url)
        conn.config_set("appendonly", "no")
        print(f"redis-server {conn.info('server')['redis_version']} on {server.url}", flush=True)
        ordered = fill(conn, {JobState.WAITING: args.waiting, JobState.FAILED: args.failed})
        rows = asyncio.run(measure(server.url, conn, ordered, args.repeat))
        print_table(rows)
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
