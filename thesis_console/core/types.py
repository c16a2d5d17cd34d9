"""Plain, frozen values that the core returns and the GUI and CLI only display.

This module is the contract between the core (reading, acting, connections) and its two front ends.
Nothing here talks to Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from thesis_console.core.supervisor_protocol import SupervisorRecord


class Backend(StrEnum):
    """The queue system a queue belongs to; every queue and job row carries it."""

    RQ = "rq"
    BULLMQ = "bullmq"


class JobState(StrEnum):
    """The states the console shows, each backed by one RQ structure.

    WAITING   ``rq:queue:{q}`` list (plus the intermediate list of jobs being dequeued)
    ACTIVE    ``rq:wip:{q}`` started registry (entries are ``job_id:execution_id``)
    SCHEDULED ``rq:scheduled:{q}`` (includes jobs waiting out a retry back-off)
    DEFERRED  ``rq:deferred:{q}`` (waiting for dependencies)
    COMPLETED ``rq:finished:{q}``
    FAILED    ``rq:failed:{q}``
    CANCELED  ``rq:canceled:{q}``
    """

    WAITING = "waiting"
    ACTIVE = "active"
    SCHEDULED = "scheduled"
    DEFERRED = "deferred"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


STATE_ORDER: tuple[JobState, ...] = (
    JobState.WAITING,
    JobState.ACTIVE,
    JobState.SCHEDULED,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELED,
    JobState.DEFERRED,
)


@dataclass(frozen=True)
class QueueCounts:
    """How many jobs one queue has in each state."""

    name: str
    backend: Backend = Backend.RQ
    waiting: int = 0
    active: int = 0
    scheduled: int = 0
    deferred: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    problem: str | None = None
    """Set when one of the queue's keys is not what its backend writes (for example a string at ``rq:queue:x``)."""
    paused: bool = False
    """Supervised workers take no job from it (see :mod:`thesis_console.core.queue_pause`)."""
    paused_by: str = ""
    """``user@host`` that paused it."""
    paused_at: float | None = None

    def count(self, state: JobState) -> int:
        return int(getattr(self, state.value))

    @property
    def total(self) -> int:
        return sum(self.count(s) for s in JobState)


@dataclass(frozen=True)
class WorkerInfo:
    """One RQ worker as its ``rq:worker:{name}`` hash describes it, whoever started it."""

    name: str
    hostname: str = ""
    pid: int | None = None
    state: str = ""
    queues: tuple[str, ...] = ()
    current_job: str | None = None
    successful: int = 0
    failed: int = 0
    working_time_s: float = 0.0
    birth: float | None = None
    last_heartbeat: float | None = None
    problem: str | None = None
    """Set when the hash is damaged or foreign; the other fields are then best effort."""
    supervisor: str = ""
    """Id of the ``thesis-worker`` supervisor that runs it; empty for a worker started otherwise
    (a plain ``rq worker``), which does not honour paused queues."""
    backend: Backend = Backend.RQ

    @property
    def honours_pause(self) -> bool:
        """Whether this worker takes no job from a paused queue (only supervised workers do)."""
        return bool(self.supervisor)


class BullLibrary(StrEnum):
    """The BullMQ library a worker runs on: each names its connections its own way."""

    NODE = "node"
    PYTHON = "python"


@dataclass(frozen=True)
class BullWorkerInfo:
    """One BullMQ worker as the server's client list shows it (BullMQ workers keep no record in Redis)."""

    queue: str
    library: BullLibrary
    name: str
    """The worker's ``name`` option; empty for an unnamed worker."""
    address: str
    """``host:port`` of its oldest connection, as the server sees it."""
    age_s: float
    """How long its oldest connection has been open."""
    idle_s: float
    """Since its last command on any of its connections."""
    connections: int = 1
    """Connections under the same name from the same host (unnamed workers of one host add up here)."""
    client_name: str = ""
    """The connection name BullMQ set, as the server shows it."""
    supervisor: str = ""
    """Id of the ``thesis-worker`` supervisor whose record lists it; empty otherwise."""
    backend: Backend = Backend.BULLMQ


