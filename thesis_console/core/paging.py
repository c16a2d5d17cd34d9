"""A page of one state's job table at any offset, in two round trips whose cost depends on the page size only.

Round trip 1 reads the state's total and the ids of the page by rank (LRANGE for the waiting list;
ZRANGE, or ZREVRANGE for newest-first states, with the offset as a rank; a reversed page ranks from
the other end at the same cost; both are O(log N + page)
on a sorted set, and walk list nodes, not entries, on a list). Round trip 2 reads each job's row
fields with one HMGET and, for failed jobs, the newest entry of its results stream with
XREVRANGE COUNT 1. No RQ method is called, so nothing is cleaned up or moved by reading.
"""

from __future__ import annotations

from typing import Any

from thesis_console.core import decoding
from thesis_console.core.job_rows import build_row, fields_from_hmget, latest_result, row_fields
from thesis_console.core.round_trips import RoundTrips, is_error, reply_int
from thesis_console.core.rq_keys import StateSource, job_id_of_member, job_key, results_key, state_source
from thesis_console.core.types import CoreError, JobPage, JobRow, JobState

MAX_PAGE = 1000
"""The most rows one page may ask for; a table fetches more pages rather than one huge one."""


def fill_id_range(pipe: Any, source: StateSource, start: int, stop: int, reverse: bool = False) -> None:
    """Queue the read of the ids ranked ``start`` to ``stop`` (inclusive) of a state (with scores).

    ``reverse`` ranks from the other end (the last job first); it costs the same: a list is ranged by
    negative indexes (LRANGE walks from the nearer end), a sorted set by the opposite ZRANGE.
    """
    if source.is_list:
        if reverse:
            pipe.lrange(source.key, -stop - 1, -start - 1)
        else:
            pipe.lrange(source.key, start, stop)
    elif source.newest_first != reverse:
        pipe.zrevrange(source.key, start, stop, withscores=True)
    else:
        pipe.zrange(source.key, start, stop, withscores=True)


def parse_id_range(source: StateSource, reply: Any, reverse: bool = False) -> list[tuple[str, float | None]]:
    """Job ids (and scores) from a range reply; members that are not UTF-8 are shown by their repr."""
    if is_error(reply) or not reply:
        return []
    if reverse and source.is_list:
        reply = list(reversed(reply))  # LRANGE answers left to right whatever the indexes
    out: list[tuple[str, float | None]] = []
    for item in reply:
        raw, score = (item, None) if source.is_list else item
        member = decoding.text(raw)
        if member is None:  # not UTF-8: keep the exact bytes reachable (see rq_keys.raw_key)
            member = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else repr(raw)
        out.append((job_id_of_member(member) if source.composite_members else member, score))
    return out


def fill_rows(pipe: Any, state: JobState, ids: list[str]) -> None:
    """Queue what the rows of ``ids`` need: HMGET of the row fields, and for failed jobs the latest result."""
    names = row_fields(state)
    for job_id in ids:
        pipe.hmget(job_key(job_id), names)
        if state is JobState.FAILED:
            pipe.xrevrange(results_key(job_id), "+", "-", count=1)


def parse_rows(
    queue: str,
    state: JobState,
    ids: list[tuple[str, float | None]],
    replies: list[Any],
    trust_pickle: bool,
) -> list[JobRow]:
    """Rows from the replies queued by :func:`fill_rows`, in the same order as ``ids``."""
    names = row_fields(state)
    step = 2 if state is JobState.FAILED else 1
    rows = []
    for index, (job_id, score) in enumerate(ids):
        fields = fields_from_hmget(names, replies[index * step])
        result = latest_result(replies[index * step + 1]) if step == 2 else None
        rows.append(build_row(job_id, queue, state, fields, result=result, score=score, trust_pickle=trust_pickle))
    return rows


def as_state(value: JobState | str) -> JobState:
    """``value`` as a state, or a CoreError naming the states there are."""
    try:
        return JobState(value)
    except ValueError:
        raise CoreError(f"unknown state {value!r}: use one of {', '.join(s.value for s in JobState)}") from None


def check_queue(queue: str) -> None:
    if not isinstance(queue, str) or not queue or len(queue) > 512:
        raise CoreError(f"queue name must be 1 to 512 characters, got {queue!r}")


def check_job_id(job_id: str) -> None:
    if not isinstance(job_id, str) or not job_id:
        raise CoreError(f"job id must be a non-empty text, got {job_id!r}")


def check_page_args(offset: int, limit: int) -> None:
    if not isinstance(offset, int) or offset < 0:
        raise CoreError(f"offset must be a whole number of at least 0, got {offset!r}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise CoreError(f"limit must be 1 to {MAX_PAGE} rows, got {limit!r}")


async def read_page(
    trips: RoundTrips,
    queue: str,
    state: JobState,
    offset: int,
    limit: int,
    trust_pickle: bool = False,
    reverse: bool = False,
) -> JobPage:
    """Rows ``offset`` to ``offset + limit - 1`` of ``queue``'s ``state`` table.

    Order: waiting in the order workers take them; active, scheduled and deferred by their score
    (heartbeat deadline, run time, creation time); completed, failed and canceled newest first.
    ``reverse`` counts from the other end (the next job a worker takes comes last), at the same cost.

    Raises:
        CoreError: bad arguments, or Redis could not be reached or did not answer in time.
    """
    check_queue(queue)
    check_page_args(offset, limit)
    state = as_state(state)
    source = state_source(queue, state)

    def fill_ids(pipe: Any) -> None:
        (pipe.llen if source.is_list else pipe.zcard)(source.key)
        fill_id_range(pipe, source, offset, offset + limit - 1, reverse)

    total_reply, range_reply = await trips.run(fill_ids)
    ids = parse_id_range(source, range_reply, reverse)
    rows: list[JobRow] = []
    if ids:
        replies = await trips.run(lambda pipe: fill_rows(pipe, state, [i for i, _ in ids]))
        rows = parse_rows(queue, state, ids, replies, trust_pickle)
    return JobPage(queue=queue, state=state, offset=offset, total=reply_int(total_reply), rows=tuple(rows))


async def read_position(
    trips: RoundTrips, queue: str, state: JobState, job_id: str, reverse: bool = False
) -> int | None:
    """The 0-based row of ``job_id`` in ``queue``'s ``state`` table (in the order :func:`read_page` uses),
    or None when the job is not there. One round trip: ZRANK/ZREVRANK (O(log N)) on a sorted set, LPOS
    on the waiting list (Redis walks it from the end the table starts at, no ids come back); the started
    registry, whose members carry an execution id, is read whole (it holds one member per running job).
    """
    check_queue(queue)
    state = as_state(state)
    check_job_id(job_id)
    source = state_source(queue, state)

    def fill(pipe: Any) -> None:
        (pipe.llen if source.is_list else pipe.zcard)(source.key)
        if source.is_list:
            pipe.lpos(source.key, job_id, rank=-1 if reverse else 1)  # walked from the end the table starts at
        elif source.composite_members:
            fill_id_range(pipe, source, 0, -1)
        elif source.newest_first:
            pipe.zrevrank(source.key, job_id)
        else:
            pipe.zrank(source.key, job_id)

    total_reply, reply = await trips.run(fill)
    if is_error(reply):
        return None
    if source.composite_members:
        ids = [i for i, _ in parse_id_range(source, reply)]
        rank = ids.index(job_id) if job_id in ids else None
    else:
        rank = None if reply is None else int(reply)
    if rank is None:
        return None
    return reply_int(total_reply) - 1 - rank if reverse else rank
