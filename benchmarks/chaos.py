"""The chaos run: thesis jobs worked by supervisors while faults are injected, then full accounting.

Used by ``make soak`` (1,000 jobs, :mod:`benchmarks.soak`) and, in a short version, by the test
suite (``tests/test_chaos.py``). Everything runs on loopback: its own redis-server (append-only file
on) in a temporary folder, ``thesis-worker`` supervisors as child processes.

Faults, at random moments (seeded): SIGKILL of a busy worker process (mid-job), SIGKILL of a whole
supervisor followed by a new one, a resize through Redis, a running job stopped through the core's
``QueueActions.stop``, and the Redis server stopped and started again on the same port and folder.

At the end, after a settle time, every job is accounted for: completed, failed after its retries,
or stopped on purpose. Lost (hash gone or never ended), stuck (still active or in an intermediate
list) and completed-twice jobs are counted and listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

from thesis_console.core import contract
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, pid_alive, start_server
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest

TERMINAL = {"finished", "failed", "stopped", "canceled"}


@dataclass
class ChaosConfig:
    jobs: int = 1000
    fail_once_ratio: float = 0.10
    fail_always_ratio: float = 0.05
    pace_s: float = 0.1
    seed: int = 20261128
    supervisors: int = 2
    min_concurrency: int = 3
    max_concurrency: int = 6
    fault_every_s: tuple[float, float] = (2.0, 5.0)
    redis_restarts: int = 2
    redis_down_s: float = 2.0
    deadline_s: float = 13 * 60
    settle_s: float = 10.0
    recovery_interval_s: float = 2.0


@dataclass
class ChaosReport:
    config: ChaosConfig
    elapsed_s: float
    outcome: Counter
    lost: list[str]
    stuck: list[str]
    unexpected: dict[str, str]
    completed_twice: list[str]
    faults: Counter
    recovery_times_s: list[float]
    orphan_recovery_times_s: list[float]
    redis_restarts: int
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.stuck and not self.unexpected

    def table(self) -> str:
        lines = [
            f"chaos run: {self.config.jobs} jobs, {self.config.supervisors} supervisors at "
            f"{self.config.min_concurrency}-{self.config.max_concurrency}, {self.elapsed_s:.0f} s",
            "",
            f"{'outcome':<34}{'jobs':>8}",
            f"{'-' * 34}{'-' * 8}",
        ]
        for name in ("completed", "failed after retries", "stopped on purpose"):
            lines.append(f"{name:<34}{self.outcome.get(name, 0):>8}")
        lines.append(f"{'lost':<34}{len(self.lost):>8}")
        lines.append(f"{'stuck (active or intermediate)':<34}{len(self.stuck):>8}")
        lines.append(f"{'unexpected end state':<34}{len(self.unexpected):>8}")
        lines.append(f"{'completed twice (killed after end)':<34}{len(self.completed_twice):>8}")
        lines += ["", f"{'fault injected':<34}{'count':>8}", f"{'-' * 34}{'-' * 8}"]
        for name, count in sorted(self.faults.items()):
            lines.append(f"{name:<34}{count:>8}")
        if self.recovery_times_s:
            times = sorted(self.recovery_times_s)
            lines += [
                "",
                f"recovery of a SIGKILLed worker's job (n={len(times)}): median {statistics.median(times):.2f} s, "
                f"max {times[-1]:.2f} s",
            ]
        if self.orphan_recovery_times_s:
            times = sorted(self.orphan_recovery_times_s)
            lines.append(
                f"recovery of a SIGKILLed supervisor's jobs by another supervisor (n={len(times)}): "
                f"median {statistics.median(times):.2f} s, max {times[-1]:.2f} s"
            )
        for job_id in self.lost[:10]:
            lines.append(f"  lost: {job_id}")
        for job_id in self.stuck[:10]:
            lines.append(f"  stuck: {job_id}")
        for job_id, why in list(self.unexpected.items())[:10]:
            lines.append(f"  unexpected: {job_id}: {why}")
        for job_id in self.completed_twice[:10]:
            lines.append(f"  completed twice: {job_id}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class _Supervisors:
    """The ``thesis-worker`` child processes of the run."""

    def __init__(self, url: str, workdir: Path, cfg: ChaosConfig) -> None:
        self.url = url
        self.workdir = workdir
        self.cfg = cfg
        self.procs: dict[str, subprocess.Popen] = {}
        self.counter = 0
        self.env = {
            **os.environ,
            "THESIS_OUTPUT_DIR": str(workdir / "out"),
            "THESIS_DATA_DIR": str(workdir / "data"),
            contract.COMPLETED_KEEP_ENV: "1000000",
            contract.FAILED_KEEP_ENV: "1000000",
        }
        self.env.pop("REDIS_URL", None)

    def start(self, concurrency: int) -> str:
        self.counter += 1
        sup_id = f"chaos-{self.counter}"
        log = open(self.workdir / f"{sup_id}.out", "wb")  # noqa: SIM115 (kept open for the child's life)
        self.procs[sup_id] = subprocess.Popen(
            [
                sys.executable, "-m", "worker_runner", "--url", self.url, "-n", str(concurrency),
                "--id", sup_id, "--heartbeat", "1", "--recovery-interval", str(self.cfg.recovery_interval_s),
                "--grace", "5", "--restart-backoff-max", "3", "--log-dir", str(self.workdir / "logs"),
                "--log-level", "WARNING",
            ],
            env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        return sup_id

    def alive(self) -> list[str]:
        return [sid for sid, p in self.procs.items() if p.poll() is None]

    def kill(self, sup_id: str) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.procs[sup_id].kill()
        self.procs[sup_id].wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def _busy_workers(conn: redis.Redis) -> list[tuple[str, int, str]]:
    """(worker name, pid, current job) of every worker that runs a job now."""
    keys = [_text(n) for n in conn.smembers("rq:workers")]
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, ["pid", "state"])
        pipe.smembers(f"{key}:executions")  # RQ 3: the worker's running executions, "job_id:execution_id"
    replies = pipe.execute()
    found = []
    for key, (pid, state), executions in zip(keys, replies[::2], replies[1::2], strict=True):
        jobs = sorted(_text(e).rsplit(":", 1)[0] for e in executions)
        if pid and jobs and _text(state) == "busy" and pid_alive(int(pid)):
            found.append((key, int(pid), jobs[0]))  # worker hashes outlive their processes: live ones only
    return found


def _watch_recovery(url: str, job_id: str, killed_at: float, out: list[float], stop: threading.Event) -> None:
    """Time until the killed worker's job is no longer 'started' (back in a queue, scheduled or failed)."""
    conn = redis.Redis.from_url(url, socket_timeout=2)
    while not stop.is_set() and time.time() - killed_at < 180:
        try:
            status = _text(conn.hget(f"rq:job:{job_id}", "status"))
        except redis.RedisError:
            status = "started"
        if status != "started":
            out.append(time.time() - killed_at)
            return
        time.sleep(0.05)


