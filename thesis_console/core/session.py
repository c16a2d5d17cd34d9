"""One live connection: the Redis clients a profile describes, the reader and the actions over them, and
a watchdog that keeps the connection state current.

States: CONNECTING, then CONNECTED (server version, round trip) or FAILED (a message a person
understands: refused, wrong password, TLS mismatch, not a Redis, timeout, DNS failure). While
connected, a watchdog PINGs every couple of seconds; when a PING fails the state becomes
RECONNECTING, with the reason and the time of the next attempt (exponential back-off, for a
countdown), and it returns to CONNECTED on its own when the server answers again. Every change is
passed to ``on_state``.

No message, log line or repr carries a password: URLs are redacted and profiles have no password field.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import redis
import redis.asyncio as aredis
import redis.asyncio.sentinel as asentinel
import redis.exceptions as rexc
import redis.sentinel as sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from thesis_console.core.actions import QueueActions
from thesis_console.core.bullmq.actions import BullActions
from thesis_console.core.console_actions import ConsoleActions
from thesis_console.core.embedded_redis import EmbeddedRedisError, ensure_running
from thesis_console.core.profiles import ConnectionProfile
from thesis_console.core.reader import QueueReader
from thesis_console.core.redis_target import describe_error
from thesis_console.core.redis_url import has_password, parse_sentinel_url, redact
from thesis_console.core.types import ConnectionPhase, ConnectionState, CoreError

log = logging.getLogger(__name__)

PING_INTERVAL_S = 2.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
CLOSE_TIMEOUT_S = 1.0
RETRIES = 1
"""Each command is retried once on a dropped connection (redis-py would otherwise try ten times)."""


def reconnect_delay_s(failures: int, backoff_max_s: float = BACKOFF_MAX_S) -> float:
    """The wait before the next attempt after ``failures`` failed ones in a row (exponential back-off):
    the one rule for a dropped connection and for a first connection that failed."""
    return min(backoff_max_s, BACKOFF_START_S * 2 ** (max(1, failures) - 1))

StateCallback = Callable[[ConnectionState], None]


class FailureKind:
    """Why a connection failed, for front ends that react differently (ask for a password, ...)."""

    AUTH_MISSING = "auth_missing"
    AUTH = "auth"
    ACL = "acl"
    REFUSED = "refused"
    TLS = "tls"
    TIMEOUT = "timeout"
    DNS = "dns"
    NOT_REDIS = "not_redis"
    SENTINEL = "sentinel"
    EMBEDDED = "embedded"
    BAD_URL = "bad_url"  # the URL itself is wrong (malformed, or names a database the server lacks)
    OTHER = "other"


class SessionError(CoreError):
    """The connection could not be made. ``state`` is the FAILED state; ``kind`` a :class:`FailureKind`."""

    def __init__(self, state: ConnectionState, kind: str) -> None:
        super().__init__(state.reason)
        self.state = state
        self.kind = kind


def explain_failure(
    exc: BaseException, where: str, *, password_given: bool, tls: bool, username: str | None = None
) -> tuple[str, str]:
    """The :class:`FailureKind` and a one-line, password-free sentence for a failure to talk to ``where``.

    Builds on :func:`redis_target.describe_error`, adding what it cannot know: whether a password was
    given, whether TLS was used (a TLS client on a plain port waits for a handshake that never comes),
    and Sentinel's own errors.
    """
    shown = redact(where)
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, rexc.AuthenticationError) or "noauth" in lowered or "wrongpass" in lowered:
        if not password_given:
            return FailureKind.AUTH_MISSING, f"Redis at {shown} needs a password and none was given"
        if username:  # Redis does not say which of the two is wrong: name the user, so both can be checked
            return FailureKind.AUTH, (
                f"Redis at {shown} refused the user name or password: user {username!r} does not exist, "
                "is disabled, or has another password"
            )
        return FailureKind.AUTH, f"Redis at {shown} refused the user name or password (wrong password)"
    if isinstance(exc, (sentinel.MasterNotFoundError, asentinel.MasterNotFoundError)):
        return FailureKind.SENTINEL, f"the sentinels at {shown} name no reachable master: {text}"
    if tls and isinstance(exc, (rexc.TimeoutError, asyncio.TimeoutError, socket.timeout)):
        return FailureKind.TLS, (
            f"TLS handshake with {shown} did not complete (TLS mismatch): the port does not seem to speak "
            "TLS, or the server is not answering"
        )
    if isinstance(exc, ssl.SSLError) or "ssl" in lowered or "certificate" in lowered:
        return FailureKind.TLS, describe_error(exc, shown)
    if isinstance(exc, asyncio.TimeoutError):
        return FailureKind.TIMEOUT, f"Redis at {shown} did not answer in time (timeout)"
    message = describe_error(exc, where)
    for marker, kind in (
        ("(dns failure)", FailureKind.DNS),
        ("was refused", FailureKind.REFUSED),
        ("(timeout)", FailureKind.TIMEOUT),
        ("not a redis", FailureKind.NOT_REDIS),
        ("not a redis server", FailureKind.NOT_REDIS),
        ("acl rights", FailureKind.ACL),
        ("no such database", FailureKind.BAD_URL),
    ):
        if marker in message.lower():
            return kind, message
    return FailureKind.OTHER, message


# ---------------------------------------------------------------------- building clients
def _driver_info() -> dict[str, Any]:
    """redis-py's name and version for CLIENT SETINFO, given up front.

    Without it, redis-py 7+ looks its own version up in the installed packages' metadata for every
    new connection of a pool made with ``from_url``: 6 to 7 ms each, on the thread of the event loop.
    """
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py before 7 reads the version once, at import
        return {}
    return {"driver_info": DriverInfo(lib_version=redis.__version__)}


def _connection_kwargs(profile: ConnectionProfile, password: str | None, url: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_timeout": profile.timeout_s,
        "socket_connect_timeout": profile.timeout_s,
        **_driver_info(),
    }
    if profile.username:
        kwargs["username"] = profile.username
    if password is not None:
        kwargs["password"] = password
    tls_files = {
        "ssl_ca_certs": profile.tls_ca_file,
        "ssl_certfile": profile.tls_cert_file,
        "ssl_keyfile": profile.tls_key_file,
    }
    if url.startswith("rediss://") or (url.startswith("sentinel://") and any(tls_files.values())):
        kwargs.update({k: v for k, v in tls_files.items() if v})
        if url.startswith("sentinel://"):
            kwargs["ssl"] = True
    return kwargs


class _Clients:
    """The asyncio client, a factory for synchronous ones, and what must be closed with them."""

    def __init__(self, profile: ConnectionProfile, url: str, password: str | None) -> None:
        self.profile = profile
        self.url = url
        self.password = password
        kwargs = _connection_kwargs(profile, password, url)
        self._sentinel: asentinel.Sentinel | None = None
        if url.startswith("sentinel://"):
            addresses, service, db = parse_sentinel_url(url)
            self._sentinel = asentinel.Sentinel(addresses, **kwargs)
            self.client: aredis.Redis = self._sentinel.master_for(
                service, db=db, retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)
            )
        else:
            self.client = aredis.Redis.from_url(
                url,
                decode_responses=False,
                retry=AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES),
                **kwargs,
            )

    def make_sync(self) -> redis.Redis:
        """A synchronous client on the same server (RQ's blocking calls run with it in a thread)."""
        kwargs = _connection_kwargs(self.profile, self.password, self.url)
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), RETRIES)
        if self.url.startswith("sentinel://"):
            addresses, service, db = parse_sentinel_url(self.url)
            return sentinel.Sentinel(addresses, **kwargs).master_for(service, db=db, retry=retry)
        return redis.Redis.from_url(self.url, decode_responses=False, retry=retry, **kwargs)

    async def close(self) -> None:
        # Bounded: a TLS peer that never answers our close_notify must not hold up closing.
        clients = [self.client, *(self._sentinel.sentinels if self._sentinel is not None else ())]
        for client in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), CLOSE_TIMEOUT_S)


