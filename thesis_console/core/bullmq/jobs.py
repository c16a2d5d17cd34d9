"""BullMQ job hashes as console rows: every field parsed defensively; a broken job is a row that says so.

Job data is JSON text; it is parsed with ``json.loads`` (never evaluated), and only for display.
"""

from __future__ import annotations

import json
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.backend import Backend
from thesis_console.core.bullmq.keys import delayed_run_at
from thesis_console.core.round_trips import is_error
from thesis_console.core.types import JobRow, JobState, Payload

ROW_FIELDS: tuple[str, ...] = (
    "name",
    "data",
    "opts",
    "timestamp",
    "processedOn",
    "finishedOn",
    "progress",
    "atm",
    "attemptsMade",
    "ats",
    "failedReason",
    "delay",
    "priority",
    "pb",
)
"""Fields of a job hash a row shows (``atm``/``ats`` in BullMQ 5, ``attemptsMade`` before)."""

ROW_DATA_LIMIT = 64 * 1024
"""Larger job data is not parsed for a table row (the detail view shows it)."""

RETRY_BACKOFF = "retry back-off"
REQUESTED_DELAY = "requested delay"


def parse_json(raw: bytes | None, limit: int | None = None) -> Payload:
    """A JSON field as a Payload: ``json``, ``text`` when it is not JSON, ``missing``, or ``binary``."""
    if raw is None:
        return Payload("missing")
    if limit is not None and len(raw) > limit:
        return Payload("text", size=len(raw), note=f"{len(raw)} bytes, too large to show in a row")
    value = decoding.text(raw)
    if value is None:
        return Payload("binary", size=len(raw), note="not UTF-8")
    try:
        return Payload("json", json.loads(value), size=len(raw))
    except ValueError:
        return Payload("text", value, size=len(raw), note="not JSON")


def ms_time(raw: bytes | None) -> float | None:
    """A BullMQ millisecond timestamp field as Unix seconds; None when absent or not a number."""
    value = decoding.text(raw)
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number / 1000.0 if number > 0 else None


def _int(raw: bytes | None) -> int | None:
    value = decoding.text(raw)
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def progress_of(raw: bytes | None) -> tuple[int | None, str | None]:
    """BullMQ progress is a number or any JSON value: a percentage, or a compact text for an object."""
    payload = parse_json(raw)
    if payload.kind != "json":
        return None, None
    value = payload.value
    if isinstance(value, bool):
        return None, json.dumps(value)
    if isinstance(value, (int, float)):
        return int(round(value)), None
    return None, json.dumps(value, separators=(",", ":"), ensure_ascii=False)[:120]


def build_row(queue: str, job_id: str, state: JobState, reply: Any, score: float | None = None) -> JobRow:
    """A row from an HMGET of :data:`ROW_FIELDS` (or the error it raised)."""
    if is_error(reply):
        return JobRow(id=job_id, queue=queue, state=state, backend=Backend.BULLMQ, problem="job key is not a hash (a foreign or damaged key)")
    fields = dict(zip(ROW_FIELDS, reply, strict=True))
    return row_from_fields(queue, job_id, state, fields, score)


def row_from_fields(
    queue: str, job_id: str, state: JobState, fields: dict[str, bytes | None], score: float | None = None
) -> JobRow:
    if all(v is None for v in fields.values()):
        return JobRow(id=job_id, queue=queue, state=state, backend=Backend.BULLMQ, problem="job hash is missing (removed or expired)")
    problems: list[str] = []
    name = decoding.text(fields.get("name"))
    if name is None:
        problems.append("no job name" if fields.get("name") is None else "job name is not UTF-8")
    data = parse_json(fields.get("data"), ROW_DATA_LIMIT)
    topic = None
    if data.kind == "json" and isinstance(data.value, dict):
        topic = data.value.get("topic") if isinstance(data.value.get("topic"), str) else None
    elif data.kind == "missing":
        problems.append("no data")
    elif data.kind == "text" and data.value is not None:
        problems.append("data is not JSON")
    elif data.kind == "binary":
        problems.append("data is not UTF-8")
    opts = parse_json(fields.get("opts"), ROW_DATA_LIMIT)
    attempts_allowed = None
    if opts.kind == "json" and isinstance(opts.value, dict):
        attempts_allowed = _int(str(opts.value.get("attempts", 1)).encode())
    elif opts.kind == "text":
        problems.append("opts are not JSON")
    made = _int(fields.get("atm"))
    if made is None:
        made = _int(fields.get("attemptsMade"))
    if made is None and fields.get("atm") is None and fields.get("attemptsMade") is None:
        made = 0  # BullMQ writes the count when an attempt ends: none has ended yet
    progress, stage = progress_of(fields.get("progress"))
    started, ended = ms_time(fields.get("processedOn")), ms_time(fields.get("finishedOn"))
    status = state.value
    scheduled_for = None
    if state is JobState.SCHEDULED:
        scheduled_for = delayed_run_at(score) if score is not None else None
        status = RETRY_BACKOFF if (made or 0) > 0 else REQUESTED_DELAY
    error = failed_reason(fields.get("failedReason")) or None
    if error is None and fields.get("failedReason"):
        problems.append("failed reason is not UTF-8")
    return JobRow(
        id=job_id,
        queue=queue,
        state=state,
        backend=Backend.BULLMQ,
        description=name or "",
        topic=topic,
        progress=progress,
        stage=stage,
        attempts_used=made,
        retries_left=max(0, attempts_allowed - (made or 0)) if attempts_allowed is not None else None,
        enqueued_at=ms_time(fields.get("timestamp")),
        started_at=started,
        ended_at=ended,
        duration_s=round(ended - started, 3) if started is not None and ended is not None and ended >= started else None,
        worker=decoding.text(fields.get("pb")) or None,
        error_line=error.splitlines()[0] if error else None,
        problem="; ".join(problems) or None,
        scheduled_for=scheduled_for,
        status=status,
    )


def failed_reason(raw: bytes | None) -> str | None:
    """A job's ``failedReason`` as text. The Python package stores it JSON-encoded (``"boom"``, quotes
    and escapes included), Node as it is: a value that is exactly one JSON string is shown decoded."""
    reason = decoding.text(raw)
    if reason and len(reason) >= 2 and reason[0] == reason[-1] == '"':
        try:
            decoded = json.loads(reason)
        except ValueError:
            return reason
        if isinstance(decoded, str):
            return decoded
    return reason