def run_chaos(cfg: ChaosConfig, workdir: Path, say=print) -> ChaosReport:
    """Run the scenario in ``workdir`` and return the accounting."""
    rng = random.Random(cfg.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server: EmbeddedRedis = start_server(workdir / "redis", port)
    url = server.url
    conn = redis.Redis.from_url(url, socket_timeout=5)
    sups = _Supervisors(url, workdir, cfg)
    faults: Counter = Counter()
    recovery: list[float] = []
    orphan_recovery: list[float] = []
    watchers: list[threading.Thread] = []
    stop_watchers = threading.Event()
    stopped_on_purpose: set[str] = set()
    notes: list[str] = []
    started = time.time()
    expected: dict[str, str] = {}
    try:
        for i in range(cfg.jobs):
            roll = rng.random()
            options: dict = {"pace_s": cfg.pace_s}
            kind = "normal"
            if roll < cfg.fail_always_ratio:
                options["fail_always"] = True
                kind = "fail_always"
            elif roll < cfg.fail_always_ratio + cfg.fail_once_ratio:
                options["fail_times"] = 1
                kind = "fail_once"
            req = ThesisRequest(topic=f"Chaos thesis {i}", chapters=3, target_words=1000, options=options)
            expected[enqueue_thesis(conn, req)] = kind
        say(f"enqueued {cfg.jobs} jobs on {url}")
        for _ in range(cfg.supervisors):
            sups.start(rng.randint(cfg.min_concurrency, cfg.max_concurrency))
        restarts_left = cfg.redis_restarts
        next_fault = time.time() + rng.uniform(*cfg.fault_every_s)
        while time.time() - started < cfg.deadline_s:
            time.sleep(0.2)
            try:
                remaining = _remaining(conn, expected)
            except redis.RedisError:
                continue
            if remaining == 0:
                break
            if time.time() < next_fault:
                continue
            next_fault = time.time() + rng.uniform(*cfg.fault_every_s)
            choices = ["kill_worker", "kill_worker", "kill_worker", "resize", "resize", "stop_job", "kill_supervisor"]
            if restarts_left:
                choices.append("restart_redis")
            fault = rng.choice(choices)
            try:
                if fault == "kill_worker":
                    busy = _busy_workers(conn)
                    if not busy:
                        continue
                    name, pid, job_id = rng.choice(busy)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    killed_at = time.time()
                    t = threading.Thread(target=_watch_recovery, args=(url, job_id, killed_at, recovery, stop_watchers))
                    t.start()
                    watchers.append(t)
                elif fault == "kill_supervisor":
                    alive = sups.alive()
                    if not alive:
                        continue
                    victim = rng.choice(alive)
                    orphans = [job for name, _pid, job in _busy_workers(conn) if name.startswith(f"rq:worker:{victim}.")]
                    sups.kill(victim)
                    killed_at = time.time()
                    for job_id in orphans:
                        t = threading.Thread(
                            target=_watch_recovery, args=(url, job_id, killed_at, orphan_recovery, stop_watchers)
                        )
                        t.start()
                        watchers.append(t)
                    sups.start(rng.randint(cfg.min_concurrency, cfg.max_concurrency))
                elif fault == "resize":
                    alive = sups.alive()
                    if not alive:
                        continue
                    from thesis_console.core.supervisor_protocol import queue_control, resize_message

                    pipe = conn.pipeline()
                    queue_control(pipe, rng.choice(alive), resize_message(rng.randint(cfg.min_concurrency, cfg.max_concurrency)))
                    pipe.execute()
                elif fault == "stop_job":
                    busy = _busy_workers(conn)
                    if not busy:
                        continue
                    job_id = rng.choice(busy)[2]
                    if _stop_through_core(url, job_id):
                        stopped_on_purpose.add(job_id)
                    else:
                        continue
                elif fault == "restart_redis":
                    restarts_left -= 1
                    conn.close()
                    server.stop()
                    time.sleep(cfg.redis_down_s)
                    server = start_server(workdir / "redis", port)
                    conn = redis.Redis.from_url(url, socket_timeout=5)
                faults[fault] += 1
                say(f"{time.time() - started:6.1f}s fault {fault}")
            except redis.RedisError as exc:
                notes.append(f"fault {fault} hit a Redis error: {exc}")
        else:
            notes.append(f"deadline of {cfg.deadline_s:.0f} s reached before every job ended")
        time.sleep(cfg.settle_s)
        report = _account(conn, expected, stopped_on_purpose)
    finally:
        stop_watchers.set()
        for t in watchers:
            t.join(timeout=5)
        sups.stop_all()
        with contextlib.suppress(Exception):
            conn.close()
        server.stop()
    outcome, lost, stuck, unexpected, twice = report
    return ChaosReport(
        config=cfg,
        elapsed_s=time.time() - started,
        outcome=outcome,
        lost=lost,
        stuck=stuck,
        unexpected=unexpected,
        completed_twice=twice,
        faults=faults,
        recovery_times_s=recovery,
        orphan_recovery_times_s=orphan_recovery,
        redis_restarts=cfg.redis_restarts - restarts_left,
        notes=notes,
    )


def _stop_through_core(url: str, job_id: str) -> bool:
    """Stop a running job with the console core's action (RQ's stop-job command)."""
    import redis.asyncio as aredis

    from thesis_console.core.actions import QueueActions

    async def go() -> bool:
        client = aredis.Redis.from_url(url)
        actions = QueueActions(client, read_only=False, sync_factory=lambda: redis.Redis.from_url(url))
        try:
            result = await actions.stop([job_id])
            return job_id in result.done
        finally:
            await actions.close()
            await client.aclose()

    return asyncio.run(go())


def _remaining(conn: redis.Redis, expected: dict[str, str]) -> int:
    pipe = conn.pipeline(transaction=False)
    for job_id in expected:
        pipe.hget(f"rq:job:{job_id}", "status")
    return sum(1 for s in pipe.execute() if _text(s) not in TERMINAL)


def _account(conn: redis.Redis, expected: dict[str, str], stopped_on_purpose: set[str]):
    ids = list(expected)
    pipe = conn.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", ["status", "meta"])
    rows = pipe.execute()
    queued = {_text(x) for x in conn.lrange("rq:queue:thesis", 0, -1)}
    intermediate = {_text(x) for x in conn.lrange("rq:queue:thesis:intermediate", 0, -1)}
    active = {_text(x).split(":")[0] for x in conn.zrange("rq:wip:thesis", 0, -1)}
    scheduled = {_text(x) for x in conn.zrange("rq:scheduled:thesis", 0, -1)}
    outcome: Counter = Counter()
    lost: list[str] = []
    stuck: list[str] = []
    unexpected: dict[str, str] = {}
    twice: list[str] = []
    for job_id, (status, meta_raw) in zip(ids, rows, strict=True):
        status = _text(status)
        try:
            meta = json.loads(meta_raw) if meta_raw else {}
        except ValueError:
            meta = {}
        completions = sum(1 for a in meta.get("attempts", []) if isinstance(a, dict) and a.get("outcome") == "completed")
        if completions > 1:
            twice.append(job_id)
        if not status:
            lost.append(job_id)
        elif job_id in active or job_id in intermediate:
            stuck.append(job_id)
        elif status == "finished":
            outcome["completed"] += 1
            if expected[job_id] == "fail_always":
                unexpected[job_id] = "completed although it always fails"
        elif status == "failed":
            outcome["failed after retries"] += 1
        elif status == "stopped":
            if job_id in stopped_on_purpose:
                outcome["stopped on purpose"] += 1
            else:
                unexpected[job_id] = "stopped, but nobody stopped it"
        elif job_id in queued or job_id in scheduled:
            lost.append(job_id)  # still waiting after the settle time: never ended
        else:
            unexpected[job_id] = f"status {status!r}"
    return outcome, lost, stuck, unexpected, twice
