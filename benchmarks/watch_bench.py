"""Watching benchmark: ``check`` and a metrics scrape on a Redis with a million jobs in 100 queues.

Starts its own ``redis-server`` on a free port (persistence off) and writes 1,000,000 RQ-shaped jobs
(hashes included) over 100 queues, 15 minutes of per-minute metrics and depth samples per queue,
two running jobs with progress per queue, 20 RQ workers and 5 supervisors. Then it measures, side
by side with the overview snapshot that ``status`` reads:

* ``check``'s read and evaluation of every rule (in-process, the defaults): wall time, Redis time
  (the ``usec`` of INFO commandstats, reset before each sample) and round trips (goal: under 200 ms
  of Redis time, 4 round trips);
* a scrape of ``serve-metrics`` (a real subprocess, HTTP GET of /metrics; goal under 50 ms), as a
  plain client asks (the text format) and as Prometheus asks (OpenMetrics, gzip), with the
  endpoint's CPU time per scrape beside the wall time (the wall time moves with the machine's load);
* the window's evaluation (read and rules in a worker thread with its own loop and client, minute
  cache kept, the controller's fresh snapshot reused): the largest stall of the GUI thread's loop a
  5 ms ticker sees (goal under 50 ms), beside the largest stall of the same ticker over the same time
  with nothing evaluated;
* ``thesis-console check`` as a command, once, with its interpreter start-up, for reference.

With ``--baseline DIR`` (a checkout of another version), that version's endpoint is scraped in turn
with this one's, CPU time side by side.

Run: ``python -m benchmarks.watch_bench [--jobs 1000000] [--queues 100] [--repeat 20] [--baseline DIR]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.asyncio as aioredis
from rq import Worker

from tests.core.bulk_jobs import write_jobs
from thesis_console.core import metrics_store
from thesis_console.core.alerts.conditions import minutes_needed
from thesis_console.core.alerts.rules import AlertRules
from thesis_console.core.alerts.tracker import AlertTracker
from thesis_console.core.alerts.watch import evaluate_once, read_for_rules
from thesis_console.core.alerts.watch_data import MinuteCache
from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.reader import QueueReader
from thesis_console.core.supervisor_protocol import INDEX_KEY, SupervisorRecord, record_key
from thesis_console.core.types import JobState, Snapshot

WORKERS = 20
SUPERVISORS = 5
SHARES = {JobState.WAITING: 0.4, JobState.FAILED: 0.3, JobState.COMPLETED: 0.3}


def fill(conn: redis.Redis, jobs: int, queues: int) -> None:
    per_queue = jobs // queues
    started = time.perf_counter()
    now = time.time()
    for i in range(queues):
        name = f"q{i:03d}"
        for state, share in SHARES.items():
            write_jobs(conn, name, state, int(per_queue * share), prefix=f"{name}{state.value[:2]}", batch=10_000)
        active = write_jobs(conn, name, JobState.ACTIVE, 2, prefix=f"{name}ac")
        with conn.pipeline(transaction=False) as pipe:
            for job_id in active:
                stalled = i % 10 == 0  # every tenth queue has hung jobs: the stuck rule fires there
                meta = {"progress": 40, "stage": "chapter 2/5", "progress_at": now - (1200 if stalled else 120)}
                pipe.hset(f"rq:job:{job_id}", mapping={"meta": json.dumps(meta), "worker_name": f"bench-worker-{i % WORKERS}"})
            for minutes_ago in range(15):
                at = now - 60 * minutes_ago
                for k in range(6):
                    metrics_store.record_job(pipe, name, ok=k != 0, duration_s=30 + k * 40, now=at)
                metrics_store.record_depth(pipe, name, int(per_queue * SHARES[JobState.WAITING]), now=at)
            pipe.execute()
        if i % 10 == 9:
            print(f"  {i + 1} queues written ({(i + 1) * per_queue:,} jobs) in {time.perf_counter() - started:.0f} s", flush=True)
    for i in range(WORKERS):
        worker = Worker([f"q{j:03d}" for j in range(queues)], connection=conn, name=f"bench-worker-{i}")
        worker.register_birth()
        worker.set_state("busy" if i % 2 else "idle")
    now = time.time()  # the supervisors heartbeat now, not when the filling started
    for i in range(SUPERVISORS):
        record = SupervisorRecord(id=f"sup-{i}", host="bench", pid=1000 + i, queues=("q000",), desired=4, live=4,
                                  workers=(), started_at=now - 600, restarts=0, heartbeat_at=now)  # fmt: skip
        conn.set(record_key(record.id), record.to_json(), ex=3600)
        conn.zadd(INDEX_KEY, {record.id: now})


def redis_usec(conn: redis.Redis) -> float:
    """Microseconds Redis spent in commands since the last reset, without the statistics commands."""
    stats = conn.info("commandstats")
    return sum(v["usec"] for k, v in stats.items() if k.split("_", 1)[1] not in {"info", "config", "config|resetstat"})


async def measure_check(url: str, conn: redis.Redis, repeat: int) -> dict[str, tuple[float, float, int]]:
    """Median wall ms, median Redis ms and round trips of check's read+evaluate and of a snapshot."""
    # A socket timeout as the session's client has one (redis-py's per-reply timers come with it).
    client = aioredis.Redis.from_url(url, decode_responses=False, socket_timeout=30)
    reader = QueueReader(client, timeout_s=30)
    rules = AlertRules()
    out = {}
    try:
        await reader.snapshot()  # connect
        for what in ("snapshot (status)", "check: read + evaluate"):
            walls, redis_ms, trips = [], [], 0
            for _ in range(repeat):
                conn.config_resetstat()
                started = time.perf_counter()
                if what.startswith("check"):
                    report = evaluate_once(await read_for_rules(reader, rules), rules, AlertTracker())
                    trips = report.data.round_trips
                else:
                    trips = (await reader.snapshot()).round_trips
                walls.append((time.perf_counter() - started) * 1000)
                redis_ms.append(redis_usec(conn) / 1000)
            out[what] = (statistics.median(walls), statistics.median(redis_ms), trips)
    finally:
        await client.aclose()
    return out


