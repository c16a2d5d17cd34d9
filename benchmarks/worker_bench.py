"""Worker benchmarks: ``python -m benchmarks.worker_bench`` (not part of ``make test``).

In one run, against its own ``redis-server`` (a free port in a temporary folder):

* Throughput of no-op jobs at concurrency 3: ``thesis-worker -n 3`` against ``rq worker-pool -n 3``
  with the same worker class, for the forking worker and for the SimpleWorker. Both sides start, wait
  until their three workers are idle, then the same batch of JSON jobs is queued in one pipeline and
  the clock runs until the workers' own counters say every job succeeded. Rounds alternate between
  the two sides; the median of each side is reported, and their ratio (goal: at least 0.95).
* Recovery: a job runs, its worker process is SIGKILLed, and the time until the job is back in the
  queue (or already running again on another worker) is measured; median of several runs (goal:
  under 5 s; RQ alone notices only when the entry expires and a maintenance pass runs, up to 10 min).

Options: ``--rounds N`` (throughput rounds per side, default 3), ``--kills N`` (default 5),
``--quick`` (fewer jobs, for a smoke run).
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
from rq import Retry

from benchmarks.bench_setup import ROOT, bench_redis
from benchmarks.bench_setup import wait as _wait
from thesis_console.core import contract
from thesis_console.core.job_allowlist import ALLOW_ENV
from worker_runner.registration import read_record

BIN = Path(sys.executable).parent
WORKER_CLASSES = {
    "fork": "worker_runner.supervised_worker.SupervisedThesisWorker",
    "simple": "worker_runner.supervised_worker.SupervisedThesisSimpleWorker",
}
JOBS = {"fork": 400, "simple": 1500}


def noop() -> None:
    """The benchmark job: does nothing."""


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


# ---------------------------------------------------------------------- helpers
def _env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": url,
        "THESIS_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        ALLOW_ENV: "benchmarks.worker_bench.noop,benchmarks.worker_bench.sleep_for",  # the benchmark's jobs
    }


def _worker_keys(conn: redis.Redis) -> list[bytes]:
    return sorted(conn.smembers("rq:workers"))  # type: ignore[arg-type]


def _idle_workers(conn: redis.Redis, count: int) -> bool:
    keys = _worker_keys(conn)
    if len(keys) != count:
        return False
    with conn.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "state")
        return all(state == b"idle" for state in pipe.execute())


def _settled(conn: redis.Redis, supervisor_id: str, count: int) -> bool:
    record = read_record(conn, supervisor_id)
    return record is not None and record.live == count and record.busy == 0 and not record.extra.get("stopping")


def _succeeded(conn: redis.Redis) -> int:
    keys = _worker_keys(conn)
    with conn.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "successful_job_count")
        return sum(int(v or 0) for v in pipe.execute())


def _stop(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------- throughput
def _start_pool(side: str, worker_class: str, url: str, data_dir: Path) -> tuple[subprocess.Popen, int]:
    if side == "rq worker-pool":
        cmd = [str(BIN / "rq"), "worker-pool", "-u", url, "-n", "3", "-w", WORKER_CLASSES[worker_class],
               "-S", "rq.serializers.JSONSerializer", "-P", str(ROOT), "thesis"]  # fmt: skip
        stop_signal = signal.SIGINT
    else:
        cmd = [sys.executable, "-m", "worker_runner", "-n", "3", "--worker-class", worker_class, "--queue", "thesis"]
        stop_signal = signal.SIGTERM
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(url, data_dir), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return proc, stop_signal


def throughput_once(side: str, worker_class: str, url: str, data_dir: Path, jobs: int) -> float:
    """Jobs per second for one side, one round."""
    conn = redis.Redis.from_url(url)
    conn.flushall()
    proc, stop_signal = _start_pool(side, worker_class, url, data_dir)
    try:
        _wait(lambda: _idle_workers(conn, 3), 60, f"3 idle workers of {side}", 0.1)
        time.sleep(0.5)  # let start-up maintenance and the scheduler settle
        queue = contract.thesis_queue(conn)
        started = time.perf_counter()
        with conn.pipeline() as pipe:
            queue.enqueue_many(
                [queue.prepare_data("benchmarks.worker_bench.noop", result_ttl=600) for _ in range(jobs)], pipeline=pipe
            )
            pipe.execute()
        _wait(lambda: _succeeded(conn) >= jobs, 600, f"{jobs} jobs on {side}", 0.01)
        elapsed = time.perf_counter() - started
    finally:
        _stop(proc, stop_signal)
        conn.close()
    return jobs / elapsed


def throughput(worker_class: str, url: str, data_dir: Path, rounds: int, jobs: int) -> tuple[float, float]:
    """Median jobs/s of (rq worker-pool, thesis-worker), rounds alternating."""
    ours, theirs = [], []
    for _ in range(rounds):
        theirs.append(throughput_once("rq worker-pool", worker_class, url, data_dir, jobs))
        ours.append(throughput_once("thesis-worker", worker_class, url, data_dir, jobs))
    print(f"  {worker_class}: rq worker-pool {_join(theirs, 0)} jobs/s, thesis-worker {_join(ours, 0)} jobs/s", flush=True)
    return statistics.median(theirs), statistics.median(ours)


# ---------------------------------------------------------------------- recovery
def recovery_times(url: str, data_dir: Path, kills: int) -> tuple[list[float], list[float]]:
    """Seconds from SIGKILL of a busy worker until its job is back in the queue, and running again."""
    conn = redis.Redis.from_url(url)
    conn.flushall()
    proc = subprocess.Popen([sys.executable, "-m", "worker_runner", "-n", "3", "--queue", "thesis", "--id", "bench",
                             "--heartbeat", "0.5"], cwd=ROOT,
                            env=_env(url, data_dir), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    back, again = [], []
    try:
        _wait(lambda: _idle_workers(conn, 3), 60, "3 idle workers", 0.1)
        queue = contract.thesis_queue(conn)
        for _ in range(kills):
            job = queue.enqueue("benchmarks.worker_bench.sleep_for", 2.0, retry=Retry(max=3))
            key = f"rq:job:{job.id}"
            _wait(lambda key=key: conn.hget(key, "status") == b"started", 30, "the job to start", 0.005)
            victim = conn.hget(key, "worker_name")
            pid = int(conn.hget(b"rq:worker:" + victim, "pid"))  # type: ignore[operator]
            time.sleep(0.3)  # well inside the job
            killed_at = time.perf_counter()
            os.kill(pid, signal.SIGKILL)

            def state(key=key, victim=victim) -> tuple[bytes | None, bytes | None]:
                status, worker = conn.hmget(key, ["status", "worker_name"])
                return status, worker

            def is_back(state=state, victim=victim) -> bool:
                status, worker = state()
                return status in (b"queued", b"scheduled") or (status == b"started" and worker != victim)

            _wait(is_back, 30, "the job back in the queue", 0.002)
            back.append(time.perf_counter() - killed_at)
            _wait(lambda state=state, victim=victim: state()[0] == b"started" and state()[1] != victim, 30,
                  "the job running again", 0.002)  # fmt: skip
            again.append(time.perf_counter() - killed_at)
            _wait(lambda key=key: conn.hget(key, "status") == b"finished", 30, "the job to finish", 0.05)
            _wait(lambda: _settled(conn, "bench", 3), 30, "3 idle workers again", 0.05)
    finally:
        _stop(proc, signal.SIGTERM)
        conn.close()
    return back, again


def _join(values: list[float], digits: int) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    jobs = {k: (v // 4 if args.quick else v) for k, v in JOBS.items()}

    with bench_redis("worker-bench-") as (tmp_path, server):
        print(f"redis-server {server.binary} on port {server.port}; {os.cpu_count()} CPUs", flush=True)
        results = {}
        for worker_class in ("fork", "simple"):
            results[worker_class] = throughput(worker_class, server.url, tmp_path, args.rounds, jobs[worker_class])
        back, again = recovery_times(server.url, tmp_path, args.kills)

    print()
    print(f"{'benchmark':<44} {'rq worker-pool':>15} {'thesis-worker':>14} {'ratio':>7} {'goal':>8}")
    for worker_class, label in (("fork", "no-op jobs/s, 3 workers, forking Worker"),
                                ("simple", "no-op jobs/s, 3 workers, SimpleWorker")):  # fmt: skip
        theirs, ours = results[worker_class]
        print(f"{label:<44} {theirs:>15.0f} {ours:>14.0f} {ours / theirs:>6.2f}x {'>= 0.95':>8}")
    print(f"{'SIGKILLed worker: job back in queue, s':<44} {'up to 600':>15} {statistics.median(back):>14.3f} "
          f"{'':>7} {'< 5 s':>8}")  # fmt: skip
    print(f"{'SIGKILLed worker: job running again, s':<44} {'':>15} {statistics.median(again):>14.3f} {'':>7} {'':>8}")
    print(f"(medians; throughput of {args.rounds} alternating rounds, {jobs['fork']} / {jobs['simple']} jobs; "
          f"recovery of {args.kills} kills: {_join(back, 3)} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
