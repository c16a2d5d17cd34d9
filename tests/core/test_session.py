"""Session against real servers: redis-server (with and without a password, over TCP, a Unix socket,
TLS through a real TLS terminator, Sentinel), and sockets that are not Redis at all."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import SocketServer, answer_http, never_answer
from thesis_console.core.embedded_redis import EmbeddedRedis, find_redis_server, free_port, start_server
from thesis_console.core.profiles import ConnectionProfile, ad_hoc_profile
from thesis_console.core.redis_target import describe_error
from thesis_console.core.session import FailureKind, Session, SessionError, explain_failure, open_session
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import ConnectionPhase, ConnectionState, JobState, ReadOnlyError

PASSWORD = "s3cret-pass"


def run(coro):
    return asyncio.run(coro)


async def wait_state(states: list[ConnectionState], phase: ConnectionPhase, timeout: float = 15.0) -> ConnectionState:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if states and states[-1].phase == phase:
            return states[-1]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {phase} state within {timeout} s; saw {[s.phase.value for s in states]}")


# ---------------------------------------------------------------------- servers that are not plain Redis
@pytest.fixture(scope="module")
def password_server(tmp_path_factory) -> Iterator[EmbeddedRedis]:
    server = start_server(tmp_path_factory.mktemp("pw-redis"), free_port())
    redis.Redis(port=server.port).config_set("requirepass", PASSWORD)
    yield server
    with contextlib.suppress(redis.RedisError):
        redis.Redis(port=server.port, password=PASSWORD).config_set("requirepass", "")
    server.stop()


@pytest.fixture
def socket_server():
    servers: list[SocketServer] = []

    def make(handle) -> SocketServer:
        servers.append(SocketServer(handle))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


# ---------------------------------------------------------------------- connecting
def test_open_goes_connecting_then_connected_and_wires_reader_and_actions(redis_conn, redis_url):
    states: list[ConnectionState] = []

    async def body():
        profile = ConnectionProfile(name="test", url=redis_url, read_only=True, queues=("thesis",))
        session = await Session.open(profile, on_state=states.append)
        try:
            snapshot = await session.reader.snapshot()
            page = await session.reader.page("thesis", JobState.FAILED, 0, 10)
            with pytest.raises(ReadOnlyError):
                await session.actions.retry(["x"])
            return session, snapshot, page
        finally:
            await session.close()

    session, snapshot, page = run(body())
    assert [s.phase for s in states] == [ConnectionPhase.CONNECTING, ConnectionPhase.CONNECTED]
    connected = states[-1]
    assert connected.version.count(".") == 2 and connected.round_trip_ms is not None
    assert connected.read_only and connected.profile == "test" and connected.server == redis_url
    assert [q.name for q in snapshot.queues] == ["thesis"] and page.total == 0
    assert session._watchdog is not None and session._watchdog.done()


def test_test_reports_connected_or_failed_without_raising(redis_url):
    ok = run(Session.test(ConnectionProfile(name="ok", url=redis_url)))
    assert ok.phase == ConnectionPhase.CONNECTED and ok.version
    refused = run(Session.test(ConnectionProfile(name="no", url=f"redis://127.0.0.1:{free_port()}/0")))
    assert refused.phase == ConnectionPhase.FAILED and "refused" in refused.reason


def _failure_case(case: str, password_server, socket_server) -> tuple[ConnectionProfile, str | None, str, str]:
    pw_url = f"redis://127.0.0.1:{password_server.port}/0"
    if case == "not a redis":
        port = socket_server(answer_http).port
    elif case == "timeout":
        port = socket_server(never_answer).port
    else:
        port = 0
    cases = {
        "refused": (ConnectionProfile(name="p", url=f"redis://127.0.0.1:{free_port()}/0"), None,
                    FailureKind.REFUSED, "refused: nothing is listening"),
        "wrong password": (ConnectionProfile(name="p", url=pw_url), "not-the-password",
                           FailureKind.AUTH, "wrong password"),
        "no password": (ConnectionProfile(name="p", url=pw_url), None,
                        FailureKind.AUTH_MISSING, "needs a password and none was given"),
        "not a redis": (ConnectionProfile(name="p", url=f"redis://127.0.0.1:{port}/0"), None,
                        FailureKind.NOT_REDIS, "not a Redis"),
        "timeout": (ConnectionProfile(name="p", url=f"redis://127.0.0.1:{port}/0", timeout_s=0.5), None,
                    FailureKind.TIMEOUT, "did not answer in time"),
        "dns": (ConnectionProfile(name="p", url="redis://no-such-host.invalid:6379/0", timeout_s=2), None,
                FailureKind.DNS, "could not be resolved"),
        "tls to plain port": (ConnectionProfile(name="p", url=f"rediss://127.0.0.1:{password_server.port}/0",
                                                timeout_s=0.5), None, FailureKind.TLS, "TLS mismatch"),
    }  # fmt: skip
    return cases[case]


@pytest.mark.parametrize(
    "case", ["refused", "wrong password", "no password", "not a redis", "timeout", "dns", "tls to plain port"]
)
def test_every_connection_failure_has_a_readable_message(case, password_server, socket_server):
    profile, password, kind, phrase = _failure_case(case, password_server, socket_server)
    states: list[ConnectionState] = []

    async def body():
        with pytest.raises(SessionError) as caught:
            await Session.open(profile, password, on_state=states.append)
        return caught.value, await Session.test(profile, password)

    error, tested = run(body())
    assert error.kind == kind
    assert phrase in str(error)
    assert [s.phase for s in states] == [ConnectionPhase.CONNECTING, ConnectionPhase.FAILED]
    assert states[-1].reason == str(error) and tested.reason == str(error)
    assert "Traceback" not in str(error) and "not-the-password" not in str(error)


def test_password_server_accepts_the_right_password_and_open_session_asks_only_when_needed(
    password_server, redis_url
):
    asked: list[str] = []

    def ask(profile: ConnectionProfile) -> str:
        asked.append(profile.name)
        return PASSWORD

    async def body():
        protected = ConnectionProfile(name="protected", url=f"redis://127.0.0.1:{password_server.port}/0")
        free = ConnectionProfile(name="free", url=redis_url)
        async with await open_session(free, ask) as session:
            assert session.state.phase == ConnectionPhase.CONNECTED
        assert asked == []
        async with await open_session(protected, ask) as session:
            assert session.state.phase == ConnectionPhase.CONNECTED
            await session.reader.snapshot()
        assert asked == ["protected"]

    run(body())


def test_no_password_in_any_message_or_repr(password_server):
    url = f"redis://:{PASSWORD}@127.0.0.1:{password_server.port}/0"
    profile = ad_hoc_profile(url)
    states: list[ConnectionState] = []

    async def body():
        session = await Session.open(profile, on_state=states.append)
        shown = [repr(session), repr(profile), session.display_url, str(session.state)]
        await session.close()
        wrong = ad_hoc_profile(f"redis://:wrong-{PASSWORD}@127.0.0.1:{password_server.port}/0")
        with pytest.raises(SessionError) as caught:
            await Session.open(wrong, on_state=states.append)
        return shown + [str(caught.value), repr(caught.value.state)]

    texts = run(body()) + [repr(s) for s in states]
    assert all(PASSWORD not in text for text in texts), texts
    assert states[1].server == f"redis://:***@127.0.0.1:{password_server.port}/0"


# ---------------------------------------------------------------------- reconnecting
def test_reconnects_by_itself_after_the_server_restarts(tmp_path):
    port = free_port()
    server = start_server(tmp_path / "r", port)
    states: list[ConnectionState] = []
    emitted: list[float] = []

    def on_state(state: ConnectionState) -> None:
        states.append(state)
        emitted.append(time.time())

    async def reconnecting_states(count: int) -> list[tuple[float, ConnectionState]]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = [(t, s) for t, s in zip(emitted, states, strict=True) if s.phase == ConnectionPhase.RECONNECTING]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"fewer than {count} RECONNECTING states: {[s.phase.value for s in states]}")

    async def body():
        profile = ConnectionProfile(name="flaky", url=server.url, timeout_s=1.0)
        session = await Session.open(profile, on_state=on_state, ping_interval_s=0.1, backoff_max_s=2.0)
        try:
            await asyncio.to_thread(server.stop)
            attempts = await reconnecting_states(2)
            again = await asyncio.to_thread(start_server, tmp_path / "r", port)
            try:
                back = await wait_state(states, ConnectionPhase.CONNECTED)
                assert back.reason == "" and back.retry_at is None and back.version
                snapshot = await session.reader.snapshot()
                assert snapshot.server.version == back.version
            finally:
                await asyncio.to_thread(again.stop)
        finally:
            await session.close()
        return attempts

    (first_at, first), (second_at, second) = run(body())[:2]
    assert "refused" in first.reason and first.retry_at is not None and second.retry_at is not None
    first_wait, second_wait = first.retry_at - first_at, second.retry_at - second_at
    # Exponential back-off: 0.5 s, then 1 s. The state is reported just after retry_at is set, so a
    # stalled process (a loaded machine) makes the measured wait shorter, never longer.
    assert 0.25 <= first_wait <= 0.6 and 0.75 <= second_wait <= 1.1


# ---------------------------------------------------------------------- other transports
def test_embedded_profile_uses_the_managed_server_even_with_redis_url_set(tmp_path, monkeypatch):
    from thesis_console.core.embedded_redis import ensure_running
    from thesis_console.core.profiles import embedded_profile

    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("THESIS_REDIS_PORT", str(free_port()))
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing there
    try:
        state = run(Session.test(embedded_profile()))
        assert state.phase == ConnectionPhase.CONNECTED
        assert state.server == ensure_running().url
    finally:
        ensure_running().stop()


def test_unix_socket(tmp_path):
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        state = run(Session.test(ConnectionProfile(name="unix", url=f"unix://{sock}?db=2")))
        assert state.phase == ConnectionPhase.CONNECTED, state.reason
        assert state.server == f"unix://{sock}?db=2"
    finally:
        proc.terminate()
        proc.wait(10)


def test_sentinel_url_finds_the_master(redis_conn, redis_url, tmp_path):
    master_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master_port} 1\n")
    proc = subprocess.Popen(
        [find_redis_server(), str(conf), "--sentinel", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=port).sentinel_get_master_addr_by_name("mymaster"):
                    break
            time.sleep(0.05)
        redis_conn.set("seen-through-sentinel", "yes")

        async def body():
            url = f"sentinel://127.0.0.1:{port},127.0.0.1:{free_port()}/mymaster/0"
            async with await Session.open(ConnectionProfile(name="sentinel", url=url)) as session:
                value = await session.client.get("seen-through-sentinel")
                job_id = await session.actions.enqueue(ThesisRequest(topic="Through the sentinel"))  # sync client
                return value, job_id

        value, job_id = run(body())
        assert value == b"yes" and redis_conn.lrange("rq:queue:thesis", 0, -1) == [job_id.encode()]
        missing = ConnectionProfile(name="s", url=f"sentinel://127.0.0.1:{port}/nosuchmaster", timeout_s=1)
        with pytest.raises(SessionError) as caught:
            run(Session.open(missing))
        assert caught.value.kind == FailureKind.SENTINEL and "nosuchmaster" in str(caught.value)
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------------- TLS through a real TLS terminator
def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (files: ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_key_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    # What a real CA issues (and Python 3.13's strict X.509 checks require): key identifiers, critical
    # basic constraints, key usage.
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_key_id, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _key_usage(cert_sign: bool):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _tls_terminator(cert: Path, key: Path, backend_port: int) -> SocketServer:
    """Accept TLS, forward the plain bytes to the real redis-server (as stunnel or a cloud proxy does)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def handle(raw: socket.socket) -> None:
        try:
            tls = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        backend = socket.create_connection(("127.0.0.1", backend_port))

        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError, ValueError):
                if isinstance(src, ssl.SSLSocket):
                    src.unwrap()  # answer the client's close_notify, as a TLS server does
            with contextlib.suppress(OSError):
                dst.close()

        threading.Thread(target=pump, args=(backend, tls), daemon=True).start()
        pump(tls, backend)

    return SocketServer(handle)


