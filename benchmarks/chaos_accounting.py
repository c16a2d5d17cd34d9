"""The chaos run's verdict: every job it enqueued accounted for from its own records, then a report.

Pure functions over what the run recorded (no Redis, no processes), so each way a run can fail is
covered by a unit test:

* the soak's own list of the jobs it enqueued and what each was designed to do;
* the job ledger (:mod:`benchmarks.soak_job`): each run's start, designed failure and completion,
  written by the job itself outside Redis;
* the queue's final word on each job, and the end states the run saw while it ran (a job trimmed by
  the count-based retention has no record at the end: the ledger or an observed end accounts for it);
* the faults injected: kills (which processes), Redis outages, scheduler-lock holder kills.

The same accounting serves both backends: each run turns its queue's own words (RQ's job statuses,
BullMQ's lists and events) into a :class:`JobStatus` and a :class:`Place`.

A job completed "twice" when the ledger has two ``done`` lines for it. One exception: a run that
wrote its ``done`` line and was SIGKILLed by the chaos run within :data:`AT_LEAST_ONCE_WINDOW_S`
(directly, or through its worker or supervisor), before the queue recorded the end, is rerun by design
(no queue can tell that kill from one a moment earlier); such reruns are counted apart and do not
fail the run. A Redis outage in that window stretches it to :data:`AT_LEAST_ONCE_WINDOW_S` after
Redis is back: the run waits for Redis to record its end, and can be killed while it waits.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from benchmarks.soak_job import Design, LedgerEvent, LedgerLine

AT_LEAST_ONCE_WINDOW_S = 2.0
"""A run killed this soon after writing ``done`` (or after Redis came back, when it was down
meanwhile) may be rerun legitimately (see the module text)."""
CONTEXT_BEFORE_S = 5.0
"""A fault this long before a failure, or while its retry waited, sets the retry's context."""
PARENT_DEATH_S = 0.5
"""How long a work horse may outlive the kill of its worker or supervisor (on a loaded machine)."""
RETRY_TARGET_S = 3.0
"""A retry should start within its back-off plus this (or this after Redis is back)."""


class JobStatus(StrEnum):
    """A job's status in the queue, in words both backends map to."""

    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELED = "canceled"
    WAITING = "waiting"
    """Queued, scheduled, deferred or delayed: it will run."""
    RUNNING = "running"
    OTHER = "other"

    @property
    def ended(self) -> bool:
        return self in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


class Verdict(StrEnum):
    COMPLETED = "completed"
    FAILED_AS_DESIGNED = "failed after retries (designed to)"
    STOPPED_ON_PURPOSE = "stopped on purpose"
    LOST = "lost"
    STUCK = "stuck (running, or waiting after the end)"
    SUCCEED_BUT_FAILED = "designed to succeed, failed"
    FAIL_BUT_COMPLETED = "designed to fail, completed"
    UNEXPECTED = "unexpected end state"

    @property
    def bad(self) -> bool:
        return self not in (Verdict.COMPLETED, Verdict.FAILED_AS_DESIGNED, Verdict.STOPPED_ON_PURPOSE)


class Place(StrEnum):
    """Where the queue holds a job at the end of the run."""

    NOWHERE = "nowhere"
    RUNNING = "running"
    """Taken by a worker: RQ's started registry or intermediate list, BullMQ's active list."""
    WAITING = "waiting"
    """Waiting to run: RQ's queue, scheduled or deferred registry; BullMQ's wait, delayed, prioritized or paused."""


@dataclass(frozen=True)
class EnqueuedJob:
    job_id: str
    design: Design
    topic: str
    chapters: int


@dataclass(frozen=True)
class FinalState:
    """The queue's view of one job at the end: its status (None when it keeps no record of it) and place."""

    status: JobStatus | None
    place: Place = Place.NOWHERE
    result: dict[str, Any] | None = None
    """The job's return value as the queue holds it, when it finished."""
    record_kept: bool | None = None
    """Whether the queue still keeps the job itself; None: as the status says (RQ's status lives in the job)."""

    @property
    def kept(self) -> bool:
        return self.record_kept if self.record_kept is not None else self.status is not None


