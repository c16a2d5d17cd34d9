"""A page of one BullMQ state in two pipelined round trips at any offset, WAITING's three structures included.

A state is one or more Redis structures read in order (see :data:`~thesis_console.core.bullmq.keys.STATE_SOURCES`);
a page's rows of a later structure start where the earlier ones end, which is known only once their
lengths are read. So the first round trip reads every length with the ranges the page can need
without them: the first structure's exact range, and of each later one the range the page would have
if the earlier ones were empty (a paused queue: ``wait`` is empty) and its head (a page that starts in
an earlier structure). The second reads the rows: one HMGET per job whose id is known, and for a page
deeper in a later structure than both guesses, ``SORT <key> BY nosort LIMIT .. GET # GET <job>->field``,
which reads the range and every job's row fields in one command without sorting or writing anything.

Two cases cost more: a job hash that SORT finds missing (one more round trip: an HMGET tells a missing
hash from a key of another type, as for every other row), and a server that refuses SORT with GET
patterns (a user without the right to SORT, a read-only replica, a cluster): then the range is read,
and the rows after it, in two more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.bullmq.jobs import ROW_FIELDS, build_row
from thesis_console.core.bullmq.keys import STATE_SOURCES, BullKeys, Kind, Source
from thesis_console.core.round_trips import RoundTrips, is_error, reply_int
from thesis_console.core.types import JobPage, JobState

HEAD_WINDOW = 128
"""Ids read from the head of each later structure in the first round trip. Redis keeps a sorted set of
up to 128 members in a compact encoding that SORT converts in place; read whole here, such a set is
never sorted, and one that SORT reads is larger, so already in the encoding SORT wants."""


@dataclass(frozen=True)
class _Window:
    """Local positions ``lo``..``hi`` of one structure as read in the first round trip."""

    lo: int
    hi: int
    members: list[tuple[str, float | None]]

    def covers(self, lo: int, hi: int) -> bool:
        return self.lo <= lo and hi <= self.hi

    def slice(self, lo: int, hi: int) -> list[tuple[str, float | None]]:
        return self.members[lo - self.lo : hi - self.lo + 1]


@dataclass
class _Part:
    """The rows one structure gives the page: its local positions ``lo``..``hi``, the ids when the
    first round trip read them, then each row as (id, score, fields or the error reading them)."""

    source: Source
    lo: int
    hi: int
    members: list[tuple[str, float | None]] | None
    rows: list[tuple[str, float | None, Any]] = field(default_factory=list)


async def read_page(
    trips: RoundTrips, prefix: str, queue: str, state: JobState, offset: int, limit: int, reverse: bool = False
) -> JobPage:
    """Rows ``offset`` .. ``offset + limit - 1`` of ``state`` in ``queue``, in the order a worker takes them
    (``reverse``: from the other end, the last structure first, each read from its other end)."""
    keys = BullKeys(prefix, queue)
    sources = tuple(_flipped(s) for s in reversed(STATE_SOURCES[state])) if reverse else STATE_SOURCES[state]
    if not sources:
        return JobPage(queue, state, offset, 0, ())
    start, stop = offset, offset + limit - 1
    head = (0, max(limit, HEAD_WINDOW) - 1)
    guesses = [[(start, stop)]] + [[head, (start, stop)] for _ in sources[1:]]

    def fill_lengths(pipe: Any) -> None:
        for source in sources:
            (pipe.llen if source.kind is Kind.LIST else pipe.zcard)(keys.of(source.name))
        for source, ranges in zip(sources, guesses, strict=True):
            for lo, hi in ranges:
                _fill_range(pipe, keys, source, lo, hi)

    first = await trips.run(fill_lengths)
    lengths = [reply_int(r) for r in first[: len(sources)]]
    replies = iter(first[len(sources) :])
    parts: list[_Part] = []
    before = 0
    for source, length, ranges in zip(sources, lengths, guesses, strict=True):
        windows = [_Window(lo, hi, _parse_range(source, next(replies))) for lo, hi in ranges]
        lo, hi = max(start - before, 0), min(stop - before, length - 1)
        before += length
        if lo <= hi:
            window = next((w for w in windows if w.covers(lo, hi)), None)
            parts.append(_Part(source, lo, hi, window.slice(lo, hi) if window else None))
    if parts:
        await _read_rows(trips, keys, parts)
    rows = [build_row(queue, job_id, state, fields, score) for part in parts for job_id, score, fields in part.rows]
    return JobPage(queue, state, offset, sum(lengths), tuple(rows[:limit]))


async def _read_rows(trips: RoundTrips, keys: BullKeys, parts: Sequence[_Part]) -> None:
    """Fill each part's rows: one round trip, more only in the cases the module docstring names."""
    pattern_safe = "*" not in keys.base  # SORT puts each id in place of the pattern's first "*"
    known = [p for p in parts if p.members is not None]
    to_sort = [p for p in parts if p.members is None and pattern_safe]
    to_range = [p for p in parts if p.members is None and not pattern_safe]
    gets = ["#", *(f"{keys.base}:*->{name}" for name in ROW_FIELDS)]

    def fill_rows(pipe: Any) -> None:
        for part in known:
            for job_id, _ in part.members or ():
                pipe.hmget(keys.job(job_id), ROW_FIELDS)
        for part in to_sort:
            descending = part.source.from_right or part.source.newest_first
            pipe.sort(keys.of(part.source.name), start=part.lo, num=part.hi - part.lo + 1, by="nosort", get=gets, desc=descending)

    replies = iter(await trips.run(fill_rows, allow_denied=frozenset({"SORT"})))
    for part in known:
        part.rows = [(job_id, score, next(replies)) for job_id, score in part.members or ()]
    for part in to_sort:
        reply = next(replies)
        if is_error(reply):
            to_range.append(part)
            continue
        width = len(gets)
        part.rows = [(decoding.text(reply[i]) or repr(reply[i]), None, reply[i + 1 : i + width]) for i in range(0, len(reply), width)]
    await _recheck_missing(trips, keys, to_sort)
    if to_range:
        await _range_then_rows(trips, keys, to_range)


