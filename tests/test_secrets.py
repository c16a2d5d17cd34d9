"""A Redis password never leaves the URL it was given in: not to a screen, a log, a file, ``ps`` or Redis.

For both places a URL can hold it (``redis://:secret@host`` and ``redis://host?password=secret``), the
console's commands, a ``thesis-worker`` supervisor started with ``--url-file`` and its workers run a
real job against a real password-protected redis-server; then every output, every file the project
wrote, every process's command line and every key and value in Redis is searched for the secret.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import wait_for
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server

SECRET = "Vq9-top-secret-Xk"
WRONG = "Wr0ng-guess-Pz"


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = start_server(tmp_path_factory.mktemp("pw-redis"), free_port())
    redis.Redis.from_url(server.url).config_set("requirepass", SECRET)
    yield server
    server.stop()


def _forms(port: int, password: str) -> dict[str, str]:
    return {
        "userinfo": f"redis://:{password}@127.0.0.1:{port}/0",
        "query": f"redis://127.0.0.1:{port}/0?password={password}",
    }


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose every per-user folder is under tmp_path, so every file written can be searched."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "THESIS_REDIS_PASSWORD")}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data-home"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        THESIS_DATA_DIR=str(tmp_path / "data"),
        THESIS_OUTPUT_DIR=str(tmp_path / "out"),
        THESIS_PROFILES=str(tmp_path / "config" / "profiles.json"),
        THESIS_SUPERVISOR_HEARTBEAT="0.5",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    return env


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, timeout=120)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _redis_contents(conn: redis.Redis) -> str:
    """Every key and value in the database, as text."""
    parts: list[str] = []
    for key in conn.scan_iter(count=1000):
        kind = conn.type(key).decode()
        value: object = None
        if kind == "string":
            value = conn.get(key)
        elif kind == "hash":
            value = conn.hgetall(key)
        elif kind == "list":
            value = conn.lrange(key, 0, -1)
        elif kind == "set":
            value = conn.smembers(key)
        elif kind == "zset":
            value = conn.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = conn.xrange(key)
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


def _files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_the_password_is_nowhere(password_server, tmp_path, home, form):
    url = _forms(password_server.port, SECRET)[form]
    wrong = _forms(password_server.port, WRONG)[form]
    admin = redis.Redis.from_url(_forms(password_server.port, SECRET)["userinfo"])
    admin.flushall()
    outputs: list[str] = []

    def console(*argv: str, url_: str = url, code: int = 0) -> str:
        done = _run(home, "-m", "thesis_console", "--url", url_, *argv)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == code, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stdout + done.stderr

    job_id = console("enqueue", "--topic", "Secrets in connection strings").strip()
    console("status")
    console("--json", "status")
    console("jobs", "--state", "waiting")
    assert "***" in console("status")  # the server line shows the URL, redacted
    # A wrong password, wherever it was given, is called a wrong password (exit 3).
    assert "wrong password" in console("status", url_=wrong, code=3)
    # A saved profile refuses a URL with a password: the keyring (or a prompt) holds it.
    profile = _run(home, "-m", "thesis_console", "profiles", "add", "p1", "--url", url)
    outputs.append(profile.stdout + profile.stderr)
    assert profile.returncode == 2 and "keyring" in profile.stderr

    # A supervisor given the URL in a file (mode 600) runs the job; no process shows the URL.
    url_file = tmp_path / "redis.url"
    url_file.write_text(url + "\n")
    url_file.chmod(0o600)
    log_dir = tmp_path / "data" / "worker-logs"
    stdout, stderr = tmp_path / "supervisor.out", tmp_path / "supervisor.err"
    with open(stdout, "w") as out, open(stderr, "w") as err:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "worker_runner", "--url-file", str(url_file), "-n", "2", "--log-dir", str(log_dir),
             "--grace", "5"],
            env=home, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for(lambda: admin.hget(f"rq:job:{job_id}", "status") == b"finished", timeout=90, message="the job")
        wait_for(lambda: len(_descendants(supervisor.pid)) >= 3, message="the supervisor's workers")
        for pid in _descendants(supervisor.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert SECRET.encode() not in cmdline, f"pid {pid}: {cmdline!r}"
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(60)
    assert supervisor.returncode == 0, stderr.read_text()
    assert "Redis: redis://" in stderr.read_text()  # it logged where it connected, redacted

    console("show", job_id)
    console("jobs", "--state", "completed")
    url_file.unlink()  # the one file that is meant to hold it
    everything = {
        "outputs": "\n".join(outputs),
        "files": _files_text(tmp_path),
        "redis": _redis_contents(admin),
    }
    assert "Redis:" in everything["files"] and job_id in everything["redis"]
    for where, text in everything.items():
        assert SECRET not in text, f"the password is in the {where}"
        assert WRONG not in text, f"the wrong password is in the {where}"
    admin.close()