@dataclass(frozen=True)
class Kill:
    """A SIGKILL by the chaos run, and which runs it ended: by horse pid, worker name or supervisor id."""

    at: float
    pids: frozenset[int] = frozenset()
    workers: frozenset[str] = frozenset()
    supervisors: frozenset[str] = frozenset()

    def ended_after_done(self, line: LedgerLine, outages: Iterable[tuple[float, float]] = ()) -> bool:
        """Whether this kill ended the run that wrote ``line`` (a ``done`` line) before the queue recorded it.

        A killed process (an RQ work horse, a BullMQ worker) wrote nothing after its kill. An RQ horse
        whose worker or supervisor was killed dies a moment later (the kernel's parent-death signal), so it may still have written
        its line within :data:`PARENT_DEATH_S` after the kill. ``outages`` (down, back) stretch the
        time the run may take to record its end (:func:`record_deadline`).
        """
        until = record_deadline(line.at, outages)
        if line.pid in self.pids:
            return line.at <= self.at <= until
        supervisor = line.worker.partition(".")[0] if "." in line.worker else ""
        if line.worker in self.workers or supervisor in self.supervisors:
            return line.at - PARENT_DEATH_S <= self.at <= until
        return False


def record_deadline(done_at: float, outages: Iterable[tuple[float, float]] = ()) -> float:
    """Until when a run that wrote ``done`` at ``done_at`` may not have recorded its end yet.

    :data:`AT_LEAST_ONCE_WINDOW_S` after the line; a Redis outage that begins before that moment and
    ends after the line moves it to :data:`AT_LEAST_ONCE_WINDOW_S` after Redis is back (the run
    waits for Redis, polling it about once a second, before it writes its end).
    """
    until = done_at + AT_LEAST_ONCE_WINDOW_S
    for down, back in sorted(outages):
        if down <= until and back >= done_at:
            until = max(until, back + AT_LEAST_ONCE_WINDOW_S)
    return until


@dataclass
class Accounting:
    verdicts: dict[str, Verdict]
    reasons: dict[str, str] = field(default_factory=dict)
    """Why, for each bad verdict."""
    trimmed: set[str] = field(default_factory=set)
    """Jobs whose hash retention removed, accounted for by the ledger or an observed end."""
    twice: dict[str, int] = field(default_factory=dict)
    """Job id -> completions in the ledger, for jobs completed more than once."""
    rerun_after_kill: set[str] = field(default_factory=set)
    """Jobs run again after a kill that landed between their ``done`` line and the queue's record of it."""
    bad_outputs: dict[str, str] = field(default_factory=dict)
    unknown_in_ledger: set[str] = field(default_factory=set)
    """Ids in the ledger that the run never enqueued."""

    def count(self) -> Counter:
        return Counter(self.verdicts.values())

    def problems(self) -> list[str]:
        """One line per thing that fails the run; empty when it passed."""
        found = [f"{job_id}: {v.value}: {self.reasons.get(job_id, '')}" for job_id, v in self.verdicts.items() if v.bad]
        found += [f"{job_id}: completed {n} times" for job_id, n in self.twice.items()]
        found += [f"{job_id}: output: {why}" for job_id, why in self.bad_outputs.items()]
        found += [f"{job_id}: in the ledger but never enqueued" for job_id in sorted(self.unknown_in_ledger)]
        return found


def account(
    enqueued: Mapping[str, EnqueuedJob],
    lines: Iterable[LedgerLine],
    final: Mapping[str, FinalState],
    seen_ended: Mapping[str, JobStatus],
    stopped_on_purpose: set[str],
    kills: Iterable[Kill],
    outages: Iterable[tuple[float, float]] = (),
) -> Accounting:
    """Give each enqueued job its verdict and find duplicate completions and wrong outputs.

    Args:
        seen_ended: per job, the last end status (finished, failed, stopped) the run saw in the queue.
        outages: the Redis outages, (down, back) times.
    """
    by_job: dict[str, list[LedgerLine]] = defaultdict(list)
    for line in sorted(lines, key=lambda item: item.at):
        by_job[line.job_id].append(line)
    kills = list(kills)
    outages = list(outages)
    acc = Accounting(verdicts={}, unknown_in_ledger=set(by_job) - set(enqueued))
    for job_id, job in enqueued.items():
        runs = by_job.get(job_id, [])
        done = [line for line in runs if line.event is LedgerEvent.DONE]
        _count_completions(acc, job_id, done, kills, outages)
        state = final.get(job_id, FinalState(None))
        verdict, reason = _verdict(job, state, done, seen_ended.get(job_id), job_id in stopped_on_purpose)
        if not state.kept and verdict in (Verdict.COMPLETED, Verdict.FAILED_AS_DESIGNED, Verdict.STOPPED_ON_PURPOSE):
            acc.trimmed.add(job_id)
        acc.verdicts[job_id] = verdict
        if reason:
            acc.reasons[job_id] = reason
        if verdict is Verdict.COMPLETED:
            why = check_output(job, done[-1].result if done else None, state.result)
            if why:
                acc.bad_outputs[job_id] = why
    return acc


