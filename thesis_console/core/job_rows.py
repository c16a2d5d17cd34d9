"""One job table row from the few job-hash fields a row needs, whatever state the hash is in.

A page asks Redis for :data:`ROW_FIELDS` of each job (HMGET) and, for failed jobs, the latest
entry of its results stream. :func:`build_row` turns those replies into a :class:`JobRow`. A job
hash that is missing, foreign, half written or not UTF-8 still gives a row: ``problem`` says what
is wrong, and the fields that could be read are filled in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from thesis_console.core import contract, decoding, job_allowlist
from thesis_console.core.rq_keys import STATUS_TO_STATE, job_key_text
from thesis_console.core.types import JobRow, JobState

log = logging.getLogger(__name__)

ROW_FIELDS: tuple[str, ...] = (
    "status",
    "description",
    "meta",
    "origin",
    "created_at",
    "enqueued_at",
    "started_at",
    "ended_at",
    "worker_name",
    "retries_left",
    "number_of_retries",
    "data",
    *job_allowlist.CALLBACK_FIELDS,
)
"""The job-hash fields a row is built from (of ``data`` only the head is decoded, for the function)."""
FAILED_ROW_FIELDS: tuple[str, ...] = (*ROW_FIELDS, "exc_info")
"""Failed rows also read ``exc_info``, where RQ before 1.12 kept the traceback."""
REQUIRED_FIELDS: tuple[str, ...] = ("origin", "created_at")
"""Fields every RQ version writes when it creates a job: a hash without them was never finished."""

ATTEMPTS_KEY = "attempts"
"""``meta`` key where ``worker_runner.worker`` records each attempt (start, end, outcome, worker)."""
TOPIC_KEY = "topic"

RESULT_SUCCESSFUL, RESULT_FAILED, RESULT_STOPPED, RESULT_RETRIED, RESULT_MAX_RETRIES = 1, 2, 3, 4, 5
"""``rq.results.Result.Type`` values."""


def row_fields(state: JobState) -> tuple[str, ...]:
    return FAILED_ROW_FIELDS if state is JobState.FAILED else ROW_FIELDS


@dataclass(frozen=True)
class ResultEntry:
    """One entry of a job's ``rq:results:{id}`` stream, decoded enough for rows and timelines."""

    created_at: float | None
    type: int | None
    worker: str | None
    exc_string: str | None
    return_value: bytes | None
    """The serialized return value (base64 already removed), or None."""
    execution_id: str | None
    started_at: float | None
    ended_at: float | None

    @property
    def outcome(self) -> str:
        return {
            RESULT_SUCCESSFUL: "completed",
            RESULT_FAILED: "failed",
            RESULT_STOPPED: "stopped",
            RESULT_RETRIED: "retried",
            RESULT_MAX_RETRIES: "failed",
        }.get(self.type or 0, "unknown")