def test_tls_with_a_ca_file_and_a_wrong_ca(redis_url, tmp_path):
    ca, cert, key = _make_certificates(tmp_path)
    backend_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    terminator = _tls_terminator(cert, key, backend_port)
    (tmp_path / "other").mkdir()
    other_ca = _make_certificates(tmp_path / "other")[0]
    try:
        url = f"rediss://127.0.0.1:{terminator.port}/0"
        good = run(Session.test(ConnectionProfile(name="tls", url=url, tls_ca_file=str(ca))))
        assert good.phase == ConnectionPhase.CONNECTED, good.reason
        bad = run(Session.test(ConnectionProfile(name="tls", url=url, tls_ca_file=str(other_ca), timeout_s=2)))
        assert bad.phase == ConnectionPhase.FAILED
        assert "the server's certificate is not signed by the CA file of the profile" in bad.reason
    finally:
        terminator.close()


@pytest.mark.parametrize(
    ("openssl", "meaning"),
    [
        ("certificate verify failed: Missing Authority Key Identifier (_ssl.c:1028)", "no Authority Key Identifier"),
        ("certificate verify failed: CA cert does not include key usage extension (_ssl.c:1028)", "no Key Usage"),
        ("certificate verify failed: Basic Constraints of CA cert not marked critical", "not marked critical"),
        ("certificate verify failed: certificate has expired (_ssl.c:1006)", "has expired"),
        ("certificate verify failed: IP address mismatch, certificate is not valid for '10.0.0.1'", "this IP address"),
    ],
)
def test_certificate_verify_errors_say_what_is_missing(openssl, meaning):
    error = ssl.SSLCertVerificationError(1, openssl)
    message = describe_error(error, "rediss://:secret@redis.example.com:6380/0")
    assert message.startswith("TLS handshake with rediss://") and "(certificate): " in message and meaning in message
    assert "secret" not in message
    kind, text = explain_failure(error, "rediss://redis.example.com:6380/0", password_given=False, tls=True)
    assert kind == FailureKind.TLS and meaning in text