def _count_completions(
    acc: Accounting, job_id: str, done: list[LedgerLine], kills: list[Kill], outages: list[tuple[float, float]]
) -> None:
    if len(done) < 2:
        return
    explained = all(
        any(k.ended_after_done(line, outages) for k in kills) for line in done[:-1]
    )
    if explained:
        acc.rerun_after_kill.add(job_id)
    else:
        acc.twice[job_id] = len(done)


def _verdict(
    job: EnqueuedJob, state: FinalState, done: list[LedgerLine], seen: JobStatus | None, stopped: bool
) -> tuple[Verdict, str]:
    designed_to_fail = job.design is Design.FAIL_ALWAYS
    status = state.status
    if status is None:  # no record: retention trimmed it after its end, or it was lost
        if done:
            status = JobStatus.FINISHED
        elif seen is not None and seen.ended:
            status = seen
        else:
            return Verdict.LOST, "no record in the queue, no completion in the ledger, never seen ended"
    if state.place is Place.RUNNING:
        return Verdict.STUCK, f"still {status.value}, taken by a worker"
    if status is JobStatus.FINISHED:
        if designed_to_fail:
            return Verdict.FAIL_BUT_COMPLETED, "finished"
        if not done:
            return Verdict.UNEXPECTED, "finished in the queue, but no run completed in the ledger"
        return Verdict.COMPLETED, ""
    if status is JobStatus.FAILED:
        if designed_to_fail:
            return Verdict.FAILED_AS_DESIGNED, ""
        return Verdict.SUCCEED_BUT_FAILED, f"failed ({job.design.value})"
    if status is JobStatus.STOPPED:
        return (Verdict.STOPPED_ON_PURPOSE, "") if stopped else (Verdict.UNEXPECTED, "stopped, but nobody stopped it")
    if status in (JobStatus.WAITING, JobStatus.RUNNING) or state.place is Place.WAITING:
        return Verdict.STUCK, f"still {status.value} after the run"
    return Verdict.UNEXPECTED, f"status {status.value}"


def check_output(job: EnqueuedJob, ledger_result: dict[str, Any] | None, stored_result: dict[str, Any] | None) -> str | None:
    """Why a completed job's output is wrong, or None: the ledger's result, the document, the queue's copy."""
    if not isinstance(ledger_result, dict):
        return "the ledger's done line has no result"
    if stored_result is not None and stored_result != ledger_result:
        return f"the queue holds another result than the last completed run: {stored_result!r}"
    path = Path(str(ledger_result.get("path", "")))
    if not path.name.endswith(f"-{job.job_id}.md"):
        return f"document {path.name!r} is not named after the job"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"document unreadable: {exc.strerror or exc}"
    if ledger_result.get("title") != job.topic or not text.startswith(f"# {job.topic}\n"):
        return "the document's title is not the requested topic"
    if ledger_result.get("chapters") != job.chapters or text.count("\n## ") != job.chapters + 2:  # + contents, references
        return f"the document does not have the {job.chapters} chapters asked for"
    if ledger_result.get("words") != len(text.split()):
        return f"the result says {ledger_result.get('words')} words, the document has {len(text.split())}"
    return None


# ------------------------------------------------------------------ retry schedule
class RetryContext(StrEnum):
    NORMAL = "normal"
    AFTER_LOCK_HOLDER_KILL = "after the scheduler-lock holder was killed"
    AFTER_REDIS_RESTART = "after a Redis restart"


@dataclass(frozen=True)
class RetrySample:
    job_id: str
    failed_attempt: int
    backoff_s: float
    enqueue_lateness_s: float
    """When the retry was put back in the queue minus when it was due (what the scheduler governs)."""
    start_lateness_s: float
    """When the retry started minus when it was due (adds the wait behind the queue's backlog)."""
    context: RetryContext