@dataclass(frozen=True)
class ServerInfo:
    version: str = ""
    round_trip_ms: float | None = None
    used_memory_bytes: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything the overview shows, read in two pipelined round trips (three with BullMQ queues)."""

    taken_at: float
    queues: tuple[QueueCounts, ...]
    workers: tuple[WorkerInfo, ...]
    supervisors: tuple[SupervisorRecord, ...]
    server: ServerInfo = field(default_factory=ServerInfo)
    round_trips: int = 0
    bullmq_workers: tuple[BullWorkerInfo, ...] = ()
    bullmq_workers_problem: str | None = None
    """Why BullMQ workers could not be listed (the server refused ``CLIENT LIST``), or None."""

    def queue(self, name: str) -> QueueCounts:
        found = self._by_name.get(name)
        return found if found is not None else QueueCounts(name)

    @cached_property
    def _by_name(self) -> dict[str, QueueCounts]:
        # Built on first use: the watch rules and the metrics endpoint look up every queue by name.
        by_name: dict[str, QueueCounts] = {}
        for q in self.queues:
            by_name.setdefault(q.name, q)
        return by_name


@dataclass(frozen=True)
class JobRow:
    """One row of a job table. ``problem`` says what is wrong when the job hash is broken or foreign."""

    id: str
    queue: str
    state: JobState
    description: str = ""
    topic: str | None = None
    progress: int | None = None
    stage: str | None = None
    attempts_used: int | None = None
    retries_left: int | None = None
    enqueued_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration_s: float | None = None
    worker: str | None = None
    error_line: str | None = None
    problem: str | None = None
    scheduled_for: float | None = None
    status: str | None = None
    """RQ's own status field (``failed`` and ``stopped`` both show as FAILED), None when missing; for
    BullMQ the state, or for a scheduled job whether it waits out a retry back-off or a requested delay."""
    backend: Backend = Backend.RQ


@dataclass(frozen=True)
class JobPage:
    queue: str
    state: JobState
    offset: int
    total: int
    rows: tuple[JobRow, ...]


@dataclass(frozen=True)
class Payload:
    """A decoded value for display. A pickled value is never unpickled unless the profile trusts pickle:
    then ``kind`` is ``"pickled"``, ``value`` is None and ``size`` is its length in bytes."""

    kind: str  # "json" | "text" | "pickled" | "unpickled" | "binary" | "missing" | "error"
    value: Any = None
    size: int = 0
    note: str = ""


@dataclass(frozen=True)
class TimelineEvent:
    at: float | None
    what: str  # "enqueued" | "attempt" | "scheduled" | "ended" ...
    outcome: str = ""  # "completed" | "failed" | "retried" | "interrupted" | "stopped" | "canceled" | "running"
    ended_at: float | None = None
    worker: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class JobDetail:
    row: JobRow
    function: str | None
    args: Payload
    kwargs: Payload
    meta: Payload
    result: Payload
    traceback: str | None
    timeline: tuple[TimelineEvent, ...]
    raw_fields: dict[str, str]
    """Every field of the job hash, shortened for display, so nothing is hidden."""
    listed_in: tuple[JobState, ...] = ()
    """The registries of its queue that list the job (scheduled, deferred, completed, failed, canceled);
    a status that none of them agrees with is a contradiction worth showing."""
    logs: tuple[str, ...] = ()
    """The job's own log lines (BullMQ's ``job.log``); RQ jobs have none."""


class Measure(StrEnum):
    """What the charts show, for saying which of them an interval has no data for."""

    THROUGHPUT = "throughput"
    """Completed and failed counts, and the success rate made of them."""
    RUNTIME = "run time"
    DEPTH = "depth"


@dataclass(frozen=True)
class MetricPoint:
    start: float
    completed: int
    failed: int
    retried: int
    success_rate: float | None
    runtime_p50_s: float | None
    runtime_p95_s: float | None
    depth: int | None
    unrecorded: frozenset[Measure] = frozenset()
    """What nothing recorded in full for this interval: a chart shows "not recorded" there rather
    than the values (which are then 0, None, or only what happens to be known, a lower bound)."""


@dataclass(frozen=True)
class MetricSeries:
    queue: str
    step_s: int
    points: tuple[MetricPoint, ...]
    sources: tuple[str, ...] = ()
    """Where the figures come from, one sentence per measure, for a person (empty: the console's own
    per-minute metrics, which supervised workers record)."""

    def unrecorded(self, measure: Measure) -> int:
        """How many points have no data for ``measure``."""
        return sum(measure in p.unrecorded for p in self.points)


@dataclass(frozen=True)
class RetriedJob:
    """A job as it was before a retry requeued it: what undoing the retry puts back."""

    id: str
    status: str
    """RQ's status before the retry (failed, stopped or canceled)."""
    registry: str
    """The key of the registry it was in."""
    score: float
    pttl_ms: int
    """Its hash's time to live in milliseconds before the retry (negative: none)."""
    fields: tuple[bytes | None, ...]
    """``started_at``, ``ended_at``, ``exc_info`` and ``enqueued_at`` as they were (None: absent)."""


@dataclass(frozen=True)
class ActionResult:
    """What an action did: ids it changed, ids it skipped (with why), and ids it could not touch."""

    action: str
    done: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)
    undo: tuple[RetriedJob, ...] = ()
    """For a retry of chosen jobs: what ``QueueActions.undo_retry`` needs to put them back."""

    @property
    def summary(self) -> str:
        text = f"{self.action}: {len(self.done)} done"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


class CoreError(RuntimeError):
    """An error whose message is meant for a person."""


class ReadOnlyError(CoreError):
    """A mutation was refused because the connection profile is read-only."""


class ConnectionPhase(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


@dataclass(frozen=True)
class ConnectionState:
    """What the status area shows about the connection."""

    phase: ConnectionPhase
    profile: str
    server: str  # URL with the password redacted
    version: str = ""
    round_trip_ms: float | None = None
    read_only: bool = False
    reason: str = ""
    retry_at: float | None = None
    """For RECONNECTING: when the next attempt happens (Unix time), for a countdown."""
