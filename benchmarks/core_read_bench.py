"""Reading benchmark: pages at any depth and the overview snapshot, on a Redis holding a million RQ jobs.

Starts its own ``redis-server`` on a free port (the embedded launcher, persistence off), writes the
jobs the way RQ 3 stores them with pipelined HSET/RPUSH/ZADD, then measures with the console's
``QueueReader``:

* a page of 50 rows at the start, the middle and the end of the waiting, failed and completed
  states (goal: under 20 ms each, 2 round trips);
* a snapshot of 10 queues and 20 workers (goal: at most 2 round trips, under 5 ms).

When ``rq_dashboard`` is importable (``pip install -e '.[bench]'``) the same pages and the same
overview are asked of rq-dashboard's JSON endpoints through its Flask test client, on the same
Redis, each request in a child process that is killed when it passes ``--cap`` seconds.

Run: ``python -m benchmarks.core_read_bench [--jobs 1000000] [--cap 20] [--repeat 20] [--no-dashboard] [--search]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from rq import Worker

from tests.core.bulk_jobs import write_jobs
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server
from thesis_console.core.paging import read_page
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import JobState

PAGE = 50
QUEUES = 10
WORKERS = 20
SHARES = {JobState.WAITING: 0.4, JobState.FAILED: 0.3, JobState.COMPLETED: 0.3}
DASHBOARD_REGISTRY = {JobState.WAITING: ("queued", "asc"), JobState.FAILED: ("failed", "dsc"), JobState.COMPLETED: ("finished", "dsc")}  # fmt: skip


@dataclass
class Row:
    what: str
    ours_ms: float
    round_trips: int
    goal: str
    peer_ms: float | None = None
    peer_note: str = ""


def fill(conn: redis.Redis, jobs: int) -> dict[JobState, int]:
    """Write ``jobs`` jobs of the queue ``thesis`` across states, and small queues beside it."""
    counts = {state: int(jobs * share) for state, share in SHARES.items()}
    for state, count in counts.items():
        started = time.perf_counter()
        write_jobs(conn, "thesis", state, count, prefix=f"{state.value[:4]}", batch=10_000)
        print(f"  wrote {count:>9,} {state.value:<9} jobs in {time.perf_counter() - started:5.1f} s", flush=True)
    for i in range(1, QUEUES):
        write_jobs(conn, f"queue-{i}", JobState.WAITING, 10, prefix=f"q{i}")
        write_jobs(conn, f"queue-{i}", JobState.FAILED, 5, prefix=f"q{i}f")
    return counts


def register_workers(conn: redis.Redis) -> None:
    """Twenty real RQ worker registrations (hash, sets and expiry written by RQ itself)."""
    for i in range(WORKERS):
        queues = ["thesis"] if i % 2 == 0 else [f"queue-{i % (QUEUES - 1) + 1}"]
        worker = Worker(queues, connection=conn, name=f"bench-worker-{i}")
        worker.register_birth()
        worker.set_state("idle")


async def measure_ours(url: str, counts: dict[JobState, int], repeat: int, search: bool = False) -> list[Row]:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    reader = QueueReader(client, timeout_s=30)
    rows = []
    try:
        await reader.snapshot()  # connect and warm up
        times = []
        for _ in range(repeat * 2):
            started = time.perf_counter()
            snap = await reader.snapshot()
            times.append((time.perf_counter() - started) * 1000)
        assert len(snap.queues) == QUEUES and len(snap.workers) == WORKERS, (len(snap.queues), len(snap.workers))
        rows.append(Row(f"snapshot ({QUEUES} queues, {WORKERS} workers)", statistics.median(times), snap.round_trips, "<= 2 RT, < 5 ms"))
        for state, total in counts.items():
            for label, offset in (("start", 0), ("middle", total // 2), ("end", total - PAGE)):
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    page = await reader.page("thesis", state, offset, PAGE)
                    times.append((time.perf_counter() - started) * 1000)
                assert len(page.rows) == PAGE and page.total == total
                trips = RoundTrips(client, 30)
                await read_page(trips, "thesis", state, offset, PAGE)
                rows.append(Row(f"page {state.value} @{label} ({offset:,})", statistics.median(times), trips.count, "< 20 ms"))
        if search:
            started = time.perf_counter()
            async for _batch in reader.search("thesis", JobState.COMPLETED, "no job has this text"):
                pass
            seconds = time.perf_counter() - started
            total = counts[JobState.COMPLETED]
            print(f"  search walk of {total:,} completed jobs without a match: {seconds:.1f} s, "
                  f"{total / seconds:,.0f} jobs/s", flush=True)  # fmt: skip
    finally:
        await client.aclose()
    return rows


def _dashboard_child(url: str, pipe: Connection) -> None:
    """Serve requests from ``pipe`` with rq-dashboard's Flask test client; answer (status, seconds, bytes)."""
    import logging

    from flask import Flask
    from rq.serializers import JSONSerializer
    from rq_dashboard import blueprint, default_settings
    from rq_dashboard.web import config, setup_rq_connection

    logging.disable(logging.CRITICAL)
    app = Flask("rq_dashboard_bench")
    app.config.from_object(default_settings)
    app.config["RQ_DASHBOARD_REDIS_URL"] = url
    app.register_blueprint(blueprint, url_prefix="")
    config.serializer = JSONSerializer  # the jobs are JSON, as this project's are
    setup_rq_connection(app)
    client = app.test_client()
    while True:
        path = pipe.recv()
        if path is None:
            return
        started = time.perf_counter()
        response = client.get(path)
        pipe.send((response.status_code, time.perf_counter() - started, len(response.data)))