def retry_samples(
    lines: Iterable[LedgerLine],
    intervals_s: tuple[int, ...],
    outages: Iterable[tuple[float, float]] = (),
    holder_kills: Iterable[float] = (),
) -> list[RetrySample]:
    """Lateness of each retry after a designed failure, with the faults that could delay it.

    A designed failure of attempt n at time t makes attempt n+1 due at t + back-off (``intervals_s``).
    Lateness is measured twice: to the moment RQ's scheduler put the job back in its queue (the
    ``enqueued_at`` of the next ``start`` line: when a worker that took the retry died before
    running it, this is when the job was put back after that; for BullMQ, the job's last ``waiting``
    event before the start) and to the start of attempt n+1. When
    Redis was down at the due time, the due time is the moment Redis was back. Context: "after a
    Redis restart" when an outage fell between :data:`CONTEXT_BEFORE_S` before the failure and the
    re-enqueue; else "after the scheduler-lock holder was killed" when such a kill did; else normal.
    A retry whose next start is a later attempt (a kill used a retry meanwhile) is left out: its
    schedule is the kill's, not the failure's.
    """
    outages = sorted(outages)
    holder_kills = sorted(holder_kills)
    by_job: dict[str, list[LedgerLine]] = defaultdict(list)
    for line in sorted(lines, key=lambda item: item.at):
        by_job[line.job_id].append(line)
    samples = []
    for job_id, runs in by_job.items():
        for i, line in enumerate(runs):
            if line.event is not LedgerEvent.FAIL or not 1 <= line.attempt <= len(intervals_s):
                continue
            nxt = next((r for r in runs[i + 1 :] if r.event is LedgerEvent.START), None)
            if nxt is None or nxt.attempt != line.attempt + 1:
                continue
            back_in_queue = nxt.enqueued_at if nxt.enqueued_at is not None else nxt.at
            backoff = float(intervals_s[line.attempt - 1])
            due = line.at + backoff
            for down, back in outages:
                if down <= due <= back:
                    due = back
            since = line.at - CONTEXT_BEFORE_S
            if any(down <= back_in_queue and back >= since for down, back in outages):
                context = RetryContext.AFTER_REDIS_RESTART
            elif any(since <= k <= back_in_queue for k in holder_kills):
                context = RetryContext.AFTER_LOCK_HOLDER_KILL
            else:
                context = RetryContext.NORMAL
            samples.append(RetrySample(job_id, line.attempt, backoff, back_in_queue - due, nxt.at - due, context))
    return samples


# ------------------------------------------------------------------ faults and report
class FaultKind(StrEnum):
    KILL_HORSE = "SIGKILL of a work horse (mid-job)"
    KILL_WORKER = "SIGKILL of a busy worker"
    KILL_SCHEDULER_HOLDER = "SIGKILL of the scheduler-lock holder"
    KILL_SUPERVISOR = "SIGKILL of a supervisor (replaced)"
    STOP_SUPERVISOR = "SIGTERM of a supervisor (replaced)"
    RESIZE = "resize through Redis"
    STOP_JOB = "stop of a running job (core)"
    REDIS_SHUTDOWN = "Redis SHUTDOWN + restart"
    REDIS_SIGKILL = "Redis SIGKILL + restart"


RECOVERY_MEANING = {
    FaultKind.KILL_HORSE: "its job no longer held by the dead process (back, or failed)",
    FaultKind.KILL_WORKER: "its job no longer held by the dead worker (back, or failed)",
    FaultKind.KILL_SCHEDULER_HOLDER: "a live scheduler holds the lock again",
    FaultKind.KILL_SUPERVISOR: "all its jobs no longer held by its dead workers",
    FaultKind.STOP_SUPERVISOR: "the supervisor exited (running jobs finished)",
    FaultKind.RESIZE: "live workers = the new size",
    FaultKind.STOP_JOB: "the job is stopped",
    FaultKind.REDIS_SHUTDOWN: "a job starts after Redis is back",
    FaultKind.REDIS_SIGKILL: "a job starts after Redis is back",
}


@dataclass(frozen=True)
class FaultRecord:
    kind: FaultKind
    at: float
    recovery_s: float | None
    """None: not recovered before the run ended (or nothing to recover)."""


def _median_max(values: list[float]) -> str:
    if not values:
        return "- | -"
    return f"{statistics.median(values):.2f} s | {max(values):.2f} s"


