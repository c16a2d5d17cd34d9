"""Make the README's screenshots with the app itself: ``python docs/make_screenshots.py``.

It starts a private redis-server, a ``thesis-worker`` supervisor (3 local workers), enqueues a mix
of theses (some paced so they are visibly active, some that fail once, some that always fail), lets
the work run for a while, then calls ``thesis-console screenshot`` for every view at 1280x800 (the
smallest screen the window is made for). For the ``local`` view it first queues a few more theses, so
that the supervisor the screenshot starts through the Local workers panel has work to show; that
supervisor is stopped (warm) before the command returns. ``deep.png`` shows a queue of 2,000 waiting
theses that no worker serves, at position 1,001.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncio
import uuid

import redis

from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest

OUT = Path(__file__).parent / "screenshots"
SIZE = "1280x800"
BACKLOG = "backlog"
BULL_QUEUE = "thesis-generation"
SEED_OPTIONS = {"attempts": 3, "backoff": {"type": "exponential", "delay": 2000},
                "removeOnComplete": {"age": 86400, "count": 100}, "removeOnFail": {"count": 500}}  # fmt: skip
"""A queue no worker serves, for the picture of a deep position."""
TOPICS = [
    "Back-pressure in distributed job queues",
    "Energy use of transformer inference on edge devices",
    "Consensus under partial synchrony",
    "Explaining credit decisions to customers",
    "Urban heat islands and tree cover",
    "Formal verification of smart contracts",
    "Carbon-aware scheduling of batch workloads",
    "Fairness in ride-hailing dispatch",
]


def main() -> int:
    OUT.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="thesis-shots-"))
    server = start_server(work / "redis", free_port())
    conn = redis.Redis.from_url(server.url)
    env = {**os.environ, "THESIS_OUTPUT_DIR": str(work / "out"), "THESIS_DATA_DIR": str(work / "data"),
           "QT_QPA_PLATFORM": "offscreen"}  # fmt: skip
    env.pop("REDIS_URL", None)
    sup = subprocess.Popen(
        [sys.executable, "-m", "worker_runner", "--url", server.url, "-n", "3", "--id", "workstation"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for round_ in range(3):
            for i, topic in enumerate(TOPICS):
                options: dict = {"pace_s": 0.2 if round_ < 2 else 1.5}
                if i % 4 == 1:
                    options["fail_times"] = 1
                if i == 5 and round_ == 0:
                    options["fail_always"] = True
                enqueue_thesis(conn, ThesisRequest(topic=f"{topic}", chapters=3 + (i % 5), options=options))
            time.sleep(12 if round_ < 2 else 4)
        enqueue_thesis(conn, ThesisRequest(topic="Scheduled: review of queue theory", options={}), delay_s=3600)
        for i in range(2000):
            topic = f"{TOPICS[i % len(TOPICS)]}, part {i + 1}"
            enqueue_thesis(conn, ThesisRequest(topic=topic, chapters=3 + i % 5), queue_name=BACKLOG)
        shots = [(view, view, []) for view in ("overview", "jobs", "failed", "workers", "local")]
        shots.insert(2, ("deep", "jobs", ["--queue", BACKLOG, "--state", "waiting", "--position", "1001"]))
        for name, view, extra in shots:
            target = OUT / f"{name}.png"
            if view == "local":
                for topic in TOPICS + TOPICS[:4]:  # about 6 s each: enough for both supervisors' workers
                    enqueue_thesis(conn, ThesisRequest(topic=f"{topic} (follow-up)", chapters=4, options={"pace_s": 0.8}))
            subprocess.run(
                [sys.executable, "-m", "thesis_console", "screenshot", "--url", server.url, "--view", view,
                 "--size", SIZE, "--out", str(target), *extra],
                env=env, check=True, timeout=120,
            )  # fmt: skip
            print(f"wrote {target}")
        _bullmq_shots(server.url, env)
        shot = OUT / "overview-dark.png"
        subprocess.run(
            [sys.executable, "-m", "thesis_console", "screenshot", "--url", server.url, "--view", "overview",
             "--size", SIZE, "--theme", "dark", "--out", str(shot)],
            env=env, check=True, timeout=120,
        )  # fmt: skip
        print(f"wrote {shot}")
    finally:
        sup.terminate()
        sup.wait(60)
        server.stop()
    return 0


def _bullmq_shots(url: str, env: dict[str, str]) -> None:
    """The Node system's queue (BullMQ, the seed's job options) run by supervised Python BullMQ workers."""
    from bullmq import Queue

    async def produce(count: int, failing: int) -> None:
        queue = Queue(BULL_QUEUE, {"connection": url})
        try:
            for i in range(count):
                topic = TOPICS[i % len(TOPICS)]
                options = {"pace_s": 0.6, **({"fail_always": True} if i < failing else {})}
                data = {"thesisId": str(uuid.uuid4()), "topic": topic, "chapters": 3 + i % 4, "options": options}
                await queue.add("generate-thesis", data, SEED_OPTIONS)
        finally:
            await queue.close()

    workers = subprocess.Popen(
        [sys.executable, "-m", "worker_runner", "--url", url, "--backend", "bullmq", "--queue", BULL_QUEUE, "-n", "3",
         "--id", "node-queue"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        asyncio.run(produce(12, 2))
        time.sleep(25)
        asyncio.run(produce(10, 0))
        time.sleep(4)
        target = OUT / "bullmq.png"
        subprocess.run(
            [sys.executable, "-m", "thesis_console", "screenshot", "--url", url, "--view", "jobs", "--queue", BULL_QUEUE,
             "--state", "active", "--size", SIZE, "--out", str(target)],
            env=env, check=True, timeout=120,
        )  # fmt: skip
        print(f"wrote {target}")
    finally:
        workers.terminate()
        workers.wait(60)


if __name__ == "__main__":
    sys.exit(main())
