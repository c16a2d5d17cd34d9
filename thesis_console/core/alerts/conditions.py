"""The rules applied to what was read: which conditions hold right now, per queue, job and supervisor.

Pure functions of :class:`WatchData`, the rules and the time; whether a condition has held long
enough to fire, and what was notified before, is :mod:`thesis_console.core.alerts.tracker`'s job.
The data classes are the core's own (snapshot, workers, metric buckets), not RQ's: BullMQ queues,
filled from BullMQ's keys by :mod:`thesis_console.core.alerts.watch_data`, are watched by the same
rules. Where the data cannot tell (the server refused ``CLIENT LIST``, so BullMQ's workers are not
known), a rule does not fire: "no live worker" is then unknown, not zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from thesis_console.core.alerts.rules import AlertRules, RuleKind, RuleSettings, Severity
from thesis_console.core.alerts.watch_data import ActiveJob, QueueWatch, WatchData
from thesis_console.core.types import Backend, JobState, QueueCounts, Snapshot


@dataclass(frozen=True)
class Condition:
    """A rule's condition that holds now.

    Attributes:
        rule: the rule.
        queue: the queue it is about ("" for a supervisor).
        subject: what exactly: the queue's name, a job id or a supervisor id.
        severity: the rule's severity.
        message: one line for a person.
        value: the measured figure (a share, a count or seconds) compared with the threshold.
        since: the earliest time the data shows the condition held, or None when only "now" is known.
    """

    rule: RuleKind
    queue: str
    subject: str
    severity: Severity
    message: str
    value: float
    since: float | None = None

    @property
    def key(self) -> str:
        return alert_key(self.rule, self.queue, self.subject)


def alert_key(rule: RuleKind, queue: str, subject: str) -> str:
    """The identity of one alert: the same rule on the same subject is the same alert."""
    return f"{rule.value}|{queue}|{subject}"


def minutes_needed(rules: AlertRules) -> int:
    """Minute buckets per queue that the enabled rules look at (at least the current one)."""
    needed = 1
    failure = rules.get(RuleKind.FAILURE_RATE)
    if failure.enabled:
        needed = max(needed, math.ceil(failure.window_s / 60))
    depth = rules.get(RuleKind.WAITING_DEPTH)
    if depth.enabled:
        needed = max(needed, math.ceil(depth.for_s / 60) + 1)
    return min(needed, 360)


class LiveWorkers:
    """The live workers that serve each queue, per backend: RQ workers by their hashes (a worker's
    hash expires when it dies), BullMQ workers by their connections in the server's client list."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._serving: dict[tuple[Backend, str], int] = {}
        for worker in snapshot.workers:
            for queue in worker.queues:
                self._add(Backend.RQ, queue)
        for bull in snapshot.bullmq_workers:
            self._add(Backend.BULLMQ, bull.queue)
        self._unknown = {Backend.BULLMQ} if snapshot.bullmq_workers_problem else set()

    def _add(self, backend: Backend, queue: str) -> None:
        self._serving[(backend, queue)] = self._serving.get((backend, queue), 0) + 1

    def of(self, queue: QueueCounts) -> int | None:
        """How many live workers serve ``queue``; None when its backend's workers could not be listed."""
        if queue.backend in self._unknown:
            return None
        return self._serving.get((queue.backend, queue.name), 0)


def failure_window(queue: QueueWatch, window_s: float) -> tuple[int, int]:
    """Completed and failed jobs of the last ``window_s`` seconds (whole minutes, the current one included)."""
    buckets = queue.minutes[-max(1, math.ceil(window_s / 60)) :]
    return sum(b.completed for b in buckets), sum(b.failed for b in buckets)


def progress_age(job: ActiveJob, now: float) -> float | None:
    """Seconds since the job's progress last changed; None when it never reported progress."""
    at = job.last_progress_at
    return None if at is None else max(0.0, now - at)


def evaluate(data: WatchData, rules: AlertRules, now: float) -> list[Condition]:
    """Every condition of an enabled rule that holds at ``now``."""
    return list(_conditions(data, rules, now))


def _conditions(data: WatchData, rules: AlertRules, now: float) -> Iterator[Condition]:
    live = LiveWorkers(data.snapshot)
    live_names = {w.name for w in data.snapshot.workers}
    counts_of = {(q.backend, q.name): q for q in data.snapshot.queues}
    for queue in data.queues:
        counts = counts_of.get((queue.backend, queue.name)) or QueueCounts(queue.name, queue.backend)
        waiting = counts.count(JobState.WAITING)
        yield from _failure_rate(queue, rules.get(RuleKind.FAILURE_RATE))
        yield from _waiting_depth(queue, waiting, rules.get(RuleKind.WAITING_DEPTH))
        yield from _oldest_waiting(queue, waiting, rules.get(RuleKind.OLDEST_WAITING), now)
        yield from _no_worker(queue.name, waiting, live.of(counts), rules.get(RuleKind.NO_WORKER))
        yield from _stuck(queue, live_names, rules.get(RuleKind.STUCK_JOB), now)
    yield from _silent_supervisors(data, rules.get(RuleKind.SUPERVISOR_SILENT), now)


