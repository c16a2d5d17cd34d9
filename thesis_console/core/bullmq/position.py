"""A BullMQ job's row in its state's table, in the order :func:`~thesis_console.core.bullmq.paging.read_page`
uses, in one pipelined round trip.

A state is one or more structures read one after the other (WAITING: ``wait``, ``paused``,
``prioritized``; see :data:`~thesis_console.core.bullmq.keys.STATE_SOURCES`); the reversed order reads
the last structure first, each from its other end. The round trip reads the length of each structure
and the job's rank in each, counted from the end the table starts at: LPOS on a list (Redis walks it
from that end, so the cost grows with the row's depth and no ids come back), ZRANK or ZREVRANK on a
sorted set (O(log N)). The row is the lengths of the structures before the one holding the job, plus
its rank there.
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
    sources = tuple(reversed(STATE_SOURCES[state])) if reverse else STATE_SOURCES[state]
    if not sources:
        return None

    def fill(pipe: Any) -> None:
        for source in sources:  # each length beside its rank: a worker's move in between shifts one only
            (pipe.llen if source.kind is Kind.LIST else pipe.zcard)(keys.of(source.name))
            _fill_rank(pipe, keys.of(source.name), source, job_id, reverse)

    replies = await trips.run(fill)
    before = 0
    for source, length_reply, reply in zip(sources, replies[::2], replies[1::2], strict=True):
        length = reply_int(length_reply)
        if reply is not None and not is_error(reply):
            index = int(reply)
            if source.kind is Kind.LIST and _from_right(source, reverse):
                # LPOS counts from the left even when it walks from the right; a job pushed between the
                # two commands cannot make the row negative.
                index = max(length - 1 - index, 0)
            return before + index
        before += length
    return None


def _from_right(source: Source, reverse: bool) -> bool:
    """Whether the table reads the list ``source`` from its right end (in ``reverse``, from the other)."""
    return source.from_right != reverse


def _fill_rank(pipe: Any, key: str, source: Source, job_id: str, reverse: bool) -> None:
    if source.kind is Kind.LIST:
        pipe.lpos(key, job_id, rank=-1 if _from_right(source, reverse) else 1)
    elif source.newest_first != reverse:
        pipe.zrevrank(key, job_id)
    else:
        pipe.zrank(key, job_id)
