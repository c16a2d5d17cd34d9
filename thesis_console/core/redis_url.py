"""Redis URLs: the one place that splits, checks and redacts them.

A URL may carry secrets in several places, and every one is hidden by :func:`redact` and found by
:func:`has_password`:

* the password of the user-info part: ``redis://user:secret@host``, and before the host list of a
  sentinel URL: ``sentinel://:secret@host:26379/service``;
* the query parameters ``password``, ``ssl_password`` and ``sentinel_password`` (redis-py reads
  them), and ``username`` (it names an account, so it is hidden too).

Every message, log line, file and screen that shows a URL goes through :func:`redact`. It never
raises, escapes control characters, and shows a text that is not a URL at all as
``<not a Redis URL>`` (it might be a password pasted into the wrong field).

URL forms:
    ``redis://[user[:password]@]host[:port][/db][?param=value...]``, ``rediss://...`` (TLS),
    ``unix://[[user]:password@]/path/to/redis.sock[?db=N]`` and
    ``sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from thesis_console.core.terminal_text import escape_controls
from thesis_console.core.types import CoreError

SCHEMES = ("redis", "rediss", "unix", "sentinel")
PASSWORD_PARAMS = frozenset({"password", "ssl_password", "sentinel_password"})
"""Query parameters that hold a password."""
HIDDEN_PARAMS = PASSWORD_PARAMS | {"username"}
"""Query parameters whose values are never shown."""
MASK = "***"
NOT_A_URL = "<not a Redis URL>"
DEFAULT_SENTINEL_PORT = 26379
MAX_DB = 2**31 - 1
URL_FILE_MAX_BYTES = 64 * 1024


class BadRedisUrl(CoreError, ValueError):
    """A Redis URL that cannot be used; the message names what is wrong and never holds a secret."""


@dataclass(frozen=True)
class _Parts:
    """A URL split without judging it: enough to redact anything that has a scheme."""

    scheme: str
    userinfo: str | None  # everything before the last '@' of the address part, raw
    address: str  # host[:port][,host:port...] (empty for unix://)
    path: str
    query: str | None
    fragment: str | None


def _split(url: str) -> _Parts | None:
    """Split the way urllib and redis-py do: the user-info ends at the last '@' before the first '/', '?' or '#'."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.isascii() or not scheme.isalnum():
        return None
    rest, hash_sep, fragment = rest.partition("#")
    rest, query_sep, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo: str | None = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
    return _Parts(
        scheme=scheme.lower(),
        userinfo=userinfo,
        address=netloc,
        path=slash + path,
        query=query if query_sep else None,
        fragment=fragment if hash_sep else None,
    )


def _ambiguous(parts: _Parts) -> bool:
    """An '@' after the address (outside a hidden parameter): a password with an unencoded '/', '?' or '#'."""
    visible_query = [raw for raw, key, _ in _query_items(parts.query or "") if key not in HIDDEN_PARAMS]
    return "@" in parts.path or "@" in (parts.fragment or "") or any("@" in raw for raw in visible_query)


def _shown_address(address: str) -> str:
    """The host list with any port that is not a number hidden (``redis://:secret`` has no '@')."""
    shown = []
    for item in address.split(","):
        host, colon, port = item.rpartition(":")
        if colon and not port.isdigit() and not item.endswith("]"):
            item = f"{host}:{MASK}"
        shown.append(item)
    return ",".join(shown)


def _query_items(query: str) -> list[tuple[str, str, str]]:
    """``(raw key=value item, lower-cased key, raw value)`` for each ``&``-separated item."""
    items = []
    for item in query.split("&"):
        key, _, value = item.partition("=")
        items.append((item, key.strip().lower(), value))
    return items