def test_open_session_reads_the_keyring_off_the_event_loop_thread(password_server):
    """Importing keyring and asking its backend can take long (tens of ms; D-Bus, helper processes):
    never on the thread of the event loop (the GUI's)."""
    import keyring
    from keyring.backend import KeyringBackend

    class ThreadNotingKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.threads: list[threading.Thread] = []

        def get_password(self, service: str, username: str) -> str | None:
            self.threads.append(threading.current_thread())
            return PASSWORD

        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError

        def delete_password(self, service: str, username: str) -> None:
            raise NotImplementedError

    backend = ThreadNotingKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    profile = ConnectionProfile(name="protected", url=f"redis://127.0.0.1:{password_server.port}/0")

    def never_ask(_profile: ConnectionProfile) -> str:
        raise AssertionError("the stored password was not used")

    async def body() -> ConnectionPhase:
        async with await open_session(profile, never_ask) as session:
            await session.reader.snapshot()
            return session.state.phase

    try:
        assert run(body()) == ConnectionPhase.CONNECTED
    finally:
        keyring.set_keyring(previous)
    assert backend.threads and threading.main_thread() not in backend.threads


def test_new_connections_do_not_look_up_the_redis_py_version(redis_url, monkeypatch):
    """redis-py 7+ looks its version up in the installed packages' metadata for each new connection of
    a ``from_url`` pool unless told (6-7 ms each, on the loop's thread)."""
    import redis.utils

    looked_up: list[str] = []
    real = redis.utils.get_lib_version

    def noted() -> str:
        looked_up.append("version")
        return real()

    monkeypatch.setattr(redis.utils, "get_lib_version", noted)

    async def body() -> int:
        async with await Session.open(ad_hoc_profile(redis_url)) as session:
            await asyncio.gather(*(session.reader.snapshot() for _ in range(4)))  # several pooled connections
            sync = session._clients.make_sync()
            sync.ping()
            sync.close()
            return len(session.client.connection_pool._available_connections)

    assert run(body()) >= 2
    assert looked_up == []