async def measure_window_stall(url: str, repeat: int) -> tuple[float, float, float]:
    """The window's way of evaluating (``AlertMonitor``: read and rules in a worker thread, on that
    thread's own loop and client, with a minute cache kept between evaluations): the largest stall
    of this loop seen by a 5 ms ticker during an evaluation, the largest stall of the same ticker over
    the same time with nothing evaluated (what the machine's load alone causes), and the median
    evaluation time, in ms."""
    from thesis_console.core.alerts.history import AlertHistory
    from thesis_console.ui.alerts_monitor import evaluate_apart

    @contextlib.asynccontextmanager
    async def side_client() -> AsyncIterator[aioredis.Redis]:
        client = aioredis.Redis.from_url(url, decode_responses=False, socket_timeout=30)  # as the session's
        try:
            yield client
        finally:
            await client.aclose()

    rules, cache = AlertRules(), MinuteCache()
    history = AlertHistory("bench", url, Path(tempfile.mkdtemp(prefix="watch-bench-history-")))
    minutes = minutes_needed(rules)
    stalls: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stalls.append((now - last - 0.005) * 1000)
            last = now

    def evaluate(snapshot: Snapshot | None) -> object:
        return evaluate_apart(side_client, None, 30.0, minutes, cache, history, rules, snapshot)

    # The window's controller reads a snapshot every refresh on the GUI loop anyway (its stall is
    # gui_bench's business); the evaluation reuses it and reads only the rest.
    main_client = aioredis.Redis.from_url(url, decode_responses=False)
    reader = QueueReader(main_client, timeout_s=30)
    await asyncio.to_thread(evaluate, None)  # the first evaluation fills the minute cache
    tick = asyncio.create_task(ticker())
    worst, times = 0.0, []
    for _ in range(repeat):
        snapshot = await reader.snapshot()
        stalls.clear()
        started = time.perf_counter()
        await asyncio.to_thread(evaluate, snapshot)
        times.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
        worst = max(worst, max(stalls, default=0.0))
    stalls.clear()
    await asyncio.sleep(sum(times) / 1000 + 0.02 * repeat)  # the same time, idle
    idle = max(stalls, default=0.0)
    running = False
    await tick
    await main_client.aclose()
    return worst, idle, statistics.median(times)


PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}
"""What Prometheus (2.x and 3.x, default ``scrape_protocols``) sends: OpenMetrics first, gzip accepted."""


@dataclass(frozen=True)
class Scrape:
    wall_ms: float
    """Median wall time of an HTTP GET, as the client sees it."""
    best_ms: float
    cpu_ms: float
    """CPU time of the endpoint's process per scrape (user + system): what the machine's load does not inflate."""
    redis_ms: float
    size: int


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_endpoint(url: str, source: Path | None) -> tuple[subprocess.Popen[str], str]:
    """A ``serve-metrics`` process of this checkout, or of the one at ``source``, and its URL."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)  # that checkout's thesis_console first (it runs from there)
    proc = subprocess.Popen(
        [sys.executable, "-m", "thesis_console", "serve-metrics", "--port", "0", "--url", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=source, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()[3]


def measure_scrape(url: str, conn: redis.Redis, repeat: int, baseline: Path | None = None) -> dict[str, Scrape]:
    """Scrapes of a real ``serve-metrics`` as a plain HTTP client asks (the text format) and as
    Prometheus asks (OpenMetrics, gzip); with a ``baseline`` checkout, its endpoint too, the two
    scraped in turn (so both see the same load), keyed ``"<format> baseline"``."""
    sources = {"": None, " baseline": baseline} if baseline is not None else {"": None}
    endpoints = {who: start_endpoint(url, source) for who, source in sources.items()}
    out = {}
    try:
        for what, headers in (("text", {}), ("prometheus", PROMETHEUS_HEADERS)):
            walls: dict[str, list[float]] = {who: [] for who in endpoints}
            redis_ms: dict[str, list[float]] = {who: [] for who in endpoints}
            cpu_s = dict.fromkeys(endpoints, 0.0)
            body = {}
            for _proc, endpoint in endpoints.values():
                urllib.request.urlopen(urllib.request.Request(endpoint, headers=headers), timeout=30).read()  # warm up
            for _ in range(repeat):
                for who, (proc, endpoint) in endpoints.items():
                    conn.config_resetstat()
                    cpu_before = process_cpu_s(proc.pid)
                    started = time.perf_counter()
                    body[who] = urllib.request.urlopen(urllib.request.Request(endpoint, headers=headers), timeout=30).read()
                    walls[who].append((time.perf_counter() - started) * 1000)
                    cpu_s[who] += process_cpu_s(proc.pid) - cpu_before
                    redis_ms[who].append(redis_usec(conn) / 1000)
            for who in endpoints:
                text = gzip.decompress(body[who]) if headers else body[who]
                assert b"thesis_up 1.0" in text, text[:200]
                out[what + who] = Scrape(
                    statistics.median(walls[who]), min(walls[who]), cpu_s[who] * 1000 / repeat,
                    statistics.median(redis_ms[who]), len(body[who]),
                )  # fmt: skip
        return out
    finally:
        for proc, _endpoint in endpoints.values():
            proc.terminate()
            proc.wait(15)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to generate (default 1,000,000)")
    parser.add_argument("--queues", type=int, default=100, help="queues to spread them over (default 100)")
    parser.add_argument("--repeat", type=int, default=20, help="samples per measurement (median shown)")
    parser.add_argument(
        "--baseline", type=Path, metavar="DIR",
        help="a checkout of another version (git worktree or archive): its serve-metrics is scraped in turn with this one's",
    )  # fmt: skip
    args = parser.parse_args(argv)
    server = start_server(Path(tempfile.mkdtemp(prefix="watch-bench-")), free_port())
    try:
        conn = redis.Redis.from_url(server.url)
        conn.config_set("appendonly", "no")
        print(f"redis-server {conn.info('server')['redis_version']} on {server.url}; writing {args.jobs:,} jobs "
              f"in {args.queues} queues", flush=True)  # fmt: skip
        started = time.perf_counter()
        fill(conn, args.jobs, args.queues)
        print(f"  filled in {time.perf_counter() - started:.0f} s, Redis uses {conn.info('memory')['used_memory_human']}", flush=True)
        rows = asyncio.run(measure_check(server.url, conn, args.repeat))
        scrapes = measure_scrape(server.url, conn, args.repeat, args.baseline)
        stall, idle_stall, window_eval = asyncio.run(measure_window_stall(server.url, args.repeat))
        env = {**os.environ, "THESIS_DATA_DIR": tempfile.mkdtemp(prefix="watch-bench-data-")}
        # Two runs as cron makes them: the first walks the key space for BullMQ queues (no queue list
        # in the profile), the next checks just the names the first one kept.
        processes = []
        for label in ("check process, first run", "check process, next run"):
            conn.config_resetstat()
            started = time.perf_counter()
            cli = subprocess.run(
                [sys.executable, "-m", "thesis_console", "check", "--url", server.url],
                capture_output=True, text=True, env=env,
            )  # fmt: skip
            cli_ms = (time.perf_counter() - started) * 1000
            scans = conn.info("commandstats").get("cmdstat_scan", {}).get("calls", 0)
            processes.append((label, cli, cli_ms, redis_usec(conn) / 1000, scans))
        snapshot = rows["snapshot (status)"]
        print(f"\n{'measurement':<34} {'wall ms':>9} {'Redis ms':>9} {'RT':>4} {'x status':>9}  goal")
        for what, (wall, in_redis, trips) in rows.items():
            goal = "< 200 ms Redis, 4 RT" if what.startswith("check") else ""
            print(f"{what:<34} {wall:9.1f} {in_redis:9.1f} {trips:4d} {wall / snapshot[0]:9.1f}  {goal}")
        for what, scrape in scrapes.items():
            versus = scrapes.get(what + " baseline")
            ratio = f"; {scrape.cpu_ms / versus.cpu_ms:.2f}x the baseline's CPU" if versus and versus.cpu_ms else ""
            print(f"{'scrape, ' + what + ' (HTTP)':<34} {scrape.wall_ms:9.1f} {scrape.redis_ms:9.1f} {4:4d} "
                  f"{scrape.wall_ms / snapshot[0]:9.1f}  < 50 ms (best {scrape.best_ms:.1f} ms; "
                  f"{scrape.cpu_ms:.1f} ms CPU{ratio}; {scrape.size:,} bytes)")  # fmt: skip
        for label, cli, cli_ms, cli_redis_ms, cli_scans in processes:
            print(f"{label:<34} {cli_ms:9.1f} {cli_redis_ms:9.1f} {4 + cli_scans:4d} {'':>9}  "
                  f"{cli_scans} SCAN calls; exit {cli.returncode}: "
                  f"{cli.stdout.splitlines()[0].split(' | ')[0][:60] if cli.stdout else cli.stderr.strip()[:60]}")  # fmt: skip
        print(f"{'window evaluation (cached minutes)':<34} {window_eval:9.1f} {'':>9} {2:4d} {window_eval / snapshot[0]:9.1f}  "
              f"largest loop stall {stall:.1f} ms (< 50 ms; idle loop: {idle_stall:.1f} ms)")  # fmt: skip
        print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        check = rows["check: read + evaluate"]
        missed = [name for name, bad in (("check Redis time", check[1] >= 200), ("check round trips", check[2] > 4),
                                         ("check process Redis time (next run)", processes[-1][3] >= 200),
                                         *((f"scrape ({what})", scrape.wall_ms >= 50) for what, scrape in scrapes.items() if "baseline" not in what), ("window stall", stall >= 50)) if bad]  # fmt: skip
        if missed:
            print(f"\nmissed goals: {', '.join(missed)}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