def parse_result_entry(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> ResultEntry:
    """A results-stream entry (id ``{ms}-{seq}`` and its fields); bad fields become None."""
    eid = decoding.text(entry_id) or ""
    try:
        created = int(eid.split("-")[0]) / 1000
    except ValueError:
        created = None
    get = {decoding.text(k) or "": v for k, v in fields.items()}.get
    try:
        kind = int(get("type") or b"")
    except ValueError:
        kind = None
    raw_value = get("return_value")
    return ResultEntry(
        created_at=created,
        type=kind,
        worker=decoding.text(get("worker_name")) or None,
        exc_string=decoding.exc_from_result(get("exc_string")),
        return_value=decoding.b64_decode(raw_value) if raw_value is not None else None,
        execution_id=decoding.text(get("execution_id")) or None,
        started_at=_time_or_none(get("execution_started_at")),
        ended_at=_time_or_none(get("execution_ended_at")),
    )


def latest_result(reply: Any) -> ResultEntry | None:
    """The entry of an ``XREVRANGE ... COUNT 1`` reply, or None (no stream, or not a stream)."""
    if isinstance(reply, Exception) or not reply:
        return None
    try:
        entry_id, fields = reply[0]
        return parse_result_entry(entry_id, fields)
    except (TypeError, ValueError):
        return None


def error_line(result: ResultEntry | None, exc_info: bytes | None) -> str | None:
    """The last line of the latest error: RQ 3's results stream first, the old ``exc_info`` field second."""
    if result is not None:
        if result.exc_string:
            return decoding.last_line(result.exc_string)
        if result.type == RESULT_MAX_RETRIES:
            return "maximum number of retries exceeded"
    return decoding.last_line(decoding.exc_from_hash(exc_info))


def build_row(
    job_id: str,
    queue: str,
    state: JobState | None,
    fields: Mapping[str, bytes | None] | Exception,
    *,
    result: ResultEntry | None = None,
    score: float | None = None,
    trust_pickle: bool = False,
) -> JobRow:
    """A table row for ``job_id``.

    Args:
        job_id: the job's id.
        queue: the queue whose page shows it (the hash's ``origin`` when ``queue`` is empty).
        state: the state whose page shows it; None derives it from the ``status`` field.
        fields: field name to raw value (None when absent), or the error Redis gave for the key.
        result: the latest results-stream entry, for the error line.
        score: the job's score in its sorted set (the scheduled time for scheduled jobs).
        trust_pickle: decode pickled meta (for progress); never otherwise.
    """
    if isinstance(fields, Exception):
        return JobRow(
            id=job_id,
            queue=queue,
            state=state or JobState.WAITING,
            problem=_wrong_type(job_id, fields),
            scheduled_for=score if state is JobState.SCHEDULED else None,
        )
    problems: list[str] = []
    try:
        job_id.encode("utf-8")
    except UnicodeEncodeError:  # an id that is not UTF-8: show it with \\x escapes and say so
        job_id = job_id.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        problems.append("job id is not UTF-8")
    if all(v is None for v in fields.values()):
        return JobRow(
            id=job_id,
            queue=queue,
            state=state or JobState.WAITING,
            problem="; ".join([*problems, "job hash missing"]),
            scheduled_for=score if state is JobState.SCHEDULED else None,
        )

    def field_text(name: str) -> str | None:
        raw = fields.get(name)
        value = decoding.text(raw)
        if raw is not None and value is None:
            problems.append(f"not UTF-8 in field {name}")
        return value

    def field_time(name: str) -> float | None:
        try:
            return decoding.parse_time(fields.get(name))
        except ValueError:
            problems.append(f"not a time in field {name}")
            return None

    def field_int(name: str) -> int | None:
        value = field_text(name)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            problems.append(f"not a whole number in field {name}")
            return None

    status = field_text("status")
    if status is None and fields.get("status") is None:
        problems.append("status field missing")
    elif status is not None and status not in STATUS_TO_STATE:
        problems.append(f"unknown status {status!r}")
    if state is None:
        state = STATUS_TO_STATE.get(status or "", JobState.WAITING)
    missing = [name for name in REQUIRED_FIELDS if name in fields and fields.get(name) is None]
    if missing:
        problems.append(f"half-written hash: {', '.join(missing)} missing")
    origin = field_text("origin")
    description = field_text("description") or ""
    if "meta" in fields:
        _payload, meta, meta_problem = decoding.decode_meta(fields.get("meta"), trust_pickle)
        if meta_problem:
            problems.append(meta_problem)
    else:
        meta = {}
    if "data" in fields:
        head = decoding.call_head(fields.get("data"))
        if head is not None:  # flagged when a thesis worker would refuse the job
            callbacks = {kind: name for kind in job_allowlist.CALLBACK_KINDS if (name := field_text(kind.value))}
            refusal = job_allowlist.for_console().refusal(head.function, head.has_instance, callbacks)
            if refusal:
                problems.append(refusal)
    progress, stage = contract.progress_of(meta)
    topic = meta.get(TOPIC_KEY) if isinstance(meta.get(TOPIC_KEY), str) else None
    started = field_time("started_at")
    ended = field_time("ended_at")
    enqueued = field_time("enqueued_at") or field_time("created_at")
    retries_left = field_int("retries_left")
    retries_done = field_int("number_of_retries")
    attempts = meta.get(ATTEMPTS_KEY)
    if isinstance(attempts, list):
        used: int | None = len(attempts) + (1 if state is JobState.ACTIVE else 0)
    elif started is not None:
        used = 1 + (retries_done or 0)  # a foreign job: at least the attempt that left started_at
    elif state in (JobState.WAITING, JobState.SCHEDULED, JobState.DEFERRED):
        used = 0
    else:
        used = None
    duration = None
    if started is not None and ended is not None and ended >= started and state is not JobState.ACTIVE:
        duration = ended - started
    worker = field_text("worker_name") or None
    error = error_line(result, fields.get("exc_info")) if state is JobState.FAILED else None
    return JobRow(
        id=job_id,
        queue=queue or origin or "",
        state=state,
        description=description,
        topic=topic,
        progress=progress,
        stage=stage,
        attempts_used=used,
        retries_left=retries_left,
        enqueued_at=enqueued,
        started_at=started,
        ended_at=ended,
        duration_s=duration,
        worker=worker,
        error_line=error,
        problem="; ".join(problems) or None,
        scheduled_for=score if state is JobState.SCHEDULED else None,
        status=status,
    )


def fields_from_hmget(names: Sequence[str], reply: Any) -> dict[str, bytes | None] | Exception:
    """An HMGET reply zipped with the field names, or the error Redis gave instead."""
    if isinstance(reply, Exception):
        return reply
    return dict(zip(names, reply, strict=False))


def _wrong_type(job_id: str, exc: Exception) -> str:
    if "WRONGTYPE" in str(exc):
        return f"{job_key_text(job_id)} is not a hash (a foreign or damaged key)"
    log.warning("reading job %s failed: %s", job_id, exc)
    return f"could not read {job_key_text(job_id)}: {exc}"


def _time_or_none(raw: bytes | None) -> float | None:
    try:
        return decoding.parse_time(raw)
    except ValueError:
        return None
