"""BullMQ's key layout: ``<prefix>:<queue>:<name>`` for a queue's structures, ``<prefix>:<queue>:<id>`` for a job.

Which structures make up each console state (in the order a worker takes jobs):

WAITING    ``wait`` (list, taken from the right), ``paused`` (the same list while the queue is paused),
           ``prioritized`` (sorted set, lowest score first)
ACTIVE     ``active`` (list, newest at the left)
SCHEDULED  ``delayed`` (sorted set, score = run time in ms << 12): retry back-offs and requested delays
DEFERRED   ``waiting-children`` (sorted set)
COMPLETED  ``completed`` / FAILED ``failed`` (sorted sets by finish time, newest first)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from thesis_console.core.types import JobState

DEFAULT_PREFIX = "bull"
SUPPORTED_MAJOR = 5
"""The BullMQ major version whose scripts the pinned Python package runs (Node bullmq 5.81.5)."""


class Kind(Enum):
    LIST = "list"
    ZSET = "sorted set"


@dataclass(frozen=True)
class Source:
    """One Redis structure of a state; ``from_right`` for lists read from the end a worker takes from."""

    name: str
    kind: Kind
    newest_first: bool = False
    from_right: bool = False


STATE_SOURCES: dict[JobState, tuple[Source, ...]] = {
    JobState.WAITING: (
        Source("wait", Kind.LIST, from_right=True),
        Source("paused", Kind.LIST, from_right=True),
        Source("prioritized", Kind.ZSET),
    ),
    JobState.ACTIVE: (Source("active", Kind.LIST),),
    JobState.SCHEDULED: (Source("delayed", Kind.ZSET),),
    JobState.DEFERRED: (Source("waiting-children", Kind.ZSET),),
    JobState.COMPLETED: (Source("completed", Kind.ZSET, newest_first=True),),
    JobState.FAILED: (Source("failed", Kind.ZSET, newest_first=True),),
    JobState.CANCELED: (),
}
"""BullMQ has no canceled state: removing a job deletes it."""


@dataclass(frozen=True)
class BullKeys:
    prefix: str
    queue: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{self.queue}"

    def of(self, name: str) -> str:
        return f"{self.base}:{name}"

    def job(self, job_id: str) -> str:
        return f"{self.base}:{job_id}"

    def logs(self, job_id: str) -> str:
        return f"{self.base}:{job_id}:logs"


def delayed_run_at(score: float) -> float:
    """The Unix time (s) a delayed job runs at, from its score in ``delayed`` (ms shifted left by 12)."""
    return int(score) // 0x1000 / 1000.0


def depth_metrics_name(prefix: str, queue: str) -> str:
    """The name under which a supervisor of BullMQ workers records ``queue``'s depth in the console's
    own per-minute metrics (:mod:`thesis_console.core.metrics_store`), apart from an RQ queue of the
    same name; BullMQ records no depth history itself."""
    return f"bullmq:{prefix}:{queue}"
