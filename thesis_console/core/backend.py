"""Which queue system a queue belongs to, and the read interface every backend implements.

A queue carries its backend (``QueueCounts.backend``, ``JobRow.backend``); the front ends show it and
never branch on it: :class:`~thesis_console.core.reader.QueueReader` sends each call to the backend of
the queue it names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from thesis_console.core.types import Backend, JobDetail, JobPage, JobRow, JobState, MetricSeries

__all__ = ["Backend", "QueueBackendReader"]


class QueueBackendReader(Protocol):
    """The reads one backend answers for its queues (the snapshot is read for all backends at once)."""

    async def page(self, queue: str, state: JobState, offset: int, limit: int, reverse: bool = False) -> JobPage:
        """Rows ``offset`` .. ``offset + limit - 1`` of a state; ``reverse`` counts from the other end."""
        ...

    async def position(self, queue: str, state: JobState, job_id: str, reverse: bool = False) -> int | None:
        """The 0-based row of ``job_id`` in ``state`` as :meth:`page` orders it; None when it is not there."""
        ...

    async def detail(self, queue: str, job_id: str) -> JobDetail: ...

    def search(
        self, queue: str, state: JobState, text: str, *, batch_size: int, scan_chunk: int
    ) -> AsyncIterator[list[JobRow]]:
        """Matching rows in lists of at most ``batch_size``; ``scan_chunk`` ids are read per round trip."""
        ...

    async def metric_series(self, queue: str, range_s: int, now: float | None = None) -> MetricSeries: ...