@dataclass
class ChaosReport:
    title: str
    elapsed_s: float
    enqueued: int
    enqueued_during_faults: int
    accounting: Accounting
    faults: list[FaultRecord]
    retries: list[RetrySample]
    outage_workers: list[tuple[FaultKind, int, int]] = field(default_factory=list)
    """Per Redis outage: its kind, worker processes alive before it, how many of them it ended."""
    ledger_unreadable: int = 0
    notes: list[str] = field(default_factory=list)
    queue_problems: list[str] = field(default_factory=list)
    """What the queue's own records show wrong (for BullMQ: two end events for one job, a gap in its events)."""
    fault_kinds: tuple[FaultKind, ...] = tuple(FaultKind)
    """The kinds of fault this backend's run injects (the table lists these)."""

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        found = self.accounting.problems() + list(self.queue_problems)
        missing = self.enqueued - len(self.accounting.verdicts)
        if missing:
            found.append(f"{missing} enqueued jobs have no verdict")
        died = sum(d for _, _, d in self.outage_workers)
        if died:
            found.append(f"{died} worker processes died in Redis outages (a short outage should end none)")
        if self.ledger_unreadable:
            found.append(f"{self.ledger_unreadable} ledger lines could not be read")
        return found

    def table(self) -> str:
        """Markdown tables (outcomes, faults, retry lateness), then each problem."""
        acc = self.accounting
        counts = acc.count()
        out = [
            f"{self.title}, {self.elapsed_s:.0f} s; {self.enqueued} jobs enqueued, "
            f"{self.enqueued_during_faults} of them while faults were being injected",
            "",
            "| Outcome | Jobs |",
            "|---|---|",
        ]
        for verdict in Verdict:
            value = counts.get(verdict, 0)
            out.append(f"| {verdict.value} | {f'**{value}**' if verdict.bad else value} |")
        out.append(f"| completed twice (two `done` lines in the ledger) | **{len(acc.twice)}** |")
        out.append(f"| wrong output | **{len(acc.bad_outputs)}** |")
        out.append(f"| rerun after a kill between `done` and the queue's record | {len(acc.rerun_after_kill)} |")
        out.append(f"| accounted for after retention trimmed them | {len(acc.trimmed)} |")
        out += ["", "| Fault | Count | Recovery median | Recovery max | Recovered when |", "|---|---|---|---|---|"]
        for kind in self.fault_kinds:
            records = [f for f in self.faults if f.kind is kind]
            times = [f.recovery_s for f in records if f.recovery_s is not None]
            unrecovered = len(records) - len(times)
            extra = f" ({unrecovered} not measured)" if unrecovered else ""
            out.append(f"| {kind.value} | {len(records)}{extra} | {_median_max(times)} | {RECOVERY_MEANING[kind]} |")
        for kind in (FaultKind.REDIS_SHUTDOWN, FaultKind.REDIS_SIGKILL):
            rows = [(before, died) for k, before, died in self.outage_workers if k is kind]
            if rows:
                out.append(
                    f"| {kind.value}: worker processes that died in the outage | "
                    f"{sum(d for _, d in rows)} of {sum(b for b, _ in rows)} | | | same pids before and after |"
                )
        out += [
            "",
            "| Retry after a designed failure | Retries | Back in the queue, late by: median | max "
            f"| over {RETRY_TARGET_S:g} s | Started, late by: median | max |",
            "|---|---|---|---|---|---|---|",
        ]
        for context in RetryContext:
            if context is RetryContext.AFTER_LOCK_HOLDER_KILL and FaultKind.KILL_SCHEDULER_HOLDER not in self.fault_kinds:
                continue
            chosen = [s for s in self.retries if s.context is context]
            queued = [s.enqueue_lateness_s for s in chosen]
            over = sum(1 for value in queued if value > RETRY_TARGET_S)
            started = [s.start_lateness_s for s in chosen]
            out.append(f"| {context.value} | {len(chosen)} | {_median_max(queued)} | {over} | {_median_max(started)} |")
        problems = self.problems()
        out += ["", f"verdict: {'PASS' if not problems else 'FAIL'}"]
        out += [f"  problem: {p}" for p in problems[:40]]
        if len(problems) > 40:
            out.append(f"  ... and {len(problems) - 40} more")
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)

