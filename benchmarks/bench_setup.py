"""What the worker benchmarks and the soaks set up alike: a redis-server of their own, waiting on a
condition, and the Node BullMQ producer of the interop tests (installed in tests/node by ``make test``)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
PRODUCER_BATCH = 100
"""Jobs per producer call: the jobs travel as one command-line argument, which Linux caps at 128 KiB."""
NODE_MISSING = "Node bullmq is not installed in tests/node: run `make test` once (it needs node and npm)"


def wait(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> object:
    """Poll ``predicate`` until it returns something true, and return that.

    Raises:
        RuntimeError: ``timeout`` seconds went by first (the message names ``what``).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def bench_redis(prefix: str) -> Iterator[tuple[Path, EmbeddedRedis]]:
    """A temporary folder and a redis-server on a free port in it, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        tmp_path = Path(tmp)
        server = start_server(tmp_path / "redis", free_port())
        try:
            yield tmp_path, server
        finally:
            server.stop()


def node_bullmq_installed() -> bool:
    return (NODE_DIR / "node_modules" / "bullmq").exists()


def produce(url: str, jobs: list[dict[str, Any]], opts: dict[str, Any] | list[dict[str, Any]] | None = None) -> list[str]:
    """Add thesis jobs through the Node producer with the seed's options (``opts`` override them, for
    all jobs or one object per job); their ids. Many jobs take several producer runs of :data:`PRODUCER_BATCH`.

    Raises:
        subprocess.CalledProcessError: the producer failed.
    """
    ids: list[str] = []
    for start in range(0, len(jobs), PRODUCER_BATCH):
        batch_opts = opts[start : start + PRODUCER_BATCH] if isinstance(opts, list) else opts or {}
        done = subprocess.run(
            ["node", "producer.mjs", url, json.dumps(jobs[start : start + PRODUCER_BATCH]), "bull", json.dumps(batch_opts)],
            cwd=NODE_DIR, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        ids += json.loads(done.stdout)
    return ids
