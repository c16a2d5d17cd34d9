"""Reading BullMQ queues with pipelined raw commands on its key layout; nothing is written.

BullMQ's own ``getJobs`` raises for a whole page when one job's data is bad and leaves ``paused`` out
of counts, so the console reads the keys itself: counts of every queue in one round trip, a page in
two at any offset (:mod:`~thesis_console.core.bullmq.paging`), a job's detail in one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.backend import Backend
from thesis_console.core.bullmq import metrics
from thesis_console.core.bullmq.jobs import (
    ROW_FIELDS,
    build_row,
    failed_reason,
    ms_time,
    parse_json,
    progress_of,
    row_from_fields,
)
from thesis_console.core.bullmq.keys import STATE_SOURCES, SUPPORTED_MAJOR, BullKeys, Kind
from thesis_console.core.bullmq.paging import read_page
from thesis_console.core.bullmq.position import read_position
from thesis_console.core.paging import MAX_PAGE, as_state, check_job_id, check_page_args, check_queue
from thesis_console.core.round_trips import RoundTrips, is_error, reply_int
from thesis_console.core.types import (
    STATE_ORDER,
    CoreError,
    JobDetail,
    JobPage,
    JobRow,
    JobState,
    MetricSeries,
    Payload,
    QueueCounts,
    TimelineEvent,
)

log = logging.getLogger(__name__)

EVENTS_READ = 10_000
"""Newest entries of the events stream read for a timeline (BullMQ keeps about 10,000 by default)."""
LOGS_READ = 1000
SCAN_COUNT = 50_000
"""Keys a discovery SCAN step visits: about 5 ms of Redis time each, 20 round trips per million keys."""


async def find_queues(trips: RoundTrips, prefix: str, listed: Sequence[str] | None = None) -> list[str]:
    """Names of the BullMQ queues under ``prefix``: those with a ``meta`` or ``id`` key.

    With ``listed`` names, one round trip checks just those; otherwise a SCAN walks the key space
    (its cost grows with the number of keys, so callers cache the answer).
    """
    if listed is not None:
        names = list(listed)

        def fill(pipe: Any) -> None:
            for name in names:
                pipe.exists(BullKeys(prefix, name).of("meta"), BullKeys(prefix, name).of("id"))

        replies = await trips.run(fill)
        return [name for name, reply in zip(names, replies, strict=True) if reply_int(reply) > 0]
    found: set[str] = set()
    head = f"{prefix}:"
    # One walk for both suffixes: ``:me…`` and ``:id…`` (the few ``:metrics:…`` keys it also returns
    # are dropped below), with a large COUNT, so a million keys take tens of round trips, not thousands.
    pattern = f"{_glob_escape(prefix)}:*:[mi][ed]*"
    cursor: Any = 0
    while True:

        def fill_scan(pipe: Any, at: Any = cursor) -> None:
            pipe.scan(at, match=pattern, count=SCAN_COUNT)

        (reply,) = await trips.run(fill_scan)
        if is_error(reply):
            raise CoreError(f"scanning for BullMQ queues failed: {reply}")
        cursor, keys = reply
        for raw in keys:
            key = decoding.text(raw)
            if key is None or not key.startswith(head):
                continue
            for suffix in (":meta", ":id"):
                if key.endswith(suffix):
                    name = key[len(head) : -len(suffix)]
                    if name and ":" not in name:
                        found.add(name)
        if int(cursor) == 0:
            break
    return sorted(found)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def fill_counts(pipe: Any, prefix: str, queues: Sequence[str]) -> None:
    """Queue the counts of ``queues`` (10 commands each) for :func:`parse_counts`."""
    for name in queues:
        keys = BullKeys(prefix, name)
        for state in STATE_ORDER:
            for source in STATE_SOURCES[state]:
                (pipe.llen if source.kind is Kind.LIST else pipe.zcard)(keys.of(source.name))
        pipe.hmget(keys.of("meta"), ["version", "paused"])


def counts_per_queue() -> int:
    return sum(len(STATE_SOURCES[s]) for s in STATE_ORDER) + 1


def parse_counts(prefix: str, queues: Sequence[str], replies: list[Any]) -> tuple[QueueCounts, ...]:
    it = iter(replies)
    out = []
    for name in queues:
        keys = BullKeys(prefix, name)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for state in STATE_ORDER:
            total = 0
            for source in STATE_SOURCES[state]:
                reply = next(it)
                if is_error(reply):
                    problems.append(f"{keys.of(source.name)} is not a {source.kind.value}")
                total += reply_int(reply)
            values[state.value] = total
        meta = next(it)
        if is_error(meta):
            problems.append(f"{keys.of('meta')} is not a hash")
        else:
            values["paused"] = meta[1] is not None  # BullMQ's own pause: workers take no job
            problem = version_problem(decoding.text(meta[0]))
            if problem:
                problems.append(problem)
        out.append(QueueCounts(name=name, backend=Backend.BULLMQ, problem="; ".join(problems) or None, **values))
    return tuple(out)


def version_problem(version: str | None) -> str | None:
    """Why a queue written by another BullMQ major version is not safe to change, or None."""
    if not version or not version.startswith("bullmq:"):
        return None
    major = version[len("bullmq:") :].split(".")[0]
    if major != str(SUPPORTED_MAJOR):
        return f"written by {version}; the console's scripts match BullMQ {SUPPORTED_MAJOR}, so it is read-only"
    return None


class BullReader:
    """Reads the BullMQ queues under one prefix."""

    def __init__(self, trips: RoundTrips, prefix: str) -> None:
        self.trips = trips
        self.prefix = prefix

    async def page(self, queue: str, state: JobState, offset: int, limit: int, reverse: bool = False) -> JobPage:
        check_queue(queue)
        check_page_args(offset, limit)
        return await read_page(self.trips, self.prefix, queue, as_state(state), offset, limit, reverse)

    async def position(self, queue: str, state: JobState, job_id: str, reverse: bool = False) -> int | None:
        """The 0-based row of ``job_id`` in ``state`` as :meth:`page` orders it, None when it is not there:
        one round trip (:mod:`~thesis_console.core.bullmq.position`)."""
        check_queue(queue)
        check_job_id(job_id)
        return await read_position(self.trips, self.prefix, queue, as_state(state), job_id, reverse)

    async def find(self, queue: str, job_id: str) -> bool:
        keys = BullKeys(self.prefix, queue)
        (exists,) = await self.trips.run(lambda pipe: pipe.exists(keys.job(job_id)))
        return reply_int(exists) > 0

    async def detail(self, queue: str, job_id: str) -> JobDetail:
        keys = BullKeys(self.prefix, queue)
        zsets = [(s, src) for s in STATE_ORDER for src in STATE_SOURCES[s] if src.kind is Kind.ZSET]
        lists = [(s, src) for s in STATE_ORDER for src in STATE_SOURCES[s] if src.kind is Kind.LIST]

        def fill(pipe: Any) -> None:
            pipe.hgetall(keys.job(job_id))
            pipe.lrange(keys.logs(job_id), 0, LOGS_READ - 1)
            pipe.xrevrange(keys.of("events"), "+", "-", count=EVENTS_READ)
            for _, src in zsets:
                pipe.zscore(keys.of(src.name), job_id)
            for _, src in lists:
                pipe.lpos(keys.of(src.name), job_id)

        replies = await self.trips.run(fill)
        fields_reply, logs_reply, events_reply = replies[:3]
        positions = replies[3:]
        state, score = None, None
        for (s, _), reply in zip(zsets + lists, positions, strict=True):
            if reply is not None and not is_error(reply):
                state = s
                if (s, _) in zsets:
                    score = float(reply)
                break
        if is_error(fields_reply):
            row = JobRow(id=job_id, queue=queue, state=state or JobState.WAITING, backend=Backend.BULLMQ,
                         problem="job key is not a hash (a foreign or damaged key)")
            return JobDetail(row, None, Payload("error"), Payload("missing"), Payload("missing"), Payload("missing"),
                             None, (), {}, logs=())
        fields: dict[str, bytes] = {decoding.text(k) or repr(k): v for k, v in (fields_reply or {}).items()}
        if not fields and state is None:
            raise CoreError(f"job {job_id} not found in BullMQ queue {queue}")
        row_fields = {f: fields.get(f) for f in ROW_FIELDS}
        row = row_from_fields(queue, job_id, state or JobState.WAITING, row_fields, score)
        if state is None:
            row = _with(row, problem="; ".join(filter(None, [row.problem, "in no state list (orphaned)"])))
        stack = parse_json(fields.get("stacktrace"))
        traceback = None
        if stack.kind == "json" and isinstance(stack.value, list):
            traceback = "\n\n".join(f"attempt {n}:\n{entry}" for n, entry in enumerate(stack.value, 1)) or None
        elif stack.kind == "text":
            traceback = str(stack.value)
        reason = failed_reason(fields.get("failedReason"))
        if reason and not traceback:
            traceback = reason
        logs = tuple(decoding.text(x) or decoding.shorten(x) for x in ([] if is_error(logs_reply) else logs_reply or []))
        return JobDetail(
            row=row,
            function=decoding.text(fields.get("name")),
            args=parse_json(fields.get("data")),
            kwargs=Payload("missing", note="BullMQ jobs have one data value"),
            meta=parse_json(fields.get("opts")),
            result=parse_json(fields.get("returnvalue")),
            traceback=traceback,
            timeline=_timeline(job_id, [] if is_error(events_reply) else events_reply or []),
            raw_fields={name: decoding.shorten(value) for name, value in sorted(fields.items())},
            logs=logs,
        )

    async def search(
        self, queue: str, state: JobState, text: str, *, batch_size: int, scan_chunk: int = MAX_PAGE
    ) -> AsyncIterator[list[JobRow]]:
        """Matching rows as RQ's search finds them: the exact id first (one round trip), then, walking the
        state page by page, a case-insensitive prefix of the id or a substring of the job name, topic,
        error or problem; the matches of each page are yielded at once, at most ``batch_size`` at a time."""
        needle = text.strip()
        seen: set[str] = set()
        exact = await self._exact(queue, state, needle)
        if exact is not None:
            seen.add(exact.id)
            yield [exact]
        folded = needle.casefold()
        offset = 0
        while True:
            page = await self.page(queue, state, offset, min(scan_chunk, MAX_PAGE))
            matched = [row for row in page.rows if row.id not in seen and _matches(row, folded)]
            seen.update(row.id for row in matched)
            for lo in range(0, len(matched), batch_size):
                yield matched[lo : lo + batch_size]
            offset += len(page.rows)
            if not page.rows or offset >= page.total:
                break

    async def _exact(self, queue: str, state: JobState, job_id: str) -> JobRow | None:
        """The row of ``job_id`` when it is in ``state``: membership (LPOS, ZSCORE) and row in one round trip."""
        keys = BullKeys(self.prefix, queue)
        sources = STATE_SOURCES[state]

        def fill(pipe: Any) -> None:
            for source in sources:
                (pipe.lpos if source.kind is Kind.LIST else pipe.zscore)(keys.of(source.name), job_id)
            pipe.hmget(keys.job(job_id), ROW_FIELDS)

        if not sources:
            return None
        *found, fields = await self.trips.run(fill)
        for source, reply in zip(sources, found, strict=True):
            if reply is not None and not is_error(reply):
                return build_row(queue, job_id, state, fields, float(reply) if source.kind is Kind.ZSET else None)
        return None

    async def metric_series(self, queue: str, range_s: int, now: float | None = None) -> MetricSeries:
        """Throughput, success rate, run time and depth per bucket (:mod:`thesis_console.core.bullmq.metrics`)."""
        return await metrics.read_series(self.trips, self.prefix, queue, range_s, now)


def _matches(row: JobRow, folded: str) -> bool:
    if row.id.casefold().startswith(folded):
        return True
    return any(folded in text.casefold() for text in (row.description, row.topic, row.error_line, row.problem) if text)


def _timeline(job_id: str, entries: list[Any]) -> tuple[TimelineEvent, ...]:
    events = []
    wanted = job_id.encode()
    for entry_id, fields in reversed(entries):
        if fields.get(b"jobId") != wanted:
            continue
        at = int(entry_id.split(b"-")[0]) / 1000.0
        event = decoding.text(fields.get(b"event")) or "?"
        if event in ("completed", "failed"):
            detail = failed_reason(fields.get(b"failedReason")) or ""
            events.append(TimelineEvent(at=at, what="ended", outcome=event, detail=detail))
        elif event == "active":
            events.append(TimelineEvent(at=at, what="attempt", outcome="running"))
        elif event == "delayed":
            events.append(TimelineEvent(at=at, what="scheduled", detail=f"runs at {ms_time(fields.get(b'delay')) or '?'}"))
        elif event == "progress":
            progress, stage = progress_of(fields.get(b"data"))
            events.append(TimelineEvent(at=at, what="progress", detail=f"{progress}%" if progress is not None else stage or ""))
        else:
            events.append(TimelineEvent(at=at, what=event))
    return tuple(events)


def _with(row: JobRow, **changes: Any) -> JobRow:
    from dataclasses import replace

    return replace(row, **changes)