class Dashboard:
    """rq-dashboard in a child process, so a request that passes the cap can be killed."""

    def __init__(self, url: str, cap_s: float) -> None:
        self.url = url
        self.cap_s = cap_s
        self.ctx = mp.get_context("fork")
        self.proc: Any = None
        self.pipe: Connection | None = None

    def _start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_dashboard_child, args=(self.url, child), daemon=True)
        self.proc.start()
        self.pipe = parent
        self.get("/0/data/queues.json")  # import, connect and warm up outside the measurements

    def get(self, path: str) -> float | None:
        """Seconds the request took, or None when it passed the cap (the child is then replaced)."""
        if self.proc is None:
            self._start()
        assert self.pipe is not None
        self.pipe.send(path)
        if not self.pipe.poll(self.cap_s):
            self.stop(kill=True)
            return None
        status, seconds, _size = self.pipe.recv()
        if status != 200:
            raise RuntimeError(f"rq-dashboard answered {status} for {path}")
        return float(seconds)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            assert self.pipe is not None
            self.pipe.send(None)
        self.proc.join(10)
        self.proc = None
        self.pipe = None


def measure_dashboard(url: str, rows: list[Row], counts: dict[JobState, int], cap_s: float, repeat: int) -> None:
    dash = Dashboard(url, cap_s)
    try:
        for row in rows:
            if row.what.startswith("snapshot"):
                paths = ["/0/data/queues.json", "/0/data/workers.json"]
            else:
                state = next(s for s in counts if f"page {s.value} " in row.what)
                offset = int(row.what.split("(")[1].rstrip(")").replace(",", ""))
                registry, order = DASHBOARD_REGISTRY[state]
                paths = [f"/0/data/jobs/thesis/{registry}/{PAGE}/{order}/{offset // PAGE + 1}.json"]
            samples = []
            for attempt in range(repeat):
                seconds = 0.0
                for path in paths:
                    took = dash.get(path)
                    if took is None:
                        row.peer_note = f"> {cap_s:g} s cap"
                        break
                    seconds += took
                if row.peer_note:
                    break
                samples.append(seconds * 1000)
                if attempt == 0 and seconds > 1.0:
                    break  # slow enough that one sample says it
            if samples:
                row.peer_ms = statistics.median(samples)
            print(f"  rq-dashboard: {row.what}: {row.peer_note or f'{row.peer_ms:.1f} ms'}", flush=True)
    finally:
        dash.stop()


def print_table(rows: list[Row], peer: bool, cap_s: float) -> None:
    head = f"{'what':<44} {'ours ms':>8} {'RT':>3} {'goal':>16}"
    if peer:
        head += f" {'rq-dashboard ms':>16} {'ratio':>9}"
    print("\n" + head)
    print("-" * len(head))
    for row in rows:
        line = f"{row.what:<44} {row.ours_ms:>8.2f} {row.round_trips:>3} {row.goal:>16}"
        if peer and row.peer_ms is not None:
            line += f" {row.peer_ms:>16.1f} {row.peer_ms / row.ours_ms:>8.0f}x"
        elif peer and row.peer_note:
            line += f" {row.peer_note:>16} {'> ' + format(cap_s * 1000 / row.ours_ms, '.0f') + 'x':>9}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to generate (default 1,000,000)")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds before an rq-dashboard request is given up")
    parser.add_argument("--repeat", type=int, default=20, help="samples per measurement of ours (median shown)")
    parser.add_argument("--no-dashboard", action="store_true", help="skip the rq-dashboard comparison")
    parser.add_argument("--search", action="store_true", help="also time a search walk over the completed jobs")
    args = parser.parse_args(argv)

    try:
        import rq_dashboard  # noqa: F401
        have_dashboard = not args.no_dashboard
    except ImportError:
        have_dashboard = False
        print("rq_dashboard is not installed (pip install -e '.[bench]'): no side-by-side comparison")

    server: EmbeddedRedis = start_server(Path(tempfile.mkdtemp(prefix="core-read-bench-")), free_port())
    try:
        conn = redis.Redis.from_url(server.url)
        conn.config_set("appendonly", "no")  # a throw-away data set: no disk writes while filling
        print(f"redis-server {conn.info('server')['redis_version']} on {server.url}; writing {args.jobs:,} jobs", flush=True)
        started = time.perf_counter()
        counts = fill(conn, args.jobs)
        register_workers(conn)
        memory = conn.info("memory")["used_memory_human"]
        print(f"  filled in {time.perf_counter() - started:.0f} s, Redis uses {memory}", flush=True)
        rows = asyncio.run(measure_ours(server.url, counts, args.repeat, args.search))
        if have_dashboard:
            measure_dashboard(server.url, rows, counts, args.cap, max(3, args.repeat // 4))
        print_table(rows, have_dashboard, args.cap)
        failed_goals = [r.what for r in rows if (r.what.startswith("page") and r.ours_ms >= 20) or r.round_trips > 2]
        if failed_goals:
            print(f"\nmissed goals: {', '.join(failed_goals)}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