def redact(url: str) -> str:
    """``url`` safe to show: every password and the ``username`` parameter replaced by ``***``.

    Never raises. Control characters are escaped; a text with no ``scheme://`` is shown as
    ``<not a Redis URL>``.
    """
    if not isinstance(url, str):
        return NOT_A_URL
    parts = _split(url)
    if parts is None:
        return NOT_A_URL
    if _ambiguous(parts):
        # Hide everything up to the last '@': whatever the password holds, it ends there.
        tail = url.rpartition("@")[2]
        tail_parts = _split(f"{parts.scheme}://{tail}")
        return escape_controls(f"{parts.scheme}://{MASK}@" + (_join(tail_parts) if tail_parts else NOT_A_URL))
    return escape_controls(f"{parts.scheme}://" + _join(parts))


def _join(parts: _Parts) -> str:
    shown = ""
    if parts.userinfo is not None:
        user, colon, _ = parts.userinfo.partition(":")
        shown += f"{user}:{MASK}@" if colon else f"{parts.userinfo}@"
    shown += _shown_address(parts.address) + parts.path
    if parts.query is not None:
        items = [f"{key}={MASK}" if key in HIDDEN_PARAMS else raw for raw, key, _ in _query_items(parts.query)]
        shown += "?" + "&".join(items)
    if parts.fragment is not None:
        shown += "#" + parts.fragment
    return shown


def has_password(url: str) -> bool:
    """True when ``url`` carries a password: in its user-info or in a password query parameter."""
    if not isinstance(url, str):
        return False
    parts = _split(url)
    if parts is None:
        return False
    if _ambiguous(parts):
        return True  # an '@' after the host: most likely a password with an unencoded '/', '?' or '#'
    if parts.userinfo is not None and ":" in parts.userinfo and parts.userinfo.partition(":")[2]:
        return True
    if parts.query is not None:
        return any(key in PASSWORD_PARAMS and value for _, key, value in _query_items(parts.query))
    return False


def problem(url: str) -> str | None:
    """What is wrong with ``url`` (a sentence that names it, redacted), or None when it is usable.

    Checked without connecting: the scheme, control characters and spaces, the host, the port, the
    database number (path or ``?db=``), the values redis-py parses from the query, and the form of a
    sentinel URL.
    """
    if not isinstance(url, str) or not url.strip():
        return "the Redis URL is empty"
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"the Redis URL {redact(url)} contains a space, a line break or a control character"
    parts = _split(url)
    schemes = ", ".join(s + "://" for s in SCHEMES)
    if parts is None:
        return f"a Redis URL must start with {schemes}; the text given is not a URL (not shown: it may be a secret)"
    if parts.scheme not in SCHEMES:
        return f"a Redis URL must start with {schemes}; got {redact(url)}"
    if parts.scheme == "sentinel":
        try:
            parse_sentinel_url(url)
        except BadRedisUrl as exc:
            return str(exc)
        return None
    try:
        split = urlsplit(url)
    except ValueError as exc:
        return f"the Redis URL {redact(url)} cannot be read: {exc}"
    if _ambiguous(parts):
        return (
            f"the Redis URL {redact(url)} has an '@' after its host: in a password, write '/', '?', '#' and '@' "
            "as %2F, %3F, %23 and %40"
        )
    if parts.scheme == "unix":
        if not split.path:
            return f"the unix:// URL {redact(url)} has no socket path"
    else:
        found = _address_problem(split, url)
        if found:
            return found
        db_text = split.path.strip("/")
        if db_text and not (db_text.isdigit() and db_text.isascii()):
            return f"the database in {redact(url)} must be a number (…/0), got {escape_controls(db_text)!r}"
        if db_text and int(db_text) > MAX_DB:
            return f"the database in {redact(url)} must be 0 to {MAX_DB}, got {db_text}"
    return _query_problem(url)


def _address_problem(split, url: str) -> str | None:
    if split.hostname is None or not split.hostname:
        return f"the Redis URL {redact(url)} has no host name"
    try:
        split.port  # noqa: B018 - reading it is the check
    except ValueError:
        return f"the port in {redact(url)} must be a number from 1 to 65535"
    return None


