"""Which Redis a program talks to, and what to tell a person when it cannot be reached.

Order: an explicit ``--url``, then ``REDIS_URL``, then the embedded local server.
"""

from __future__ import annotations

import os
import socket
import ssl

import redis
import redis.exceptions as rexc

from thesis_console.core.embedded_redis import EmbeddedRedisError, ensure_running
from thesis_console.core.redis_url import BadRedisUrl, redact
from thesis_console.core.redis_url import check as check_url

DEFAULT_SOCKET_TIMEOUT_S = 5.0


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached or refused us; the message is meant for a person."""


def resolve_url(url: str | None = None) -> str:
    """The Redis URL to use: ``url``, else ``REDIS_URL``, else the embedded server (started if needed).

    Raises:
        RedisUnavailable: the embedded server could not be started.
    """
    if url:
        return url
    env = os.environ.get("REDIS_URL")
    if env:
        return env
    try:
        return ensure_running().url
    except EmbeddedRedisError as exc:
        raise RedisUnavailable(f"the embedded Redis could not start: {exc}") from None


def connect(url: str, timeout: float = DEFAULT_SOCKET_TIMEOUT_S, check: bool = True) -> redis.Redis:
    """A synchronous client for ``url`` with timeouts set; with ``check`` it PINGs first.

    Raises:
        RedisUnavailable: with a message that names the cause (refused, password, timeout, ...).
    """
    try:
        check_url(url)
    except BadRedisUrl as exc:
        raise RedisUnavailable(f"bad Redis URL: {exc}") from None
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
    except ValueError as exc:
        raise RedisUnavailable(f"bad Redis URL {redact(url)}: {exc}") from None
    if check:
        try:
            client.ping()
        except Exception as exc:  # every failure becomes one readable message
            raise RedisUnavailable(describe_error(exc, url)) from None
    return client


_CERTIFICATE_PROBLEMS: tuple[tuple[str, str], ...] = (
    ("missing authority key identifier",
     "the server's certificate has no Authority Key Identifier extension, which Python 3.13 and newer "
     "require (strict X.509 checks); reissue it with one (openssl: -addext authorityKeyIdentifier=keyid,issuer)"),
    ("missing subject key identifier",
     "the CA certificate has no Subject Key Identifier extension, which Python 3.13 and newer require; "
     "reissue the CA with one (openssl: -addext subjectKeyIdentifier=hash)"),
    ("basic constraints of ca cert not marked critical",
     "the CA certificate's Basic Constraints extension is not marked critical, which Python 3.13 and newer "
     "require; reissue the CA with critical,CA:TRUE"),
    ("ca cert does not include key usage extension",
     "the CA certificate has no Key Usage extension (keyCertSign), which Python 3.13 and newer require; "
     "reissue the CA with one (openssl: -addext keyUsage=critical,keyCertSign,cRLSign)"),
    ("certificate has expired", "the server's certificate has expired"),
    ("certificate is not yet valid", "the server's certificate is not valid yet (check the clocks)"),
    ("hostname mismatch", "the server's certificate is not for this host name"),
    ("ip address mismatch", "the server's certificate is not for this IP address"),
    ("self-signed certificate", "the server's certificate is not signed by the CA file of the profile"),
    ("unable to get local issuer certificate",
     "the server's certificate is not signed by the CA file of the profile (or by a system CA)"),
)
"""OpenSSL's verify messages and what they mean for the person who configured the connection."""


def certificate_problem(text: str) -> str | None:
    """What is wrong with a certificate, in plain words, from an SSL error's text; None when unknown."""
    lowered = text.lower()
    for marker, meaning in _CERTIFICATE_PROBLEMS:
        if marker in lowered:
            return meaning
    return None


ACL_RIGHTS_PHRASE = "lacks the ACL rights RQ needs"


def is_rights_error(exc: BaseException) -> bool:
    """The server refused a command for want of ACL rights (the connection itself works)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, rexc.NoPermissionError) or "noperm" in str(seen).lower() or ACL_RIGHTS_PHRASE in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def describe_error(exc: BaseException, url: str) -> str:
    """A one-line, password-free explanation of why talking to ``url`` failed (empty ``url``: the embedded Redis)."""
    where = redact(url) if url else "the embedded Redis"
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, rexc.AuthenticationError) or "wrongpass" in lowered or "invalid password" in lowered:
        return f"Redis at {where} refused the user name or password (wrong password)"
    if "noauth" in lowered or "authentication required" in lowered:
        return f"Redis at {where} needs a password and none was given"
    if "db index is out of range" in lowered:
        return f"Redis at {where} has no such database (the number after the port is too high: {text})"
    if isinstance(exc, rexc.NoPermissionError) or "noperm" in lowered:
        return f"Redis at {where} denied a command: the user {ACL_RIGHTS_PHRASE} ({text})"
    if isinstance(exc, ssl.SSLError) or "ssl" in lowered or "certificate" in lowered:
        hint = certificate_problem(text)
        if hint:
            return f"TLS handshake with {where} failed (certificate): {hint} ({text})"
        return f"TLS handshake with {where} failed (certificate or TLS mismatch): {text}"
    if isinstance(exc, (rexc.TimeoutError, socket.timeout)) or "timeout" in lowered or "timed out" in lowered:
        return f"Redis at {where} did not answer in time (timeout)"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "temporary failure in name resolution" in lowered or "getaddrinfo" in lowered:
        return f"the host name in {where} could not be resolved (DNS failure)"
    if "connection refused" in lowered or "error 111" in lowered or "no such file" in lowered:
        return f"connection to Redis at {where} was refused: nothing is listening there"
    if isinstance(exc, rexc.ResponseError) and "unknown command" in lowered:
        return f"the server at {where} is not a Redis server it can use: {text}"
    if isinstance(exc, (rexc.InvalidResponse, UnicodeDecodeError)) or "protocol error" in lowered:
        return f"the server at {where} does not speak the Redis protocol (not a Redis)"
    if isinstance(exc, rexc.ConnectionError):
        if "closed by server" in lowered or "connection reset" in lowered:
            return f"the server at {where} closed the connection (not a Redis, or it is shutting down)"
        return f"cannot connect to Redis at {where}: {text}"
    return f"Redis at {where} failed: {type(exc).__name__}: {text}"