def worker_alive(job: ActiveJob, live_names: set[str]) -> bool:
    """Whether a running job's worker is alive: as the job's data shows it (BullMQ's lock), else by
    the worker's name among the live RQ workers."""
    return job.worker_alive if job.worker_alive is not None else job.worker in live_names


def _failure_rate(queue: QueueWatch, s: RuleSettings) -> Iterator[Condition]:
    if not s.enabled:
        return
    completed, failed = failure_window(queue, s.window_s)
    ended = completed + failed
    if ended == 0 or ended < s.min_ended:
        return
    rate = failed / ended
    if rate > s.threshold:
        yield Condition(
            RuleKind.FAILURE_RATE, queue.name, queue.name, s.severity,
            f"{queue.name}: {rate:.0%} of {ended} ended jobs failed in the last "
            f"{describe_duration(s.window_s)} (limit {s.threshold:.0%})",
            rate,
        )  # fmt: skip


def _waiting_depth(queue: QueueWatch, waiting: int, s: RuleSettings) -> Iterator[Condition]:
    if not s.enabled or waiting <= s.threshold:
        return
    yield Condition(
        RuleKind.WAITING_DEPTH, queue.name, queue.name, s.severity,
        f"{queue.name}: {waiting} jobs waiting (limit {s.threshold:g}) for {describe_duration(s.for_s)} or more",
        waiting, _deep_since(queue, s.threshold),
    )  # fmt: skip


def _deep_since(queue: QueueWatch, threshold: float) -> float | None:
    """Start of the earliest minute of the latest unbroken run of depth samples above ``threshold``.

    Supervisors sample the depth once a minute, so one minute without a sample is jitter; two are a gap.
    """
    since = None
    gap = 0
    for bucket in reversed(queue.minutes):
        if bucket.depth is None:
            gap += 1
            if gap >= 2:
                break
            continue
        if bucket.depth <= threshold:
            break
        gap = 0
        since = bucket.start
    return since


def _oldest_waiting(queue: QueueWatch, waiting: int, s: RuleSettings, now: float) -> Iterator[Condition]:
    if not s.enabled or waiting == 0 or queue.head_enqueued_at is None:
        return
    age = now - queue.head_enqueued_at
    if age > s.threshold:
        yield Condition(
            RuleKind.OLDEST_WAITING, queue.name, queue.name, s.severity,
            f"{queue.name}: the next waiting job ({queue.head_job}) has waited {describe_duration(age)} "
            f"(limit {describe_duration(s.threshold)})",
            age, queue.head_enqueued_at + s.threshold,
        )  # fmt: skip


def _no_worker(queue: str, waiting: int, live: int | None, s: RuleSettings) -> Iterator[Condition]:
    # live None: the workers could not be listed; unknown is not "none".
    if not s.enabled or waiting <= s.threshold or live is None or live > 0:
        return
    yield Condition(
        RuleKind.NO_WORKER, queue, queue, s.severity,
        f"{queue}: {waiting} jobs waiting and no live worker serves the queue",
        waiting,
    )  # fmt: skip


def _stuck(queue: QueueWatch, live_names: set[str], s: RuleSettings, now: float) -> Iterator[Condition]:
    if not s.enabled:
        return
    for job in queue.active:
        age = progress_age(job, now)
        if age is None or age <= s.threshold or not worker_alive(job, live_names):
            continue
        at = f" at {job.progress} %" if job.progress is not None else ""
        stage = f" ({job.stage})" if job.stage else ""
        worker = f"live worker {job.worker}" if job.worker else "a live worker (its lock is held)"
        yield Condition(
            RuleKind.STUCK_JOB, queue.name, job.id, s.severity,
            f"{queue.name}: job {job.id} has made no progress for {describe_duration(age)}{at}{stage} "
            f"on {worker}; stop it?",
            age, (job.last_progress_at or now) + s.threshold,
        )  # fmt: skip


def _silent_supervisors(data: WatchData, s: RuleSettings, now: float) -> Iterator[Condition]:
    if not s.enabled:
        return
    for beat in data.supervisors:
        last = max(beat.heartbeat_at, beat.record.heartbeat_at if beat.record else 0.0)
        age = now - last
        if age <= s.threshold:
            continue
        where = f" on {beat.record.host}" if beat.record else ""
        yield Condition(
            RuleKind.SUPERVISOR_SILENT, "", beat.id, s.severity,
            f"supervisor {beat.id}{where} has not sent a heartbeat for {describe_duration(age)} "
            f"(limit {describe_duration(s.threshold)})",
            age, last + s.threshold,
        )  # fmt: skip


def describe_duration(seconds: float) -> str:
    """``45 s``, ``17 min``, ``2 h 5 min``, ``3 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
