"""``QueueReader``: everything the console reads from Redis, asynchronous, bounded in time, side-effect free.

The GUI and the CLI call only this class. Each method is a few pipelined round trips (see the
modules it delegates to); every round trip has a deadline, and the whole call has one too, so a
call never hangs; every failure is a :class:`CoreError` with a message for a person. No method
writes to Redis or calls an RQ method that cleans up, so reading never moves a job or runs a
callback, and pickled job data is never unpickled unless ``trust_pickle`` is set.

Example::

    client = redis.asyncio.Redis.from_url(url, decode_responses=False, socket_timeout=5)
    reader = QueueReader(client)
    snapshot = await reader.snapshot()
    page = await reader.page("thesis", JobState.FAILED, offset=0, limit=50)
    async for rows in reader.search("thesis", JobState.FAILED, "timeout"):
        ...
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis

from thesis_console.core.alerts.watch_data import MinuteCache, WatchData, read_watch_data
from thesis_console.core.backend import QueueBackendReader
from thesis_console.core.bullmq import clients
from thesis_console.core.bullmq import reader as bull
from thesis_console.core.bullmq.keys import DEFAULT_PREFIX
from thesis_console.core.round_trips import RoundTrips, server_url
from thesis_console.core.rq_reader import RqReader
from thesis_console.core.search import check_search_args
from thesis_console.core.snapshot import read_snapshot
from thesis_console.core.throughput import ThroughputTracker
from thesis_console.core.types import (
    Backend,
    CoreError,
    JobDetail,
    JobPage,
    JobRow,
    JobState,
    MetricSeries,
    Snapshot,
)

__all__ = ["QueueReader", "ThroughputTracker"]

T = TypeVar("T")
log = logging.getLogger(__name__)

BULL_DISCOVERY_S = 30.0
"""How long the list of BullMQ queues found by a key scan is reused before the next scan, at least."""
BULL_DISCOVERY_SHARE = 0.01
"""At most this share of the time goes to that scan: one that took 0.5 s is repeated after 50 s."""


class QueueReader:
    """Reads queues, jobs, workers and metrics from one Redis.

    Args:
        client: an asyncio client created with ``decode_responses=False``.
        trust_pickle: unpickle pickled job data for display (only for a trusted Redis).
        queues: the queues to show, in this order; None shows every queue RQ knows.
        timeout_s: the longest any one call (and any one round trip of a search) may take.
        bullmq_prefix: the ``prefix`` of the BullMQ queues; a queue under it is read as BullMQ.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        trust_pickle: bool = False,
        queues: Sequence[str] | None = None,
        timeout_s: float = 5.0,
        bullmq_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            # Job data, meta and results are bytes (zlib, pickle); decoding them as text would fail.
            raise ValueError("the Redis client must be created with decode_responses=False")
        self.client = client
        self.trust_pickle = trust_pickle
        self.queues = tuple(queues) if queues is not None else None
        self.timeout_s = timeout_s
        self.bullmq_prefix = bullmq_prefix
        self._bull_queues: tuple[str, ...] = ()
        self._bull_found_at: float | None = None
        self._bull_reuse_s = BULL_DISCOVERY_S
        self._bull_known: tuple[str, ...] | None = None
        self._discovery: asyncio.Task[tuple[str, ...]] | None = None
        self.discover_in_background = False
        """Walk the key space for BullMQ queues again beside the snapshots instead of before one (the
        window: a walk of a million keys would hold back a refresh every 30 s or more by about a
        second). Snapshots meanwhile use the last walk's queues. The first walk is always waited for:
        which queues are BullMQ decides what the console does with them."""
        self._checked: dict[str, tuple[Backend, float]] = {}

    async def snapshot(self) -> Snapshot:
        """Counts of every queue (RQ and BullMQ, each carrying its backend), every RQ worker and
        supervisor, and the server: two round trips, three when there are BullMQ queues (every BullMQ
        queue's counts and one ``CLIENT LIST`` for the BullMQ workers), plus a key scan for BullMQ
        queues at most every 30 s."""
        return await self._bounded(self._snapshot())

    async def _snapshot(self) -> Snapshot:
        bull_names = await self.bull_queues()
        rq_names = None if self.queues is None else tuple(q for q in self.queues if q not in bull_names)
        snapshot = await read_snapshot(self._trips(), rq_names)
        if not bull_names:
            return snapshot
        trips = self._trips()

        def fill(pipe: Any) -> None:
            bull.fill_counts(pipe, self.bullmq_prefix, bull_names)
            pipe.client_list(_type="normal")  # BullMQ's workers are known only by their connections' names

        replies = await trips.run(fill, allow_denied=frozenset({clients.CLIENT_LIST}))
        bull_counts = {q.name: q for q in bull.parse_counts(self.bullmq_prefix, bull_names, replies[:-1])}
        db = int(self.client.connection_pool.connection_kwargs.get("db") or 0)
        listed = clients.parse_client_list(replies[-1], self.bullmq_prefix, bull_names, db, self.queues)
        rq_counts = {q.name: q for q in snapshot.queues}
        order = self.queues if self.queues is not None else sorted(set(rq_counts) | set(bull_counts))
        queues = [c for name in order for c in (rq_counts.get(name), bull_counts.get(name)) if c is not None]
        return dataclasses.replace(
            snapshot,
            queues=tuple(queues),
            round_trips=snapshot.round_trips + trips.count,
            bullmq_workers=clients.with_supervisors(listed.workers, snapshot.supervisors),
            bullmq_workers_problem=listed.problem,
        )

    async def bull_queues(self) -> tuple[str, ...]:
        """The BullMQ queues under the prefix (those of the profile's list when it has one), found again
        at most every 30 s: without a list that is a SCAN of the key space, whose cost grows with it
        (a scan that took longer is repeated less often: see :data:`BULL_DISCOVERY_SHARE`; with
        :attr:`discover_in_background`, scans after the first run beside the snapshots)."""
        now = time.monotonic()
        if self._bull_found_at is not None and now - self._bull_found_at < self._bull_reuse_s:
            return self._bull_queues
        if self.discover_in_background and self._bull_found_at is not None and self.queues is None:
            if self._discovery is None or self._discovery.done():
                self._discovery = asyncio.get_running_loop().create_task(self._discover_quietly())
            return self._bull_queues
        return await self._discover()

    async def _discover(self) -> tuple[str, ...]:
        started = time.monotonic()
        listed = self.queues
        if listed is None and self._bull_known is not None:
            listed, self._bull_known = self._bull_known, None  # checked once; walked next time
        found = await bull.find_queues(self._trips(), self.bullmq_prefix, listed)
        took = time.monotonic() - started
        self._bull_queues, self._bull_found_at = tuple(found), started
        self._bull_reuse_s = max(BULL_DISCOVERY_S, took / BULL_DISCOVERY_SHARE)
        return self._bull_queues

    async def _discover_quietly(self) -> tuple[str, ...]:
        """:meth:`_discover` in its own task: a failure is logged and the next snapshot tries again."""
        try:
            return await self._discover()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("finding the BullMQ queues failed: %s", exc)
            return self._bull_queues

    def start_from_bull_queues(self, names: Sequence[str]) -> None:
        """BullMQ queue names found by an earlier walk (:mod:`~thesis_console.core.bullmq.known_queues`):
        the next discovery checks just these, in one round trip, instead of walking the key space."""
        self._bull_known = tuple(names)
        self._bull_found_at = None

    async def backend_of(self, queue: str) -> Backend:
        """The backend of one queue: from the last scan when fresh, else one EXISTS (reused for 30 s)."""
        now = time.monotonic()
        if self._bull_found_at is not None and now - self._bull_found_at < self._bull_reuse_s:
            return Backend.BULLMQ if queue in self._bull_queues else Backend.RQ
        known = self._checked.get(queue)
        if known is not None and now - known[1] < BULL_DISCOVERY_S:
            return known[0]
        found = await bull.find_queues(self._trips(), self.bullmq_prefix, [queue])
        backend = Backend.BULLMQ if found else Backend.RQ
        self._checked[queue] = (backend, now)
        return backend

    async def _reader_of(self, queue: str) -> QueueBackendReader:
        return self._reader_for(queue, (queue,) if await self.backend_of(queue) is Backend.BULLMQ else ())

    def _reader_for(self, queue: str, bull_queues: tuple[str, ...]) -> QueueBackendReader:
        """The backend that reads ``queue``: BullMQ when it is one of ``bull_queues``, RQ otherwise."""
        if queue in bull_queues:
            return bull.BullReader(self._trips(), self.bullmq_prefix)
        return RqReader(self._trips(), self.trust_pickle)

    async def page(
        self, queue: str, state: JobState, offset: int, limit: int, reverse: bool = False
    ) -> JobPage:
        """Rows ``offset`` .. ``offset + limit - 1`` of a state's table, in two round trips at any offset
        (plus one EXISTS when the queue's backend was not checked in the last 30 s). ``reverse`` counts from
        the other end of the state's order (oldest first where it is newest first, and back)."""
        return await self._bounded(self._page(queue, state, offset, limit, reverse))

    async def _page(self, queue: str, state: JobState, offset: int, limit: int, reverse: bool) -> JobPage:
        return await (await self._reader_of(queue)).page(queue, state, offset, limit, reverse)

    async def position(self, queue: str, state: JobState, job_id: str, reverse: bool = False) -> int | None:
        """The 0-based row of ``job_id`` in ``state``'s table as :meth:`page` orders it; None when it is not there.

        A BullMQ job id is only unique in its queue: the job is looked for in ``queue`` alone.
        One round trip (plus one EXISTS when the queue's backend was not checked in the last 30 s).

        Raises:
            CoreError: bad arguments, or Redis could not be reached.
        """
        return await self._bounded(self._position(queue, state, job_id, reverse))

    async def _position(self, queue: str, state: JobState, job_id: str, reverse: bool) -> int | None:
        return await (await self._reader_of(queue)).position(queue, state, job_id, reverse)

    async def detail(
        self, job_id: str, queue: str | None = None, backend: Backend | None = None
    ) -> JobDetail:
        """Arguments (data), meta (opts), result, traceback, raw fields, logs and timeline of one job.

        A BullMQ job id is only unique in its queue: with no ``queue``, an id RQ does not know is looked
        for in every BullMQ queue. ``backend`` (a listed row's) reads the job there even when an RQ and a
        BullMQ queue share the name.

        Raises:
            CoreError: ``job {id} not found`` when it does not exist.
        """
        return await self._bounded(self._detail(job_id, queue, backend))

    async def _detail(self, job_id: str, queue: str | None, backend: Backend | None) -> JobDetail:
        rq = RqReader(self._trips(), self.trust_pickle)
        if backend is Backend.RQ:
            return await rq.detail(queue, job_id)
        if queue is not None and backend is Backend.BULLMQ:
            return await bull.BullReader(self._trips(), self.bullmq_prefix).detail(queue, job_id)
        if queue is not None:
            return await (await self._reader_of(queue)).detail(queue, job_id)
        try:
            return await rq.detail(None, job_id)
        except CoreError as missing:
            reader = bull.BullReader(self._trips(), self.bullmq_prefix)
            for name in await self.bull_queues():
                if await reader.find(name, job_id):
                    return await reader.detail(name, job_id)
            raise missing

    def search(
        self, queue: str, state: JobState, text: str, *, batch_size: int = 100, scan_chunk: int = 2000
    ) -> AsyncIterator[list[JobRow]]:
        """Stream matching rows of one state in lists of at most ``batch_size``.

        Each round trip has the reader's timeout; the walk as a whole has none, since it is as long
        as the state is big. Stop it by leaving the ``async for`` or cancelling the task.

        Raises:
            CoreError: at once for bad arguments; during iteration when Redis fails.
        """
        check_search_args(text, batch_size, scan_chunk)
        # The BullMQ queues as the last snapshot found them: a search starts from a queue on screen.
        reader = self._reader_for(queue, self._bull_queues)
        return _guarded(
            reader.search(queue, state, text, batch_size=batch_size, scan_chunk=scan_chunk), "search"
        )

    async def metric_series(self, queue: str, range_s: int, now: float | None = None) -> MetricSeries:
        """Points for the charts: minute buckets up to 6 hours, hour buckets beyond (24 h, 7 days)."""
        return await self._bounded(self._series(queue, range_s, now))

    async def _series(self, queue: str, range_s: int, now: float | None) -> MetricSeries:
        return await (await self._reader_of(queue)).metric_series(queue, range_s, now)

    async def watch(
        self,
        minutes: int,
        now: float | None = None,
        cache: MinuteCache | None = None,
        snapshot: Snapshot | None = None,
    ) -> WatchData:
        """The snapshot and what the alert rules and the metrics endpoint need: the last ``minutes``
        metric buckets, the head job and the running jobs of each queue (RQ and BullMQ, each from its
        own keys), and the supervisors' heartbeats, in four round trips whatever the number of jobs,
        five with BullMQ queues (two with a fresh ``snapshot`` given). With a ``cache`` kept between
        calls, settled minute buckets are read once."""
        return await self._bounded(self._watch(minutes, now, cache, snapshot))

    async def _watch(
        self, minutes: int, now: float | None, cache: MinuteCache | None, snapshot: Snapshot | None
    ) -> WatchData:
        trips = 0
        if snapshot is None:
            snapshot = await self._snapshot()
            trips, now = snapshot.round_trips, snapshot.taken_at if now is None else now
        data = await read_watch_data(
            self._trips(), self.queues, minutes, now, cache, snapshot, self.bullmq_prefix
        )
        return dataclasses.replace(data, round_trips=data.round_trips + trips) if trips else data

    def _trips(self) -> RoundTrips:
        return RoundTrips(self.client, self.timeout_s)

    async def _bounded(self, call: Awaitable[T]) -> T:
        """Await ``call`` with the reader's deadline over the whole call."""
        try:
            async with asyncio.timeout(self.timeout_s):  # not wait_for: see RoundTrips.run
                return await call
        except TimeoutError:
            raise CoreError(
                f"Redis at {server_url(self.client)} did not answer within {self.timeout_s:g} s (timeout)"
            ) from None
        except CoreError:
            raise
        except Exception as exc:  # a defect here must reach a person as a message, not a traceback
            log.exception("reading failed")
            raise CoreError(f"reading failed: {type(exc).__name__}: {exc}") from None


async def _guarded(rows: AsyncIterator[list[JobRow]], what: str) -> AsyncIterator[list[JobRow]]:
    """``rows`` with any unexpected exception turned into a CoreError, closed when the caller stops."""
    try:
        async for batch in rows:
            yield batch
    except CoreError:
        raise
    except Exception as exc:  # as in QueueReader._bounded
        log.exception("%s failed", what)
        raise CoreError(f"{what} failed: {type(exc).__name__}: {exc}") from None
    finally:
        await rows.aclose()  # type: ignore[attr-defined]
