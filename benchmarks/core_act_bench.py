"""Bulk-action benchmark: retry every failed job of a queue, ours against ``rq requeue --all``.

Starts its own ``redis-server`` on a free port (the embedded launcher), makes one real failed job
with a ``ThesisWorker`` burst, and copies its hash under new ids with pipelined writes until the
failed registry holds ``--jobs`` jobs. Then it measures:

* ``QueueActions.retry_all_failed`` on all of them (goal: at least 30,000 jobs/s), checking that
  every job ends in the queue once with status ``queued`` and the failed registry is empty;
* ``rq requeue --all --queue Q -u URL -S json`` (RQ's own CLI) on the same data. RQ requeues one job
  at a time (about 690 jobs/s measured earlier), so by default it runs on ``--rq-jobs`` jobs
  (10,000) and its rate is extrapolated to the full count; ``--rq-jobs 0`` runs it on all of them.

It also prints the server's CPU time for ours (``INFO cpu``), per job: the scripts' own cost, which
the machine's load changes much less than the wall-clock rates, and the load average.

Then the same for a BullMQ queue (``thesis-generation``): one job failed for good by a real Python
BullMQ worker (its whole attempts used), copied under new ids into the failed set with pipelined
writes, then

* ``ConsoleActions.retry_all_failed`` (BullMQ's ``moveJobsToWait`` script in steps of ``--batch``,
  with the attempt counters reset in the same MULTI; goal: at least 20,000 jobs/s), checking every
  job ends in ``wait`` once with no attempt counter;
* Node BullMQ's own ``queue.retryJobs({state: "failed"})`` (tests/node/retry_jobs.mjs, when Node and
  the pinned package are installed) on the same number of jobs: the same script with no progress,
  no cancel and no reset of ``attemptsMade``.

The server keeps the embedded Redis' persistence (append-only file, fsync every second) unless
``--no-aof`` is given; both tools run on the same server with the same settings.

Run: ``python -m benchmarks.core_act_bench [--jobs 100000] [--rq-jobs 10000] [--batch 1000] [--no-aof] [--no-bullmq]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio as aredis

from thesis_console.core import contract
from thesis_console.core.actions import QueueActions
from thesis_console.core.embedded_redis import free_port, start_server

QUEUE = "thesis"
GOAL_JOBS_PER_S = 30_000
BULL_QUEUE = "thesis-generation"
BULL_GOAL_JOBS_PER_S = 20_000
NODE_DIR = Path(__file__).resolve().parent.parent / "tests" / "node"


def make_failed_jobs(conn: redis.Redis, count: int) -> list[str]:
    """``count`` failed jobs: one real one (run and failed by a ThesisWorker), the rest copies of it."""
    from thesis_console.core.job_allowlist import Allowlist
    from worker_runner.worker import ThesisWorker

    conn.flushall()
    real = contract.thesis_queue(conn, QUEUE).enqueue("tests.jobs.boom").id
    allowlist = Allowlist.of(["tests.jobs.boom"])
    ThesisWorker([QUEUE], connection=conn, allowlist=allowlist).work(burst=True, logging_level="CRITICAL")
    template = conn.hgetall(f"rq:job:{real}")
    score = conn.zscore(f"rq:failed:{QUEUE}", real)
    if template.get(b"status") != b"failed" or score is None:
        raise RuntimeError("the template job did not fail as expected")
    ids = [real] + [f"bench-{i:07d}" for i in range(count - 1)]
    with conn.pipeline(transaction=False) as pipe:
        for n, job_id in enumerate(ids[1:], start=1):
            pipe.hset(f"rq:job:{job_id}", mapping=template)
            pipe.expire(f"rq:job:{job_id}", contract.FAILED_TTL_S)
            pipe.zadd(f"rq:failed:{QUEUE}", {job_id: score + n / 1e6})
            if n % 5000 == 0:
                pipe.execute()
        pipe.execute()
    return ids


def check_requeued(conn: redis.Redis, ids: list[str]) -> str:
    """Empty when every id is in the queue exactly once with status queued; otherwise what is wrong."""
    waiting = conn.lrange(f"rq:queue:{QUEUE}", 0, -1)
    if len(waiting) != len(ids) or len(set(waiting)) != len(ids):
        return f"queue holds {len(waiting)} ids ({len(set(waiting))} distinct), expected {len(ids)}"
    if conn.zcard(f"rq:failed:{QUEUE}"):
        return f"{conn.zcard(f'rq:failed:{QUEUE}')} jobs still in the failed registry"
    with conn.pipeline(transaction=False) as pipe:
        for job_id in ids[:: max(1, len(ids) // 2000)]:
            pipe.hget(f"rq:job:{job_id}", "status")
        statuses = set(pipe.execute())
    return "" if statuses == {b"queued"} else f"statuses seen: {statuses}"


async def ours(url: str, batch: int) -> float:
    client = aredis.Redis.from_url(url)
    actions = QueueActions(client, read_only=False, sync_factory=lambda: redis.Redis.from_url(url))
    try:
        started = time.perf_counter()
        result = await actions.retry_all_failed(QUEUE, batch=batch)
        elapsed = time.perf_counter() - started
    finally:
        await actions.close()
        await client.aclose()
    if result.skipped:
        raise RuntimeError(f"{len(result.skipped)} jobs skipped: {next(iter(result.skipped.values()))}")
    return elapsed


def make_failed_bull_jobs(url: str, conn: redis.Redis, count: int) -> list[str]:
    """``count`` failed BullMQ jobs: one failed for good by a Python BullMQ worker, the rest copies of it."""

    async def fail_one() -> str:
        from bullmq import Queue, Worker

        queue = Queue(BULL_QUEUE, {"connection": url})
        job = await queue.add("generate-thesis", {"thesisId": "bench", "topic": "t"}, {"attempts": 1})
        failed = asyncio.Event()

        async def boom(_job, _token):
            raise RuntimeError("failed on purpose")

        worker = Worker(BULL_QUEUE, boom, {"connection": url})
        worker.on("failed", lambda *_: failed.set())
        await asyncio.wait_for(failed.wait(), 30)
        await worker.close()
        await queue.close()
        return str(job.id)

    conn.flushall()
    real = asyncio.run(fail_one())
    template = conn.hgetall(f"bull:{BULL_QUEUE}:{real}")
    score = conn.zscore(f"bull:{BULL_QUEUE}:failed", real)
    if score is None or template.get(b"atm") != b"1":
        raise RuntimeError("the template BullMQ job did not fail as expected")
    ids = [real] + [f"bench-{i:07d}" for i in range(count - 1)]
    with conn.pipeline(transaction=False) as pipe:
        for n, job_id in enumerate(ids[1:], start=1):
            pipe.hset(f"bull:{BULL_QUEUE}:{job_id}", mapping=template)
            pipe.zadd(f"bull:{BULL_QUEUE}:failed", {job_id: score})
            if n % 5000 == 0:
                pipe.execute()
        pipe.execute()
    return ids


def check_bull_retried(conn: redis.Redis, ids: list[str], fresh: bool) -> str:
    """Empty when every id waits once (with no attempt counter when ``fresh``); otherwise what is wrong."""
    waiting = conn.lrange(f"bull:{BULL_QUEUE}:wait", 0, -1)
    if len(waiting) != len(ids) or len(set(waiting)) != len(ids):
        return f"wait holds {len(waiting)} ids ({len(set(waiting))} distinct), expected {len(ids)}"
    if conn.zcard(f"bull:{BULL_QUEUE}:failed"):
        return f"{conn.zcard(f'bull:{BULL_QUEUE}:failed')} jobs still failed"
    if fresh:
        with conn.pipeline(transaction=False) as pipe:
            for job_id in ids[:: max(1, len(ids) // 2000)]:
                pipe.hexists(f"bull:{BULL_QUEUE}:{job_id}", "atm")
            if any(pipe.execute()):
                return "some retried jobs kept their attemptsMade"
    return ""


async def ours_bull(url: str, batch: int) -> float:
    from thesis_console.core.bullmq.actions import BullActions

    client = aredis.Redis.from_url(url)
    actions = BullActions(client, "bull", read_only=False)
    try:
        started = time.perf_counter()
        result = await actions.retry_all_failed(BULL_QUEUE, batch=batch)
        elapsed = time.perf_counter() - started
    finally:
        await actions.close()
        await client.aclose()
    if result.skipped:
        raise RuntimeError(f"{len(result.skipped)} BullMQ jobs skipped: {next(iter(result.skipped.values()))}")
    return elapsed


def node_retry_jobs(url: str, batch: int) -> float | None:
    """Seconds of Node BullMQ's queue.retryJobs; None when Node or the pinned package is missing."""
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "bullmq").exists():
        return None
    done = subprocess.run(
        ["node", "retry_jobs.mjs", url, "bull", str(batch)], cwd=NODE_DIR, capture_output=True, text=True, check=True, timeout=600
    )
    return float(json.loads(done.stdout)["seconds"])