async def _recheck_missing(trips: RoundTrips, keys: BullKeys, parts: Sequence[_Part]) -> None:
    """SORT reads no field of a key that is not a hash: HMGET such rows again, so they say which it is."""
    missing = [(p, i) for p in parts for i, (_, _, fields) in enumerate(p.rows) if all(f is None for f in fields)]
    if not missing:
        return
    replies = await trips.run(lambda pipe: [pipe.hmget(keys.job(p.rows[i][0]), ROW_FIELDS) for p, i in missing])
    for (part, i), reply in zip(missing, replies, strict=True):
        part.rows[i] = (part.rows[i][0], None, reply)


async def _range_then_rows(trips: RoundTrips, keys: BullKeys, parts: Sequence[_Part]) -> None:
    def fill_ranges(pipe: Any) -> None:
        for part in parts:
            _fill_range(pipe, keys, part.source, part.lo, part.hi)

    ranges = await trips.run(fill_ranges)
    members = [_parse_range(p.source, r) for p, r in zip(parts, ranges, strict=True)]
    wanted = [m for ms in members for m in ms]
    replies = iter(await trips.run(lambda pipe: [pipe.hmget(keys.job(i), ROW_FIELDS) for i, _ in wanted]))
    for part, ms in zip(parts, members, strict=True):
        part.rows = [(job_id, score, next(replies)) for job_id, score in ms]


def _flipped(source: Source) -> Source:
    if source.kind is Kind.LIST:
        return replace(source, from_right=not source.from_right)
    return replace(source, newest_first=not source.newest_first)


def _fill_range(pipe: Any, keys: BullKeys, source: Source, start: int, stop: int) -> None:
    key = keys.of(source.name)
    if source.kind is Kind.LIST:
        if source.from_right:
            pipe.lrange(key, -(stop + 1), -(start + 1))
        else:
            pipe.lrange(key, start, stop)
    elif source.newest_first:
        pipe.zrevrange(key, start, stop, withscores=True)
    else:
        pipe.zrange(key, start, stop, withscores=True)


def _parse_range(source: Source, reply: Any) -> list[tuple[str, float | None]]:
    if is_error(reply) or not reply:
        return []
    items: list[tuple[Any, float | None]]
    if source.kind is Kind.LIST:
        items = [(m, None) for m in reply]
        if source.from_right:
            items.reverse()
    else:
        items = [(m, float(s)) for m, s in reply]
    return [(decoding.text(m) or repr(m), score) for m, score in items]
