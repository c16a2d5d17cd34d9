"""Everything about one job: its call, meta, result, whole traceback, raw fields and a timeline.

Round trip 1 reads the job hash (with its Redis type, so a foreign key is named rather than
misread), its results stream (RQ 3 keeps the newest 10) and its running executions. Round trip 2
reads the job's score in each registry of its queue (the scheduled time, and the state when the
``status`` field is missing) and the running executions' hashes.

The timeline prefers ``meta['attempts']``, which ``worker_runner.worker`` writes for every attempt
(start, end, outcome, worker, and for a run that an infrastructure fault interrupted, the fault and
its reason); it falls back to RQ 3's results stream, then to the job hash's own
``started_at``/``ended_at``, so jobs from other producers still get a sensible timeline.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.job_rows import (
    ATTEMPTS_KEY,
    RESULT_SUCCESSFUL,
    ResultEntry,
    build_row,
    parse_result_entry,
)
from thesis_console.core.round_trips import RoundTrips, is_error
from thesis_console.core.rq_keys import (
    STATUS_TO_STATE,
    execution_key,
    executions_key,
    job_key,
    job_key_text,
    results_key,
    state_source,
)
from thesis_console.core.types import CoreError, JobDetail, JobRow, JobState, Payload, TimelineEvent

_REGISTRY_STATES = (JobState.SCHEDULED, JobState.DEFERRED, JobState.COMPLETED, JobState.FAILED, JobState.CANCELED)
_MAX_ID = 512


async def read_detail(trips: RoundTrips, job_id: str, trust_pickle: bool = False) -> JobDetail:
    """The detail view of ``job_id``.

    Raises:
        CoreError: ``job {id} not found`` when no key ``rq:job:{id}`` exists; or Redis failed.
    """
    if not isinstance(job_id, str) or not job_id.strip() or len(job_id) > _MAX_ID:
        raise CoreError(f"job id must be 1 to {_MAX_ID} characters, got {job_id!r}")
    key = job_key(job_id)

    def fill_job(pipe: Any) -> None:
        pipe.type(key)
        pipe.hgetall(key)
        pipe.xrevrange(results_key(job_id), "+", "-")
        pipe.zrange(executions_key(job_id), 0, -1)

    key_type, raw_hash, raw_results, raw_executions = await trips.run(fill_job)
    kind = decoding.text(key_type) if not is_error(key_type) else None
    if kind == "none":
        raise CoreError(f"job {job_id} not found")
    if kind != "hash" or is_error(raw_hash):
        row = JobRow(id=job_id, queue="", state=JobState.WAITING, problem=f"{job_key_text(job_id)} is a {kind}, not a job hash")
        missing = Payload("missing")
        return JobDetail(row, None, missing, missing, missing, missing, None, (), {"(Redis type)": str(kind)})

    fields: dict[str, bytes] = {(decoding.text(k) or repr(k)): v for k, v in raw_hash.items()}
    results = _results(raw_results)
    execution_ids = [] if is_error(raw_executions) else [decoding.text(x) or "" for x in raw_executions or ()]
    origin = decoding.text(fields.get("origin")) or ""

    def fill_places(pipe: Any) -> None:
        for state in _REGISTRY_STATES:
            pipe.zscore(state_source(origin, state).key, job_id)
        for execution in execution_ids:
            pipe.hgetall(execution_key(job_id, execution))

    places = await trips.run(fill_places) if origin else []
    scores = {state: _score(r) for state, r in zip(_REGISTRY_STATES, places, strict=False)}
    executions = [r for r in places[len(_REGISTRY_STATES) :] if isinstance(r, dict) and r]

    state = _state(fields, scores, bool(execution_ids))
    latest = results[0] if results else None
    row = build_row(
        job_id,
        origin,
        state,
        {name: fields.get(name) for name in (*fields.keys(), "status", "meta")},
        result=latest,
        score=scores.get(JobState.SCHEDULED),
        trust_pickle=trust_pickle,
    )
    data = decoding.decode_job_data(fields.get("data"), trust_pickle)
    meta_payload, meta, _ = decoding.decode_meta(fields.get("meta"), trust_pickle)
    traceback = _traceback(results, fields)
    if data.problem:
        row = _with_problem(row, data.problem)
    if state is not JobState.FAILED and traceback and row.error_line is None:
        row = _replace(row, error_line=decoding.last_line(traceback))
    return JobDetail(
        row=row,
        function=data.function,
        args=data.args,
        kwargs=data.kwargs,
        meta=meta_payload,
        result=_result(results, fields, trust_pickle),
        traceback=traceback,
        timeline=_timeline(row, fields, meta, results, executions, scores.get(JobState.SCHEDULED)),
        raw_fields={name: decoding.shorten(value) for name, value in sorted(fields.items())},
        listed_in=tuple(state for state, score in scores.items() if score is not None),
    )


def _results(reply: Any) -> list[ResultEntry]:
    if is_error(reply) or not reply:
        return []
    entries = []
    for entry_id, entry_fields in reply:
        try:
            entries.append(parse_result_entry(entry_id, entry_fields))
        except (TypeError, ValueError):
            continue
    return entries  # newest first (XREVRANGE)


def _score(reply: Any) -> float | None:
    if reply is None or is_error(reply):
        return None
    try:
        return float(reply)
    except (TypeError, ValueError):
        return None


def _state(fields: dict[str, bytes], scores: dict[JobState, float | None], running: bool) -> JobState:
    """The state from the ``status`` field; when it is missing or foreign, from where the job is found."""
    status = decoding.text(fields.get("status"))
    if status in STATUS_TO_STATE:
        return STATUS_TO_STATE[status]
    if running:
        return JobState.ACTIVE
    for state, score in scores.items():
        if score is not None:
            return state
    return JobState.WAITING  # in the queue list or nowhere; finding out would cost an O(N) LPOS


def _traceback(results: list[ResultEntry], fields: dict[str, bytes]) -> str | None:
    for entry in results:
        if entry.exc_string:
            return entry.exc_string
    return decoding.exc_from_hash(fields.get("exc_info"))


def _result(results: list[ResultEntry], fields: dict[str, bytes], trust_pickle: bool) -> Payload:
    for entry in results:
        if entry.type == RESULT_SUCCESSFUL:
            if entry.return_value is None:
                return Payload("json", value=None, note="the job returned nothing")
            return decoding.decode_serialized(entry.return_value, trust_pickle)
    if fields.get("result") is not None:  # RQ before 1.12 kept the return value in the hash
        return decoding.decode_serialized(fields["result"], trust_pickle)
    return Payload("missing")


FAULT_TEXT = {
    "worker_killed": "worker or work horse killed",
    "connection_lost": "Redis connection lost",
    "stopped": "stopped by a shutdown",
}
"""How the timeline names the ``fault`` of an interrupted attempt."""


def _attempt_detail(attempt: dict[str, Any], outcome: str, errors: list[ResultEntry], end: float | None) -> str:
    reason = attempt.get("reason")
    reason = reason if isinstance(reason, str) else ""
    if outcome == "interrupted":
        label = FAULT_TEXT.get(str(attempt.get("fault")), "infrastructure fault")
        return f"interrupted ({label}; no retry used)" + (f": {reason}" if reason else "")
    if outcome in ("failed", "stopped"):
        match = _nearest(errors, end)
        return (decoding.last_line(match.exc_string) or "" if match else "") or reason
    return ""


def _timeline(
    row: JobRow,
    fields: dict[str, bytes],
    meta: dict[str, Any],
    results: list[ResultEntry],
    executions: list[dict[bytes, bytes]],
    scheduled_for: float | None,
) -> tuple[TimelineEvent, ...]:
    events: list[TimelineEvent] = []
    created = _time(fields.get("created_at"))
    enqueued = _time(fields.get("enqueued_at"))
    if created is not None and (enqueued is None or abs(enqueued - created) > 1.0):
        events.append(TimelineEvent(at=created, what="created"))
    if enqueued is not None:
        events.append(TimelineEvent(at=enqueued, what="enqueued"))
    attempts = meta.get(ATTEMPTS_KEY)
    oldest_first = list(reversed(results))
    if isinstance(attempts, list) and attempts:
        errors = [r for r in oldest_first if r.exc_string]
        for number, attempt in enumerate(a for a in attempts if isinstance(a, dict)):
            end = _num(attempt.get("ended_at"))
            outcome = str(attempt.get("outcome") or "")
            detail = _attempt_detail(attempt, outcome, errors, end)
            events.append(
                TimelineEvent(
                    at=_num(attempt.get("started_at")),
                    what="attempt",
                    outcome=outcome,
                    ended_at=end,
                    worker=str(attempt["worker"]) if attempt.get("worker") else None,
                    detail=detail or f"attempt {number + 1}",
                )
            )
    elif oldest_first:
        for number, entry in enumerate(oldest_first):
            events.append(
                TimelineEvent(
                    at=entry.started_at,
                    what="attempt",
                    outcome=entry.outcome,
                    ended_at=entry.ended_at or entry.created_at,
                    worker=entry.worker,
                    detail=decoding.last_line(entry.exc_string) or f"attempt {number + 1}",
                )
            )
    elif row.started_at is not None and row.state is not JobState.ACTIVE:
        events.append(
            TimelineEvent(
                at=row.started_at,
                what="attempt",
                outcome=_outcome_of(row),
                ended_at=row.ended_at,
                worker=row.worker,
                detail=row.error_line or "",
            )
        )
    if row.state is JobState.ACTIVE:
        started = row.started_at
        worker = row.worker
        for execution in executions:
            started = _time(execution.get(b"created_at")) or started
            worker = decoding.text(execution.get(b"worker_name")) or worker
        events.append(TimelineEvent(at=started, what="attempt", outcome="running", worker=worker))
    if row.state is JobState.SCHEDULED and scheduled_for is not None:
        retrying = any(e.what == "attempt" for e in events)
        events.append(
            TimelineEvent(at=scheduled_for, what="scheduled", detail="retry after back-off" if retrying else "run at")
        )
    if row.state is JobState.CANCELED:
        events.append(TimelineEvent(at=row.ended_at, what="canceled", outcome="canceled"))
    return tuple(events)


def _outcome_of(row: JobRow) -> str:
    if row.state is JobState.COMPLETED:
        return "completed"
    if row.state is JobState.FAILED:
        return row.status if row.status == "stopped" else "failed"
    if row.state is JobState.CANCELED:
        return "canceled"
    return "retried"


def _nearest(entries: list[ResultEntry], when: float | None) -> ResultEntry | None:
    if not entries:
        return None
    if when is None:
        return entries[-1]
    best = min(entries, key=lambda e: abs((e.ended_at or e.created_at or 0.0) - when))
    return best if abs((best.ended_at or best.created_at or 0.0) - when) < 5.0 else None


def _time(raw: bytes | None) -> float | None:
    try:
        return decoding.parse_time(raw)
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _with_problem(row: JobRow, problem: str) -> JobRow:
    return _replace(row, problem=f"{row.problem}; {problem}" if row.problem else problem)


def _replace(row: JobRow, **changes: Any) -> JobRow:
    return replace(row, **changes)