def redis_cpu_s(conn: redis.Redis) -> float:
    """CPU seconds the server has used (user + system): the script's cost, whatever else the machine runs."""
    info = conn.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rq_cli(url: str, timeout_s: float) -> float:
    rq = shutil.which("rq", path=str(Path(sys.executable).parent)) or shutil.which("rq")
    if rq is None:
        raise RuntimeError("the rq command is not installed next to this Python")
    started = time.perf_counter()
    subprocess.run(
        [rq, "requeue", "--all", "--queue", QUEUE, "-u", url, "-S", "json"],
        check=True, stdout=subprocess.DEVNULL, timeout=timeout_s,
    )  # fmt: skip
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.core_act_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="failed jobs to retry (default 100,000)")
    parser.add_argument("--rq-jobs", type=int, default=10_000, help="jobs for rq's CLI; 0 = all (default 10,000)")
    parser.add_argument("--batch", type=int, default=1000, help="jobs per Lua script run (default 1000)")
    parser.add_argument("--rq-timeout", type=float, default=600, help="seconds before rq's run is abandoned")
    parser.add_argument(
        "--no-aof", action="store_true", help="turn append-only persistence off (the embedded Redis keeps it on)"
    )
    parser.add_argument("--no-bullmq", action="store_true", help="skip the BullMQ bulk retry")
    args = parser.parse_args(argv)
    rq_jobs = args.rq_jobs or args.jobs

    with tempfile.TemporaryDirectory(prefix="core-act-bench-") as tmp:
        server = start_server(Path(tmp), free_port())
        url = server.url
        conn = redis.Redis.from_url(url)
        if args.no_aof:
            conn.config_set("appendonly", "no")
        try:
            aof = "off" if args.no_aof else "on (everysec, as the embedded Redis runs)"
            print(f"redis-server {server.binary} on {url}, append-only file {aof}", flush=True)
            started = time.perf_counter()
            ids = make_failed_jobs(conn, args.jobs)
            print(f"  made {len(ids):,} failed jobs in {time.perf_counter() - started:.1f} s", flush=True)
            cpu_before = redis_cpu_s(conn)
            ours_s = asyncio.run(ours(url, args.batch))
            ours_redis_cpu_s = redis_cpu_s(conn) - cpu_before
            problem = check_requeued(conn, ids)
            if problem:
                print(f"ours: WRONG RESULT: {problem}", file=sys.stderr)
                return 1

            ids = make_failed_jobs(conn, rq_jobs)
            print(f"  made {len(ids):,} failed jobs for rq in the same way", flush=True)
            rq_s = rq_cli(url, args.rq_timeout)
            rq_problem = check_requeued(conn, ids)

            bull_s = node_s = None
            if not args.no_bullmq:
                ids = make_failed_bull_jobs(url, conn, args.jobs)
                print(f"  made {len(ids):,} failed BullMQ jobs", flush=True)
                bull_s = asyncio.run(ours_bull(url, args.batch))
                problem = check_bull_retried(conn, ids, fresh=True)
                if problem:
                    print(f"ours on BullMQ: WRONG RESULT: {problem}", file=sys.stderr)
                    return 1
                ids = make_failed_bull_jobs(url, conn, args.jobs)
                node_s = node_retry_jobs(url, args.batch)
                node_problem = check_bull_retried(conn, ids, fresh=False) if node_s is not None else ""
                if node_problem:
                    print(f"note: Node's retryJobs result check: {node_problem}")
        finally:
            conn.close()
            server.stop()

    ours_rate = args.jobs / ours_s
    rq_rate = rq_jobs / rq_s
    rows = [
        ("QueueActions.retry_all_failed", args.jobs, ours_s, ours_rate, ""),
        ("rq requeue --all (RQ's CLI)", rq_jobs, rq_s, rq_rate, ""),
    ]
    if rq_jobs != args.jobs:
        rows.append((f"  rq extrapolated to {args.jobs:,}", args.jobs, args.jobs / rq_rate, rq_rate, "estimate"))
    if bull_s is not None:
        rows.append(("BullMQ: ConsoleActions retry all", args.jobs, bull_s, args.jobs / bull_s, "fresh attempts"))
    if node_s is not None:
        rows.append(("BullMQ: Node queue.retryJobs", args.jobs, node_s, args.jobs / node_s, "keeps attemptsMade"))
    print()
    print(f"{'what':<34} {'jobs':>9} {'seconds':>9} {'jobs/s':>10}  note")
    for what, jobs, seconds, rate, note in rows:
        print(f"{what:<34} {jobs:>9,} {seconds:>9.2f} {rate:>10,.0f}  {note}".rstrip())
    print()
    print(f"ratio (ours / rq, jobs per second): {ours_rate / rq_rate:,.0f}x")
    print(
        f"Redis CPU time of ours: {ours_redis_cpu_s:.2f} s ({ours_redis_cpu_s / args.jobs * 1e6:.1f} us per job); "
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    verdict = "met" if ours_rate >= GOAL_JOBS_PER_S else "MISSED"
    print(f"goal: at least {GOAL_JOBS_PER_S:,} jobs/s -> {ours_rate:,.0f} jobs/s, {verdict}")
    met = ours_rate >= GOAL_JOBS_PER_S
    if bull_s is not None:
        bull_rate = args.jobs / bull_s
        ratios = f"RQ bulk retry / BullMQ: {ours_rate / bull_rate:.2f}x"
        if node_s is not None:
            ratios += f"; BullMQ ours / Node retryJobs: {node_s / bull_s:.2f}x"
        print(ratios)
        bull_met = bull_rate >= BULL_GOAL_JOBS_PER_S
        print(f"BullMQ goal: at least {BULL_GOAL_JOBS_PER_S:,} jobs/s -> {bull_rate:,.0f} jobs/s, {'met' if bull_met else 'MISSED'}")
        met = met and bull_met
    if rq_problem:
        print(f"note: rq's result check: {rq_problem}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
