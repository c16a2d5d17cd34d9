"""The Node BullMQ side of the interop tests: the pinned npm package in tests/node, its producer and worker.

``make test`` installs the package (``npm ci`` into tests/node/node_modules, once); a test that needs
it fails with one message naming what is missing, never skips.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"
NODE_BULLMQ_VERSION = "5.81.5"
"""The version pinned in tests/node/package.json; the Python package's scripts must match it."""


def require_node_side() -> None:
    """Fail the test, saying what to install, when Node, npm or the pinned bullmq package is missing."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the BullMQ interop tests need Node.js 20 or newer and npm: install {' and '.join(missing)}")
    manifest = NODE_DIR / "node_modules" / "bullmq" / "package.json"
    if not manifest.exists():
        pytest.fail(f"Node bullmq is not installed in {NODE_DIR}: run `make test` (or `npm ci` in that folder)")
    version = json.loads(manifest.read_text())["version"]
    if version != NODE_BULLMQ_VERSION:
        pytest.fail(f"Node bullmq {version} is installed in {NODE_DIR}, {NODE_BULLMQ_VERSION} is pinned: run `make test`")


def run_node(script: str, *args: str, timeout: float = 60.0) -> str:
    """Run one of the scripts in tests/node to the end and return what it printed."""
    require_node_side()
    done = subprocess.run(
        ["node", script, *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"node {script} exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def produce(url: str, jobs: list[dict], prefix: str = "bull", opts: dict | None = None) -> list[str]:
    """Add thesis jobs through Node BullMQ with the seed system's options (``opts`` override some); their ids."""
    return json.loads(run_node("producer.mjs", url, json.dumps(jobs), prefix, json.dumps(opts or {})))


class NodeWorker:
    """The Node thesis worker (concurrency 3) as a child process, stopped with SIGTERM at ``stop``."""

    def __init__(self, url: str, prefix: str = "bull", options: dict | None = None) -> None:
        """``options`` are added to the Worker's (``name``, ``metrics``...)."""
        require_node_side()
        self.proc = subprocess.Popen(
            ["node", "worker.mjs", url, prefix, json.dumps(options or {})],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline()
                if line.strip() == "ready":
                    return
                if not line:
                    err = self.proc.stderr.read() if self.proc.stderr else ""
                    pytest.fail(f"the Node worker exited before it was ready: {err.strip()}")
        pytest.fail(f"the Node worker was not ready within {timeout} s")

    def stop(self, graceful: bool = True) -> None:
        """SIGTERM (the worker finishes its active jobs first), or SIGKILL when not ``graceful``."""
        if self.proc.poll() is None:
            self.proc.terminate() if graceful else self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
