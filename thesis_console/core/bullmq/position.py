"""A BullMQ job's row in its state's table, in the order :func:`~thesis_console.core.bullmq.paging.read_page`
uses, in one pipelined round trip.

A state is one or more structures read one after the other (WAITING: ``wait``, ``paused``,
``prioritized``; see :data:`~thesis_console.core.bullmq.keys.STATE_SOURCES`). The round trip reads the
length of each and the job's rank in each: LPOS on a list (Redis walks it, no ids come back; ``RANK -1``
finds it from the end a worker takes from), ZRANK or ZREVRANK on a sorted set (O(log N)). The row is
the lengths of the structures before the one holding the job, plus its rank there. The reversed order is
the forward order read backwards, so its row is ``total - 1 -`` the forward one.
"""

from __future__ import annotations

from typing import Any

from thesis_console.core.bullmq.keys import STATE_SOURCES, BullKeys, Kind, Source
from thesis_console.core.round_trips import RoundTrips, is_error, reply_int
from thesis_console.core.types import JobState


async def read_position(
    trips: RoundTrips, prefix: str, queue: str, state: JobState, job_id: str, reverse: bool = False
) -> int | None:
    """The 0-based row of ``job_id`` in ``queue``'s ``state`` table, or None when it is not there.

    A structure of the wrong type (a foreign key) counts as empty and holds no job, as a page reads it.
    """
    keys = BullKeys(prefix, queue)
    sources = STATE_SOURCES[state]
    if not sources:
        return None

    def fill(pipe: Any) -> None:
        for source in sources:
            (pipe.llen if source.kind is Kind.LIST else pipe.zcard)(keys.of(source.name))
        for source in sources:
            _fill_rank(pipe, keys.of(source.name), source, job_id)

    replies = await trips.run(fill)
    lengths = [reply_int(r) for r in replies[: len(sources)]]
    before = 0
    row = None
    for source, length, reply in zip(sources, lengths, replies[len(sources) :], strict=True):
        rank = _rank(source, length, reply)
        if rank is not None:
            row = before + rank
            break
        before += length
    if row is None:
        return None
    return sum(lengths) - 1 - row if reverse else row


def _fill_rank(pipe: Any, key: str, source: Source, job_id: str) -> None:
    if source.kind is Kind.LIST:
        pipe.lpos(key, job_id, rank=-1 if source.from_right else 1)
    elif source.newest_first:
        pipe.zrevrank(key, job_id)
    else:
        pipe.zrank(key, job_id)


def _rank(source: Source, length: int, reply: Any) -> int | None:
    """The job's place in ``source`` counted from the end the page reads first, or None."""
    if reply is None or is_error(reply):
        return None
    index = int(reply)
    if source.kind is Kind.LIST and source.from_right:
        return length - 1 - index  # LPOS counts from the left even when it searches from the right
    return index
