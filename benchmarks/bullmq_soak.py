"""``make soak ARGS=--bullmq``: thesis jobs on the BullMQ queue through Python and Node workers under faults.

Its own ``redis-server``; the Node producer adds ``--jobs`` jobs with the seed's options, a seeded mix:
plain ones, ones that fail once or twice then succeed (``fail_times``, by attempt number), and ones
that always fail (``fail_always`` for Python, ``fail`` for Node). A ledger says what each must end as.
They run on 3 supervised Python BullMQ workers beside the seed's Node worker (concurrency 3) while a
random Python worker is SIGKILLed every few seconds, the supervisor is resized between 2 and 5
through ``thesis-worker ctl``, and once, a third of the way, the supervisor is SIGKILLed with its
workers (a host gone; their jobs come back through BullMQ's stalled check) and another started. Outcomes are counted from the queue's events stream (retention deletes
completed jobs): every job must end once, as its ledger line says: 0 lost, 0 twice, 0 wrong.
Exit 1 otherwise. Needs the Node side of the tests (``make test`` installs it).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
import redis

from benchmarks.bullmq_worker_bench import KEYS, NODE_DIR, _produce, _Side
from thesis_console.core.embedded_redis import free_port, start_server

SUPERVISOR_ID = "bullmq-soak"


def _ledger(count: int, seed: int) -> tuple[list[dict], dict[str, str]]:
    rng = random.Random(seed)
    jobs, expected = [], {}
    for i in range(count):
        thesis_id = f"s{i}"
        kind = rng.choices(["plain", "flaky", "doomed"], weights=[70, 20, 10])[0]
        options: dict = {"pace_s": rng.choice([0.0, 0.05, 0.2])}
        data = {"thesisId": thesis_id, "topic": f"Soak thesis {i}", "chapters": 3, "workMs": 100}
        if kind == "flaky":
            options["fail_times"] = rng.choice([1, 2])
        elif kind == "doomed":
            options["fail_always"] = True
            data["fail"] = True
        jobs.append({**data, "options": options})
        expected[thesis_id] = "failed" if kind == "doomed" else "completed"
    return jobs, expected


def _outcomes(conn: redis.Redis, id_to_thesis: dict[str, str]) -> tuple[Counter, Counter]:
    completed: Counter = Counter()
    failed: Counter = Counter()
    for _, fields in conn.xrange(f"{KEYS}:events"):
        job = fields.get(b"jobId", b"").decode()
        if job not in id_to_thesis:
            continue
        if fields.get(b"event") == b"completed":
            completed[id_to_thesis[job]] += 1
        elif fields.get(b"event") == b"failed":
            failed[id_to_thesis[job]] += 1
    return completed, failed


def run_soak(count: int, seed: int, deadline_s: float, tmp: Path) -> bool:
    server = start_server(tmp / "redis", free_port())
    url = server.url
    conn = redis.Redis.from_url(url)
    rng = random.Random(seed + 1)
    supervisor_id = SUPERVISOR_ID
    python = _Side("python", url, tmp / "logs", extra=("--id", supervisor_id))
    replaced = False
    node = _Side("node", url, tmp / "logs")
    kills = resizes = 0
    try:
        conn.hset(f"{KEYS}:meta", "opts.maxLenEvents", 1_000_000)  # keep every event for the count
        jobs, expected = _ledger(count, seed)
        python.start(conn)
        node.start(conn)
        ids = _produce(url, jobs)
        id_to_thesis = dict(zip(ids, (j["thesisId"] for j in jobs), strict=True))
        began = time.monotonic()
        next_kill, next_resize = began + 3, began + 7
        while time.monotonic() - began < deadline_s:
            completed, failed = _outcomes(conn, id_to_thesis)
            if len(set(completed) | set(failed)) >= count:
                break
            now = time.monotonic()
            if not replaced and len(set(completed) | set(failed)) >= count // 3:
                # A host gone: the supervisor and its workers SIGKILLed; their jobs come back through
                # BullMQ's stalled check, run by the workers still alive (the Node one, the new supervisor's).
                python.proc.kill()  # type: ignore[union-attr]
                python.proc.wait()  # type: ignore[union-attr]
                supervisor_id = f"{SUPERVISOR_ID}-2"
                python = _Side("python", url, tmp / "logs", extra=("--id", supervisor_id))
                python.start(conn, wait=False)
                replaced = True
                next_kill = now + 5
            if now >= next_kill:
                workers = [p for p in psutil.Process(python.proc.pid).children() if "bullmq_worker_main" in " ".join(p.cmdline())]  # type: ignore[union-attr]  # noqa: E501
                if workers:
                    rng.choice(workers).send_signal(signal.SIGKILL)
                    kills += 1
                next_kill = now + rng.uniform(2, 5)
            if now >= next_resize:
                size = str(rng.randint(2, 5))
                subprocess.run([sys.executable, "-m", "worker_runner", "ctl", "resize", "--id", supervisor_id, "--url", url,
                                "--wait", "0", size], capture_output=True, timeout=30, check=False)  # fmt: skip
                resizes += 1
                next_resize = now + rng.uniform(5, 10)
            time.sleep(0.2)
        elapsed = time.monotonic() - began
        completed, failed = _outcomes(conn, id_to_thesis)
    finally:
        python.stop()
        node.stop()
        conn.close()
        server.stop()
    lost = [t for t in expected if t not in completed and t not in failed]
    twice = [t for t in expected if completed[t] + failed[t] > 1]
    wrong = [t for t, want in expected.items() if (completed[t] if want == "completed" else failed[t]) == 0 and t not in lost]
    print("| jobs | ended | lost | twice | wrong | Python workers SIGKILLed | supervisors SIGKILLed | resizes | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {count} | {len(set(completed) | set(failed))} | {len(lost)} | {len(twice)} | {len(wrong)} | {kills} "
          f"| {int(replaced)} | {resizes} | {elapsed:.0f} |")
    for label, items in (("lost", lost), ("twice", twice), ("wrong", wrong)):
        if items:
            print(f"{label}: {', '.join(items[:20])}")
    return not (lost or twice or wrong)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak ARGS=--bullmq", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bullmq", action="store_true", help="(the switch that chose this mode)")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args(argv)
    if not (NODE_DIR / "node_modules" / "bullmq").exists():
        print("Node bullmq is not installed in tests/node: run `make test` once (it needs node and npm)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bullmq-soak-") as tmp:
        os.environ.setdefault("THESIS_OUTPUT_DIR", str(Path(tmp) / "theses"))
        return 0 if run_soak(args.jobs, args.seed, args.deadline, Path(tmp)) else 1


if __name__ == "__main__":
    sys.exit(main())