def _query_problem(url: str) -> str | None:
    from redis.connection import parse_url  # redis-py's own reading of the query: the values it will use

    try:
        kwargs = parse_url(url)
    except ValueError as exc:
        return f"the Redis URL {redact(url)} has a bad parameter: {exc}"
    db = kwargs.get("db")
    if isinstance(db, int) and not 0 <= db <= MAX_DB:
        return f"the database in {redact(url)} must be 0 to {MAX_DB}, got {db}"
    return None


def check(url: str) -> str:
    """``url`` itself when :func:`problem` finds nothing.

    Raises:
        BadRedisUrl: with the problem.
    """
    found = problem(url)
    if found:
        raise BadRedisUrl(found)
    return url


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int]:
    """Split ``sentinel://[[user]:password@]host:port[,host:port]/service_name[/db]``.

    Returns:
        The sentinel addresses, the service (master) name and the database number.

    Raises:
        BadRedisUrl: the URL does not have that form.
    """
    parts = _split(url) if isinstance(url, str) else None
    if parts is None or parts.scheme != "sentinel":
        raise BadRedisUrl(f"not a sentinel URL: {redact(url)}")
    addresses: list[tuple[str, int]] = []
    for item in parts.address.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port_text = item.rpartition(":")
        if not sep or host.endswith(":") or (item.startswith("[") and item.endswith("]")):
            host, port_text = item, str(DEFAULT_SENTINEL_PORT)
        host = host.strip("[]")
        if not (port_text.isdigit() and port_text.isascii()):
            raise BadRedisUrl(f"sentinel URL {redact(url)}: a port must be a number from 1 to 65535")
        port = int(port_text)
        if not host or not 0 < port < 65536:
            raise BadRedisUrl(f"sentinel URL {redact(url)}: a bad sentinel address")
        addresses.append((host, port))
    if not addresses:
        raise BadRedisUrl("sentinel URL: no sentinel host:port given")
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise BadRedisUrl("sentinel URL: the service name is missing (sentinel://host:port/service_name)")
    service = segments[0]
    db = 0
    if len(segments) > 1:
        if not (segments[1].isdigit() and segments[1].isascii()):
            raise BadRedisUrl(f"sentinel URL: the database must be a number, got {escape_controls(segments[1])!r}")
        db = int(segments[1])
    if len(segments) > 2 or db > MAX_DB:
        raise BadRedisUrl("sentinel URL: expected sentinel://host:port[,host:port]/service_name[/db]")
    return addresses, service, db


def read_url_file(path: str | os.PathLike[str]) -> str:
    """The Redis URL kept in the file ``path`` (its first line), read once.

    The file must be a regular file that only its owner can read or write (mode 600 or 400), as it
    holds a password that must not be on a command line, where ``ps`` shows it to every user.

    Raises:
        BadRedisUrl: the file is missing, unreadable, readable by others, empty or not a usable URL.
    """
    where = Path(path)
    try:
        with open(where, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BadRedisUrl(f"the URL file {where} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise BadRedisUrl(
                    f"the URL file {where} can be read or written by other users (mode {mode:03o}); "
                    f"it holds a password: chmod 600 {where}"
                )
            data = handle.read(URL_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise BadRedisUrl(f"cannot read the URL file {where}: {exc.strerror or exc}") from None
    if len(data) > URL_FILE_MAX_BYTES:
        raise BadRedisUrl(f"the URL file {where} is larger than {URL_FILE_MAX_BYTES} bytes: not a URL file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRedisUrl(f"the URL file {where} is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise BadRedisUrl(f"the URL file {where} is empty")
    if len(lines) > 1:
        raise BadRedisUrl(f"the URL file {where} must hold one line (the URL), it has {len(lines)}")
    found = problem(lines[0])
    if found:
        raise BadRedisUrl(f"the URL file {where}: {found}")
    return lines[0]
