"""The RQ backend's reads behind :class:`~thesis_console.core.backend.QueueBackendReader`: the modules
that read RQ's keys (paging, job_detail, search, metrics_read), bound to one round-trip runner."""

from __future__ import annotations

from collections.abc import AsyncIterator

from thesis_console.core.job_detail import read_detail
from thesis_console.core.metrics_read import read_series
from thesis_console.core.paging import read_page, read_position
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.search import search_jobs
from thesis_console.core.types import JobDetail, JobPage, JobRow, JobState, MetricSeries


class RqReader:
    def __init__(self, trips: RoundTrips, trust_pickle: bool = False) -> None:
        self.trips = trips
        self.trust_pickle = trust_pickle

    async def page(self, queue: str, state: JobState, offset: int, limit: int, reverse: bool = False) -> JobPage:
        return await read_page(self.trips, queue, state, offset, limit, self.trust_pickle, reverse)

    async def position(self, queue: str, state: JobState, job_id: str, reverse: bool = False) -> int | None:
        return await read_position(self.trips, queue, state, job_id, reverse)

    async def detail(self, queue: str | None, job_id: str) -> JobDetail:
        """RQ job ids are unique in the whole Redis, so ``queue`` is not needed."""
        return await read_detail(self.trips, job_id, self.trust_pickle)

    def search(
        self, queue: str, state: JobState, text: str, *, batch_size: int, scan_chunk: int
    ) -> AsyncIterator[list[JobRow]]:
        return search_jobs(
            self.trips, queue, state, text, batch_size=batch_size, scan_chunk=scan_chunk, trust_pickle=self.trust_pickle
        )

    async def metric_series(self, queue: str, range_s: int, now: float | None = None) -> MetricSeries:
        return await read_series(self.trips, queue, range_s, now)