async def _resolve_url(profile: ConnectionProfile) -> str:
    """The URL to connect to; for the embedded profile, the managed local server (started if needed)."""
    if not profile.embedded:
        return profile.url
    try:
        server = await asyncio.to_thread(ensure_running)
    except EmbeddedRedisError as exc:
        raise _EmbeddedFailed(f"the embedded Redis could not start: {exc}") from None
    return server.url


class _EmbeddedFailed(Exception):
    pass


async def _probe(client: aredis.Redis, timeout_s: float) -> tuple[str, float]:
    """PING and INFO server: the server's version and the PING's round trip in milliseconds."""
    started = time.perf_counter()
    await asyncio.wait_for(client.ping(), timeout_s + 1.0)
    round_trip_ms = (time.perf_counter() - started) * 1000.0
    version = ""
    try:
        info = await asyncio.wait_for(client.info("server"), timeout_s + 1.0)
        raw = info.get("redis_version") or info.get(b"redis_version") or ""  # type: ignore[call-overload]
        version = raw.decode() if isinstance(raw, bytes) else str(raw)
    except rexc.ResponseError:
        pass  # a server that answers PING but hides INFO (some proxies) is still usable
    return version, round_trip_ms


# ---------------------------------------------------------------------- the session
class Session:
    """An open connection described by a :class:`ConnectionProfile`.

    Attributes:
        profile: the profile it was opened with.
        reader: reads snapshots, pages, details, search and metrics (:class:`QueueReader`).
        actions: the mutations (:class:`ConsoleActions`, routed per queue backend), read-only when the
            profile says so.
        state: the latest :class:`ConnectionState`.
        url: the URL actually used (the embedded server's for the embedded profile); may carry a
            password when the profile's URL does, so show :attr:`display_url` instead.
    """

    def __init__(
        self,
        profile: ConnectionProfile,
        clients: _Clients,
        state: ConnectionState,
        on_state: StateCallback | None,
        *,
        ping_interval_s: float,
        backoff_max_s: float,
    ) -> None:
        self.profile = profile
        self._clients = clients
        self.client = clients.client
        self.url = clients.url
        self.state = state
        self._on_state = on_state
        self._ping_interval_s = ping_interval_s
        self._backoff_max_s = backoff_max_s
        self.reader = QueueReader(
            self.client,
            trust_pickle=profile.trust_pickle,
            queues=list(profile.queues) or None,
            timeout_s=profile.timeout_s,
            bullmq_prefix=profile.bullmq_prefix,
        )
        self.actions = ConsoleActions(
            QueueActions(self.client, read_only=profile.read_only, sync_factory=clients.make_sync),
            BullActions(self.client, profile.bullmq_prefix, read_only=profile.read_only),
            self.reader.backend_of,
            read_only=profile.read_only,
            job_defaults=dict(profile.bullmq_jobs),
        )
        self._watchdog: asyncio.Task[None] | None = None
        self._retry_now = asyncio.Event()
        self._closed = False

    def __repr__(self) -> str:
        return f"Session(profile={self.profile.name!r}, server={self.display_url!r}, phase={self.state.phase.value})"

    @property
    def display_url(self) -> str:
        return redact(self.url)

    @property
    def password_given(self) -> bool:
        return self._clients.password is not None or has_password(self.url)

    @classmethod
    async def open(
        cls,
        profile: ConnectionProfile,
        password: str | None = None,
        on_state: StateCallback | None = None,
        *,
        ping_interval_s: float = PING_INTERVAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> Session:
        """Connect, check the server with PING and INFO, and start the watchdog.

        Args:
            profile: what to connect to.
            password: the password (from the keyring or asked); None for none.
            on_state: called with every new :class:`ConnectionState` (CONNECTING first).
            ping_interval_s: how often the watchdog PINGs while connected.
            backoff_max_s: the longest wait between reconnection attempts.

        Raises:
            SessionError: the connection failed; ``on_state`` has received the FAILED state.
        """
        state = ConnectionState(
            ConnectionPhase.CONNECTING, profile.name, profile.display_url, read_only=profile.read_only
        )
        _notify(on_state, state)
        clients, version, round_trip_ms = await _connect(profile, password, on_state, state)
        state = replace(
            state,
            phase=ConnectionPhase.CONNECTED,
            server=redact(clients.url),
            version=version,
            round_trip_ms=round_trip_ms,
        )
        session = cls(
            profile, clients, state, on_state, ping_interval_s=ping_interval_s, backoff_max_s=backoff_max_s
        )
        _notify(on_state, state)
        log.info("connected to %s (%s), Redis %s", profile.name, state.server, version or "?")
        session._watchdog = asyncio.get_running_loop().create_task(session._watch(), name="redis-watchdog")
        return session

    @staticmethod
    async def test(profile: ConnectionProfile, password: str | None = None) -> ConnectionState:
        """Connect, PING, INFO and disconnect: CONNECTED with version and round trip, or FAILED with why.

        Never raises for connection problems.
        """
        state = ConnectionState(
            ConnectionPhase.CONNECTING, profile.name, profile.display_url, read_only=profile.read_only
        )
        try:
            clients, version, round_trip_ms = await _connect(profile, password, None, state)
        except SessionError as exc:
            return exc.state
        await clients.close()
        return replace(
            state,
            phase=ConnectionPhase.CONNECTED,
            server=redact(clients.url),
            version=version,
            round_trip_ms=round_trip_ms,
        )

    @contextlib.asynccontextmanager
    async def side_client(self) -> AsyncIterator[aredis.Redis]:
        """A new asyncio client on the same server (same credentials, TLS, Sentinel), closed after the
        block: for reads on an event loop in another thread, so a big read never holds this one's loop."""
        clients = _Clients(self.profile, self.url, self._clients.password)
        try:
            yield clients.client
        finally:
            await clients.close()

    async def close(self) -> None:
        """Stop the watchdog and close every client. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watchdog
        await self.actions.close()
        await self._clients.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def retry_now(self) -> None:
        """While reconnecting: make the next attempt now instead of at the end of the back-off."""
        if self.state.phase == ConnectionPhase.RECONNECTING:
            self._retry_now.set()

    def _set_state(self, state: ConnectionState) -> None:
        self.state = state
        _notify(self._on_state, state)

    async def _watch(self) -> None:
        """PING every ``ping_interval_s``; on failure, back off exponentially until the server answers."""
        failures = 0
        while not self._closed:
            if self.state.phase == ConnectionPhase.RECONNECTING and self.state.retry_at is not None:
                delay = max(0.0, self.state.retry_at - time.time())
            else:
                delay = self._ping_interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_now.wait(), delay)
            self._retry_now.clear()
            try:
                version, round_trip_ms = await _probe(self.client, self.profile.timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                backoff = reconnect_delay_s(failures, self._backoff_max_s)
                _, reason = explain_failure(
                    exc, self.url, password_given=self.password_given, tls=self.profile.uses_tls,
                    username=self.profile.username,
                )
                log.info("lost %s: %s; next attempt in %.1f s", self.profile.name, reason, backoff)
                self._set_state(
                    replace(
                        self.state,
                        phase=ConnectionPhase.RECONNECTING,
                        reason=reason,
                        retry_at=time.time() + backoff,
                        round_trip_ms=None,
                    )
                )
                continue
            failures = 0
            if self.state.phase != ConnectionPhase.CONNECTED or version != self.state.version:
                self._set_state(
                    replace(
                        self.state,
                        phase=ConnectionPhase.CONNECTED,
                        version=version,
                        round_trip_ms=round_trip_ms,
                        reason="",
                        retry_at=None,
                    )
                )
            elif _round_trip_changed(self.state.round_trip_ms, round_trip_ms):
                self._set_state(replace(self.state, round_trip_ms=round_trip_ms))


async def _connect(
    profile: ConnectionProfile,
    password: str | None,
    on_state: StateCallback | None,
    state: ConnectionState,
) -> tuple[_Clients, str, float]:
    """Resolve the URL, build the clients and probe the server; FAILED and :class:`SessionError` if not."""
    where = profile.url or "the embedded Redis"
    clients: _Clients | None = None
    try:
        url = await _resolve_url(profile)
        where = url
        clients = _Clients(profile, url, password)
        version, round_trip_ms = await _probe(clients.client, profile.timeout_s)
        return clients, version, round_trip_ms
    except asyncio.CancelledError:
        if clients is not None:
            await clients.close()
        raise
    except _EmbeddedFailed as exc:
        kind, reason = FailureKind.EMBEDDED, str(exc)
    except CoreError as exc:
        kind, reason = FailureKind.OTHER, str(exc)
    except ValueError as exc:  # redis-py's verdict on a malformed URL
        kind, reason = FailureKind.BAD_URL, f"bad Redis URL {redact(where)}: {exc}"
    except Exception as exc:
        given = password is not None or has_password(where)
        kind, reason = explain_failure(exc, where, password_given=given, tls=profile.uses_tls, username=profile.username)
    if clients is not None:
        await clients.close()
    failed = replace(state, phase=ConnectionPhase.FAILED, server=redact(where), reason=reason)
    _notify(on_state, failed)
    log.info("could not connect to %s: %s", profile.name, reason)
    raise SessionError(failed, kind)


def _round_trip_changed(old: float | None, new: float) -> bool:
    """Worth a new state: the round trip doubled or halved and moved by more than a millisecond."""
    if old is None:
        return True
    return abs(new - old) > 1.0 and (new > 2 * old or new < old / 2)


def _notify(on_state: StateCallback | None, state: ConnectionState) -> None:
    if on_state is None:
        return
    try:
        on_state(state)
    except Exception:  # a front end's bug must not break the connection
        log.exception("on_state callback failed")


def _keyring_password(profile: ConnectionProfile) -> str | None:
    from thesis_console.core.credentials import get_password  # imports keyring: about 50 ms

    return get_password(profile)


async def stored_password(profile: ConnectionProfile) -> str | None:
    """The keyring's password for ``profile`` (None when none is stored), read in a worker thread.

    Importing keyring takes tens of milliseconds, and a keyring backend may start processes or wait
    on D-Bus: none of that may hold up the event loop (the GUI's, or the CLI's watchdog).
    """
    return await asyncio.to_thread(_keyring_password, profile)


async def open_session(
    profile: ConnectionProfile,
    password_source: Callable[[ConnectionProfile], Awaitable[str | None] | str | None] | None = None,
    on_state: StateCallback | None = None,
    **kwargs: Any,
) -> Session:
    """Open ``profile`` with the keyring's password; with none stored, connect without one and ask
    ``password_source`` only when the server says it needs one (so password-free servers never prompt).
    A profile with an ACL user name and no stored password asks at once.

    Raises:
        SessionError: as :meth:`Session.open`.
    """
    password = await stored_password(profile)
    # An ACL user name needs its password up front: without AUTH the server would take us for the default user.
    if password is None and not (profile.username and password_source is not None):
        try:
            return await Session.open(profile, None, on_state, **kwargs)
        except SessionError as exc:
            if exc.kind != FailureKind.AUTH_MISSING or password_source is None:
                raise
    elif password is not None:
        return await Session.open(profile, password, on_state, **kwargs)
    assert password_source is not None
    asked = password_source(profile)
    if asyncio.iscoroutine(asked) or isinstance(asked, Awaitable):
        asked = await asked
    if not asked:
        raise SessionError(
            ConnectionState(
                ConnectionPhase.FAILED,
                profile.name,
                profile.display_url,
                read_only=profile.read_only,
                reason=f"Redis at {profile.display_url} needs a password and none was given",
            ),
            FailureKind.AUTH_MISSING,
        )
    return await Session.open(profile, str(asked), on_state, **kwargs)
