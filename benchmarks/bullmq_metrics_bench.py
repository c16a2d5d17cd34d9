"""BullMQ charts and workers benchmark: ``metric_series`` of a BullMQ queue over each chart range, and the
snapshot's cost with many BullMQ worker connections (its one ``CLIENT LIST``).

Starts its own ``redis-server`` on a free port (persistence off) and writes, for ``thesis-generation``:
``--jobs`` completed jobs (200,000 by default) finished at random times over the last 7 days, each
with ``processedOn``/``finishedOn``, and full BullMQ metrics (10,080 per-minute points). Then measures:

* ``metric_series`` for Live (15 min), 1 h, 24 h and 7 days: median time, round trips, commands;
* the snapshot with 0 and with ``--clients`` (200) idle connections named as Python BullMQ workers,
  side by side: what listing the workers adds.

Run: ``python -m benchmarks.bullmq_metrics_bench [--jobs 200000] [--clients 200] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

from tests.core.bulk_jobs import command_calls, reset_command_stats
from thesis_console.core.bullmq import metrics
from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips

QUEUE = "thesis-generation"
KEYS = f"bull:{QUEUE}"
RANGES = (("Live", 900), ("1 h", 3600), ("24 h", 86_400), ("7 d", 604_800))
WEEK_MINUTES = 7 * 24 * 60


def write_jobs(conn: redis.Redis, count: int, now: float) -> None:
    rng = random.Random(7)
    with conn.pipeline(transaction=False) as pipe:
        for i in range(count):
            finished = int((now - rng.random() * 7 * 86_400) * 1000)
            pipe.hset(f"{KEYS}:{i}", mapping={"name": "generate-thesis", "data": "{}", "opts": "{}",
                                               "processedOn": finished - rng.randint(100, 5000), "finishedOn": finished})  # fmt: skip
            pipe.zadd(f"{KEYS}:completed", {str(i): finished})
            if i % 5000 == 4999:
                pipe.execute()
        pipe.hset(f"{KEYS}:meta", "version", "bullmq:5.81.5")
        pipe.hset(f"{KEYS}:metrics:completed", mapping={"count": count, "prevTS": int(now * 1000), "prevCount": count - 3})
        pipe.rpush(f"{KEYS}:metrics:completed:data", *[rng.randint(0, 40) for _ in range(WEEK_MINUTES)])
        pipe.execute()


async def series_figures(url: str, conn: redis.Redis, repeat: int) -> list[tuple[str, float, int, int]]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    rows = []
    try:
        for label, seconds in RANGES:
            times, trips = [], 0
            for _ in range(repeat):
                runner = RoundTrips(client, 30.0)
                started = time.perf_counter()
                await metrics.read_series(runner, "bull", QUEUE, seconds)
                times.append(time.perf_counter() - started)
                trips = runner.count
            reset_command_stats(conn)
            await metrics.read_series(RoundTrips(client, 30.0), "bull", QUEUE, seconds)
            rows.append((label, statistics.median(times) * 1000, trips, sum(command_calls(conn).values())))
    finally:
        await client.aclose()
    return rows


async def snapshot_ms(url: str, repeat: int) -> tuple[float, int]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        reader = QueueReader(client)
        snapshot = await reader.snapshot()
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            snapshot = await reader.snapshot()
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000, len(snapshot.bullmq_workers)
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    server = start_server(Path(tempfile.mkdtemp(prefix="bullmq-metrics-bench-")), free_port())
    conn = redis.Redis.from_url(server.url)
    try:
        write_jobs(conn, args.jobs, time.time())
        print(f"metric_series of {QUEUE}: {args.jobs:,} kept completed jobs over 7 days, BullMQ metrics for 7 days")
        print(f"{'range':<6} {'median ms':>10} {'round trips':>12} {'commands':>9}")
        for label, ms, trips, commands in asyncio.run(series_figures(server.url, conn, args.repeat)):
            print(f"{label:<6} {ms:>10.1f} {trips:>12} {commands:>9}")
        alone, _ = asyncio.run(snapshot_ms(server.url, args.repeat))
        workers = [redis.Redis.from_url(server.url, client_name=f"bull:{QUEUE}:w:bench-{i}") for i in range(args.clients)]
        for worker in workers:
            worker.ping()
        crowded, listed = asyncio.run(snapshot_ms(server.url, args.repeat))
        print(f"snapshot: {alone:.1f} ms with no worker connection, {crowded:.1f} ms with {args.clients} "
              f"({listed} BullMQ workers listed), ratio {crowded / alone:.2f}")  # fmt: skip
        for worker in workers:
            worker.close()
    finally:
        conn.close()
        server.stop()


if __name__ == "__main__":
    main()
