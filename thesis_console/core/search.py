"""Search one state of one queue by job id (exact or prefix) or by text, streaming the matches.

An exact id is looked up first with one command (LPOS on the waiting list, ZSCORE on a registry,
the job's status for active jobs) in the same round trip as its row, so it shows at once. Then the
state is walked in windows of ``scan_chunk`` ids by rank. For each window, the fields a match can
be in (description, meta, and for failed jobs the error) are read in one pipeline, together with
the ids of the next window, so a walk of N ids costs about N / scan_chunk round trips and never
holds more than one window in memory; whole rows are then read for the matches only. Matching is done here in Python:
a case-insensitive prefix of the id, or a substring of the description, the topic (``meta``) or,
for failed jobs, the error. Matches are yielded in batches of at most ``batch_size`` rows, at the
latest after each window, so a front end can show them as they come and stop whenever it likes.

Jobs that move while the walk runs (workers take waiting jobs) can shift the windows: a job may be
missed or seen twice; an id already yielded is not yielded again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.job_rows import TOPIC_KEY, build_row, fields_from_hmget, latest_result, row_fields
from thesis_console.core.paging import (
    as_state,
    check_queue,
    fill_id_range,
    fill_rows,
    parse_id_range,
    parse_rows,
)
from thesis_console.core.round_trips import RoundTrips, is_error
from thesis_console.core.rq_keys import job_key, results_key, state_source
from thesis_console.core.types import CoreError, JobRow, JobState

log = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_CHUNK = 20_000
MAX_TEXT = 300
SEARCH_FIELDS: tuple[str, ...] = ("description", "meta")
"""The fields a walk reads for every job; whole rows are read for matches only."""
SEARCH_FIELDS_FAILED: tuple[str, ...] = (*SEARCH_FIELDS, "exc_info")


class _Matcher:
    """Decides from a job's raw fields whether it matches, decoding as little as possible."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.lower()
        # JSON escapes only quotes, backslashes, control and non-ASCII characters, so a plain ASCII
        # needle that is in a topic is also, verbatim, in the raw meta bytes: the cheap test
        # skips decoding the meta of every job that cannot match.
        plain = needle.isascii() and needle.isprintable() and '"' not in needle and "\\" not in needle
        self.raw_needle = self.needle.encode() if plain else None

    def matches(self, job_id: str, fields: dict[str, bytes | None] | Exception, result_reply: Any) -> bool:
        if job_id.lower().startswith(self.needle):
            return True
        if isinstance(fields, Exception):
            return False
        description = fields.get("description")
        if description and self.needle in description.decode("utf-8", "replace").lower():
            return True
        meta = fields.get("meta")
        if meta and (self.raw_needle is None or self.raw_needle in meta.lower()):
            _payload, decoded, _problem = decoding.decode_meta(meta)
            topic = decoded.get(TOPIC_KEY)
            if isinstance(topic, str) and self.needle in topic.lower():
                return True
        if result_reply is not None:
            entry = latest_result(result_reply)
            error = entry.exc_string if entry else None
            error = error or decoding.exc_from_hash(fields.get("exc_info"))
            if error and self.needle in error.lower():
                return True
        return False


def check_search_args(text: str, batch_size: int, scan_chunk: int) -> str:
    needle = text.strip() if isinstance(text, str) else ""
    if not needle:
        raise CoreError("search text is empty: give a job id, the start of one, or some text")
    if len(needle) > MAX_TEXT:
        raise CoreError(f"search text must be at most {MAX_TEXT} characters, got {len(needle)}")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise CoreError(f"batch_size must be 1 to {MAX_BATCH}, got {batch_size!r}")
    if not isinstance(scan_chunk, int) or not 1 <= scan_chunk <= MAX_CHUNK:
        raise CoreError(f"scan_chunk must be 1 to {MAX_CHUNK}, got {scan_chunk!r}")
    return needle


async def search_jobs(
    trips: RoundTrips,
    queue: str,
    state: JobState,
    text: str,
    *,
    batch_size: int = 100,
    scan_chunk: int = 2000,
    trust_pickle: bool = False,
) -> AsyncIterator[list[JobRow]]:
    """Yield lists of at most ``batch_size`` matching rows, the exact id match first.

    Raises:
        CoreError: bad arguments, or Redis could not be reached or did not answer in time.
    """
    needle = check_search_args(text, batch_size, scan_chunk)
    check_queue(queue)
    state = as_state(state)
    source = state_source(queue, state)
    seen: set[str] = set()

    exact = await _exact(trips, queue, state, needle, trust_pickle)
    if exact is not None:
        seen.add(exact.id)
        yield [exact]

    matcher = _Matcher(needle)
    names = SEARCH_FIELDS_FAILED if state is JobState.FAILED else SEARCH_FIELDS
    step = 2 if state is JobState.FAILED else 1
    (window,) = await trips.run(lambda pipe: fill_id_range(pipe, source, 0, scan_chunk - 1))
    ids = parse_id_range(source, window)
    start = 0
    while ids:
        start += scan_chunk
        more = len(ids) == scan_chunk
        chunk = ids

        def fill(pipe: Any, chunk: list[tuple[str, float | None]] = chunk, more: bool = more, at: int = start) -> None:
            for job_id, _score in chunk:
                pipe.hmget(job_key(job_id), names)
                if step == 2:
                    pipe.xrevrange(results_key(job_id), "+", "-", count=1)
            if more:
                fill_id_range(pipe, source, at, at + scan_chunk - 1)

        replies = await trips.run(fill)
        matched = []
        for index, (job_id, score) in enumerate(chunk):
            if job_id in seen:
                continue
            fields = fields_from_hmget(names, replies[index * step])
            if matcher.matches(job_id, fields, replies[index * step + 1] if step == 2 else None):
                seen.add(job_id)
                matched.append((job_id, score))
        # Only the matches pay for whole rows: one more round trip per batch of them.
        for lo in range(0, len(matched), batch_size):
            group = matched[lo : lo + batch_size]
            row_replies = await trips.run(_rows_filler(state, [i for i, _ in group]))
            yield parse_rows(queue, state, group, row_replies, trust_pickle)
        ids = parse_id_range(source, replies[-1]) if more else []


def _rows_filler(state: JobState, ids: list[str]) -> Callable[[Any], None]:
    return lambda pipe: fill_rows(pipe, state, ids)


async def _exact(trips: RoundTrips, queue: str, state: JobState, job_id: str, trust_pickle: bool) -> JobRow | None:
    """The row of ``job_id`` when it is in ``queue``'s ``state``, found with one membership command."""
    source = state_source(queue, state)

    def fill(pipe: Any) -> None:
        if source.is_list:
            pipe.lpos(source.key, job_id)
        elif source.composite_members:
            pipe.hmget(job_key(job_id), ["status", "origin"])
        else:
            pipe.zscore(source.key, job_id)
        fill_rows(pipe, state, [job_id])

    replies = await trips.run(fill)
    membership = replies[0]
    if membership is None or is_error(membership):
        return None
    score: float | None = None
    if source.composite_members:
        status, origin = membership
        if status != b"started" or decoding.text(origin) != queue:
            return None
    elif not source.is_list:
        score = float(membership)
    fields = fields_from_hmget(row_fields(state), replies[1])
    result = latest_result(replies[2]) if state is JobState.FAILED else None
    return build_row(job_id, queue, state, fields, result=result, score=score, trust_pickle=trust_pickle)
