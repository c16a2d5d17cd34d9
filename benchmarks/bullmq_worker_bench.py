"""Python BullMQ workers against the Node one: ``python -m benchmarks.bullmq_worker_bench`` (``make bench``).

In one run, against its own ``redis-server``, on the thesis system's queue (``thesis-generation``):

* Seed-shaped jobs (about 200 ms of work, progress 10 at the start and 100 at the end), added by the
  Node producer with the seed's options, through 3 supervised Python BullMQ workers
  (``thesis-worker --backend bullmq -n 3``) and through the seed's Node worker (one process,
  concurrency 3): jobs/s side by side, rounds alternating, medians (goal: Python at least 0.9x Node).
  A Python job runs the real generation (offline back-end, 3 chapters) with ``pace_s`` spreading the
  200 ms over its stages, so it reports its stages in between; the Node job sleeps 200 ms.
* Minimal jobs: the same with no wait (Node: ``workMs`` 0; Python: the offline generation alone). No goal.
* Kill recovery: a Python worker is SIGKILLed mid-job; the time until its job is back in wait
  (BullMQ's ``waiting`` event with ``prev: active``), median of several kills (goal: under 5 s).
* A host gone: a supervisor is SIGKILLed with its workers; the time until BullMQ's stalled check (run
  by the workers of a supervisor started after it) takes the job back. One run, a minute or more.

Needs the Node side of the tests (``make test`` installs it in tests/node). Options: ``--rounds N``
(default 2), ``--jobs N`` (default 150), ``--kills N`` (default 3).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

from benchmarks.bench_setup import NODE_DIR, NODE_MISSING, bench_redis, node_bullmq_installed
from benchmarks.bench_setup import produce as _produce
from benchmarks.bench_setup import wait as _wait

QUEUE = "thesis-generation"
KEYS = f"bull:{QUEUE}"
WORK_S = 0.2
PYTHON_STAGES = 6
"""Stages at which a 3-chapter generation waits ``pace_s``: start, outline, 3 chapters, references."""


def _jobs(count: int, work_s: float) -> list[dict]:
    return [
        {"thesisId": f"b{i}", "topic": f"Benchmark thesis {i}", "chapters": 3, "workMs": int(work_s * 1000),
         "options": {"pace_s": work_s / PYTHON_STAGES} if work_s else {}}
        for i in range(count)
    ]  # fmt: skip


def _completed_since(conn: redis.Redis, start_id: str) -> int:
    return sum(1 for _, fields in conn.xrange(f"{KEYS}:events", min=f"({start_id}") if fields.get(b"event") == b"completed")


class _Side:
    """One side's workers: started idle before the jobs are added, stopped after."""

    def __init__(self, kind: str, url: str, log_dir: Path, extra: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.extra = extra
        self.url = url
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None

    def start(self, conn: redis.Redis, wait: bool = True) -> None:
        env = {**os.environ, "REDIS_URL": self.url}
        if self.kind == "node":
            self.proc = subprocess.Popen(["node", "worker.mjs", self.url], cwd=NODE_DIR, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
            assert self.proc.stdout is not None
            _wait(lambda: self.proc.stdout.readline().strip() == "ready", 60, "the Node worker")  # type: ignore[union-attr]
            return
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker_runner", "--backend", "bullmq", "-n", "3", "--log-dir", str(self.log_dir),
             "--log-level", "WARNING", *self.extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        if not wait:
            return
        _wait(lambda: _python_clients(conn) == 3, 60, "3 Python BullMQ workers connected")
        time.sleep(0.5)  # their first blocking wait for a job

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _python_clients(conn: redis.Redis) -> int:
    return sum(1 for c in conn.client_list() if c.get("name", "").startswith(f"{KEYS}:w:") and c.get("cmd") == "bzpopmin")


def throughput_once(kind: str, url: str, tmp: Path, count: int, work_s: float) -> float:
    conn = redis.Redis.from_url(url)
    conn.flushall()
    side = _Side(kind, url, tmp / "logs")
    try:
        side.start(conn)
        start_id = f"{int(time.time() * 1000) - 1}-0"
        began = time.perf_counter()
        _produce(url, _jobs(count, work_s))
        _wait(lambda: _completed_since(conn, start_id) >= count, 600, f"{count} jobs completed", interval=0.05)
        return count / (time.perf_counter() - began)
    finally:
        side.stop()
        conn.close()


def throughput(url: str, tmp: Path, rounds: int, count: int, work_s: float) -> tuple[float, float]:
    node, python = [], []
    for _ in range(rounds):
        node.append(throughput_once("node", url, tmp, count, work_s))
        python.append(throughput_once("python", url, tmp, count, work_s))
    return statistics.median(node), statistics.median(python)


def kill_recovery(url: str, tmp: Path, kills: int) -> list[float]:
    import psutil

    conn = redis.Redis.from_url(url)
    conn.flushall()
    side = _Side("python", url, tmp / "logs")
    times = []
    try:
        side.start(conn)
        for n in range(kills):
            (job_id,) = _produce(url, [{"thesisId": f"k{n}", "topic": "A thesis to interrupt", "options": {"pace_s": 2}}])
            _wait(lambda j=job_id: j.encode() in conn.lrange(f"{KEYS}:active", 0, -1), 30, "the job active")
            token = conn.get(f"{KEYS}:{job_id}:lock").decode()
            worker = next(p for p in psutil.Process(side.proc.pid).children()  # type: ignore[union-attr]
                          if f"{token.rsplit(':', 1)[0]}" in " ".join(p.cmdline()))  # fmt: skip
            start_id = f"{int(time.time() * 1000) - 1}-0"
            killed = time.perf_counter()
            worker.send_signal(signal.SIGKILL)

            def back(j: str = job_id, since: str = start_id) -> bool:
                events = conn.xrange(f"{KEYS}:events", min=f"({since}")
                return any(f.get(b"event") == b"waiting" and f.get(b"prev") == b"active" and f.get(b"jobId") == j.encode()
                           for _, f in events)  # fmt: skip

            _wait(back, 60, "the killed worker's job back in wait", interval=0.01)
            times.append(time.perf_counter() - killed)
    finally:
        side.stop()
        conn.close()
    return times


def host_death_recovery(url: str, tmp: Path) -> float:
    """A supervisor SIGKILLed with its workers (a host gone): seconds until BullMQ's stalled check,
    run by another supervisor's worker, puts the job back in wait."""
    conn = redis.Redis.from_url(url)
    conn.flushall()
    doomed = _Side("python", url, tmp / "logs-a")
    other = _Side("python", url, tmp / "logs-b")
    try:
        doomed.start(conn)
        (job_id,) = _produce(url, [{"thesisId": "host", "topic": "A thesis on a dying host", "options": {"pace_s": 60}}])
        _wait(lambda: job_id.encode() in conn.lrange(f"{KEYS}:active", 0, -1), 30, "the job active")
        start_id = f"{int(time.time() * 1000) - 1}-0"
        killed = time.perf_counter()
        doomed.proc.kill()  # type: ignore[union-attr]  # its workers die with it (parent-death signal)
        doomed.proc.wait()  # type: ignore[union-attr]
        _wait(lambda: _python_clients(conn) == 0, 30, "the dead host's workers gone")
        other.start(conn)

        def stalled() -> bool:
            events = conn.xrange(f"{KEYS}:events", min=f"({start_id}")
            return any(f.get(b"event") == b"stalled" and f.get(b"jobId") == job_id.encode() for _, f in events)

        _wait(stalled, 300, "BullMQ's stalled check to take the job back", interval=0.05)
        return time.perf_counter() - killed
    finally:
        other.stop()
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bullmq_worker_bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args(argv)
    if not node_bullmq_installed():
        print(NODE_MISSING, file=sys.stderr)
        return 2
    with bench_redis("bullmq-worker-bench-") as (tmp_path, server):
        print(f"redis-server on port {server.port}; {os.cpu_count()} CPUs", flush=True)
        seed = throughput(server.url, tmp_path, args.rounds, args.jobs, WORK_S)
        minimal = throughput(server.url, tmp_path, args.rounds, args.jobs, 0.0)
        kills = kill_recovery(server.url, tmp_path, args.kills)
        host = host_death_recovery(server.url, tmp_path)
    print()
    print(f"{'benchmark':<50} {'Node (1 x conc. 3)':>19} {'Python (3 procs)':>17} {'ratio':>7} {'goal':>8}")
    for label, (node, python), goal in (("seed-shaped jobs/s (200 ms, progress 10..100)", seed, ">= 0.9"),
                                        ("minimal jobs/s", minimal, "")):  # fmt: skip
        print(f"{label:<50} {node:>19.1f} {python:>17.1f} {python / node:>6.2f}x {goal:>8}")
    print(f"{'SIGKILLed Python worker: job back in wait, s':<50} {'':>19} {statistics.median(kills):>17.3f} "
          f"{'':>7} {'< 5 s':>8}")  # fmt: skip
    print(f"{'host gone: job back by the stalled check, s':<50} {'':>19} {host:>17.1f}")
    print(f"(medians of {args.rounds} alternating rounds of {args.jobs} jobs; kills: "
          f"{', '.join(f'{t:.3f}' for t in kills)} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
