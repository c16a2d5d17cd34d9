"""Turning the bytes RQ stores into values a person can read, without ever running stored code.

RQ serializes job data, meta and results with the job's serializer: JSON for this project's jobs,
pickle for RQ's default. Unpickling runs code chosen by whoever wrote the bytes, so a pickle is
recognised by its opcodes (a protocol header, or a walk of its opcodes with ``pickletools``, which
builds no object) and shown as ``Payload(kind="pickled")``. Only a profile that trusts pickle
unpickles, and then every exception is caught.

Every function here is pure and never raises on bad input: what is wrong is returned as text.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import pickletools
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from thesis_console.core.types import Payload

SHORT_TEXT = 200
"""Characters of a raw field shown before it is cut."""
_MAX_PICKLE_PROBE = 1 << 20
"""Bytes of a headerless payload walked with pickletools to tell whether it is a (protocol 0/1) pickle."""
MAX_UNZIPPED = 64 << 20
"""Bytes a zlib field may expand to: more is a zlib bomb (1 KiB of zeros-packing unzips to 1 MiB),
never expanded."""
CALL_HEAD_BYTES = 4096
"""Bytes of a job's (unzipped) data read for its function name: the arguments that follow can be large."""


def text(raw: bytes | str | None) -> str | None:
    """UTF-8 text of a field, or None when the field is absent or not UTF-8."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decompress(raw: bytes) -> bytes | None:
    """``raw`` unzipped when it is zlib data, else as it is (RQ falls back the same way); None when
    it would unzip to more than :data:`MAX_UNZIPPED` (see :func:`too_large`)."""
    unzipper = zlib.decompressobj()
    try:
        unzipped = unzipper.decompress(raw, MAX_UNZIPPED + 1)
    except zlib.error:
        return raw
    if len(unzipped) > MAX_UNZIPPED or unzipper.unconsumed_tail:
        return None
    return unzipped if unzipper.eof else raw  # a cut stream is not zlib data to RQ either


def too_large(raw: bytes) -> str:
    """Why a field that :func:`decompress` refused is not shown."""
    return f"zlib data of {len(raw):,} bytes that unzips to more than {MAX_UNZIPPED >> 20} MiB: not unzipped"


def looks_pickled(raw: bytes) -> bool:
    """Whether ``raw`` is a pickle, decided from its opcodes without building any object.

    Protocols 2 to 5 start with the PROTO opcode ``0x80`` and the protocol number. Older protocols
    have no header; for those the opcodes are walked with :func:`pickletools.genops`, which only
    parses (it imports nothing and calls nothing).
    """
    if len(raw) >= 2 and raw[0] == 0x80 and 2 <= raw[1] <= pickle.HIGHEST_PROTOCOL:
        return True
    if not raw or len(raw) > _MAX_PICKLE_PROBE or raw[-1:] != b".":
        return False
    try:
        for _opcode, _arg, _pos in pickletools.genops(io.BytesIO(raw)):
            pass
    except Exception:  # any parse failure means "not a pickle"
        return False
    return True


def decode_serialized(raw: bytes | None, trust_pickle: bool = False) -> Payload:
    """A value serialized by an RQ serializer (JSON, pickle, or something foreign), for display.

    Args:
        raw: the serialized bytes (already unzipped / un-base64'd); None when absent.
        trust_pickle: unpickle pickles (the profile says the Redis and its producers are trusted).
    """
    if raw is None:
        return Payload("missing")
    size = len(raw)
    if looks_pickled(raw):
        if not trust_pickle:
            return Payload("pickled", size=size, note="pickled data is not unpickled (the profile does not trust pickle)")
        try:
            value = pickle.loads(raw)  # noqa: S301  (only when the profile trusts pickle)
        except Exception as exc:  # unpickling can raise anything
            return Payload("error", size=size, note=f"unpickling failed: {type(exc).__name__}: {exc}")
        return Payload("unpickled", value=displayable(value), size=size)
    as_text = text(raw)
    if as_text is None:
        return Payload("binary", size=size, note="neither JSON nor pickle")
    try:
        return Payload("json", value=json.loads(as_text), size=size)
    except ValueError:
        return Payload("text", value=as_text, size=size, note="not JSON")


def displayable(value: Any, depth: int = 0) -> Any:
    """``value`` with everything that is not plain JSON data replaced by its ``repr``.

    Used on unpickled values so a front end can show them without touching foreign classes again.
    """
    if depth > 20:
        return "…"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [displayable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): displayable(v, depth + 1) for k, v in value.items()}
    try:
        return repr(value)
    except Exception as exc:  # a foreign __repr__ may fail
        return f"<{type(value).__name__}: repr failed: {exc}>"


@dataclass(frozen=True)
class JobData:
    """The decoded ``data`` field: ``(function, instance, args, kwargs)``."""

    function: str | None
    args: Payload
    kwargs: Payload
    problem: str | None = None


@dataclass(frozen=True)
class CallHead:
    """The start of a JSON job call ``[function, instance, args, kwargs]``."""

    function: Any
    """The decoded first element (a name when the job is sound), None when it cannot be read."""
    has_instance: bool


def call_head(raw: bytes | None) -> CallHead | None:
    """The function and whether an instance follows, from the first :data:`CALL_HEAD_BYTES` of a job's
    data (zlib or plain), without decoding the arguments; None when the data is not a JSON list."""
    if raw is None:
        return None
    try:
        head = zlib.decompressobj().decompress(raw, CALL_HEAD_BYTES)
    except zlib.error:
        head = raw[:CALL_HEAD_BYTES]
    if head[:1] == b"\x80":  # a pickle: never decoded here
        return None
    text = head.decode("utf-8", "replace")
    start = _skip_space(text, 0)
    if not text.startswith("[", start):
        return None
    try:
        function, end = _JSON.raw_decode(text, _skip_space(text, start + 1))
    except ValueError:
        return CallHead(None, False)
    rest = _skip_space(text, end)
    if not text.startswith(",", rest):
        return CallHead(function, False)
    return CallHead(function, not text.startswith("null", _skip_space(text, rest + 1)))


_JSON = json.JSONDecoder()


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\n\r":
        index += 1
    return index


def decode_job_data(raw: bytes | None, trust_pickle: bool = False) -> JobData:
    """The job's call from its ``data`` field (zlib-compressed serialized tuple)."""
    if raw is None:
        return JobData(None, Payload("missing"), Payload("missing"), "data field missing")
    unzipped = decompress(raw)
    if unzipped is None:
        problem = too_large(raw)
        return JobData(None, Payload("error", size=len(raw), note=problem), Payload("error", size=len(raw), note=problem), problem)
    payload = decode_serialized(unzipped, trust_pickle)
    if payload.kind in ("pickled", "error"):
        return JobData(None, payload, payload)
    if payload.kind in ("json", "unpickled"):
        value = payload.value
        if isinstance(value, list) and len(value) == 4:
            function, instance, args, kwargs = value
            name = function if isinstance(function, str) else None
            if name and instance is not None:
                name = f"{displayable(instance)!s}.{name}"
            return JobData(name, Payload(payload.kind, args, payload.size), Payload(payload.kind, kwargs, payload.size))
        return JobData(None, payload, Payload("missing"), "data is not a (function, instance, args, kwargs) list")
    return JobData(None, payload, Payload("missing"), "data is neither JSON nor pickle")


def decode_meta(raw: bytes | None, trust_pickle: bool = False) -> tuple[Payload, dict[str, Any], str | None]:
    """The job's meta as a payload, as a dict (empty when unreadable), and what is wrong with it."""
    payload = decode_serialized(raw, trust_pickle)
    if payload.kind == "missing":
        return payload, {}, None
    if payload.kind in ("json", "unpickled") and isinstance(payload.value, dict):
        return payload, payload.value, None
    if payload.kind == "pickled":
        return payload, {}, None
    if payload.kind in ("json", "unpickled"):
        return payload, {}, "meta is not an object"
    if payload.kind == "error":
        return payload, {}, payload.note
    return payload, {}, "meta is neither JSON nor pickle"


def parse_time(raw: bytes | str | None) -> float | None:
    """A Unix time from RQ's ``%Y-%m-%dT%H:%M:%S.%fZ`` text, any ISO 8601 text, or seconds as a number.

    Raises:
        ValueError: the field is present but is not a time.
    """
    value = text(raw)
    if value is None:
        if raw is None:
            return None
        raise ValueError("not UTF-8")
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # RQ writes UTC
    return parsed.timestamp()


def b64_decode(raw: bytes | str) -> bytes | None:
    """Bytes of a base64 field, or None when it is not base64."""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def exc_from_result(raw: bytes | None) -> str | None:
    """Traceback text of a results-stream entry's ``exc_string`` (base64 of zlib of UTF-8)."""
    if not raw:
        return None
    packed = b64_decode(raw)
    if packed is None:
        return text(raw)
    unzipped = decompress(packed)
    return too_large(packed) if unzipped is None else unzipped.decode("utf-8", "replace")


def exc_from_hash(raw: bytes | None) -> str | None:
    """Traceback text of a job hash's ``exc_info`` (zlib in RQ 1.x, plain text before that)."""
    if not raw:
        return None
    unzipped = decompress(raw)
    return too_large(raw) if unzipped is None else unzipped.decode("utf-8", "replace")


def last_line(traceback: str | None) -> str | None:
    """The last non-empty line of a traceback: the exception and its message."""
    if not traceback:
        return None
    for line in reversed(traceback.splitlines()):
        if line.strip():
            return line.strip()
    return None


def shorten(raw: bytes, limit: int = SHORT_TEXT) -> str:
    """A raw field as one short line of text for the "raw fields" view."""
    value = text(raw)
    if value is None or any(ord(c) < 32 and c not in "\t\n\r" for c in value[:limit]):
        unzipped = decompress(raw)
        if unzipped is None:
            return f"<{too_large(raw)}>"
        if unzipped is not raw:
            inner = decode_serialized(unzipped) if not looks_pickled(unzipped) else Payload("pickled", size=len(unzipped))
            kind = {"json": "JSON", "text": "text", "pickled": "pickle"}.get(inner.kind, "binary")
            preview = ""
            if inner.kind in ("json", "text"):
                preview = ": " + _cut(unzipped.decode("utf-8", "replace"), limit)
            return f"<zlib {len(raw)} bytes, {kind} {len(unzipped)} bytes{preview}>"
        if looks_pickled(raw):
            return f"<pickle {len(raw)} bytes>"
        return f"<{len(raw)} bytes: {raw[:32].hex()}{'…' if len(raw) > 32 else ''}>"
    return _cut(value, limit)


def _cut(value: str, limit: int) -> str:
    value = value.replace("\n", "⏎")
    return value if len(value) <= limit else value[:limit] + f"… ({len(value)} chars)"
