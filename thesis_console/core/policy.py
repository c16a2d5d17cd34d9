"""Which job action applies to which job state, and why not when it does not.

The one table of the rule: the core's actions refuse with these reasons, the CLI reports them as
skip reasons, and the window enables its actions and writes its tooltips from it. States are
:class:`JobState` (the console's states, each backed by one RQ structure); RQ's own status strings
map onto them through :data:`rq_keys.STATUS_TO_STATE` (``failed`` and ``stopped`` are both FAILED).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from thesis_console.core.rq_keys import STATUS_TO_STATE
from thesis_console.core.types import Backend, JobState, ReadOnlyError


class JobAction(StrEnum):
    """What an operator can do to one job."""

    RETRY = "retry"
    CANCEL = "cancel"
    STOP = "stop"
    DELETE = "delete"
    PROMOTE = "promote"
    """Enqueue a scheduled job now instead of at its time."""


@dataclass(frozen=True)
class Verdict:
    """Whether an action applies; ``reason`` says why not (empty when it applies)."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


_YES = Verdict(True)

_NOT_ALLOWED: dict[JobAction, dict[JobState, str]] = {
    JobAction.RETRY: {
        JobState.WAITING: "a waiting job is already queued",
        JobState.ACTIVE: "a running job cannot be retried; stop it first",
        JobState.SCHEDULED: "a scheduled job will run at its time; enqueue it now instead",
        JobState.DEFERRED: "a deferred job waits for the jobs it depends on; it cannot be retried",
        JobState.COMPLETED: "a completed job cannot be retried; enqueue a new one",
    },
    JobAction.CANCEL: {
        JobState.ACTIVE: "a running job cannot be canceled; stop it instead",
        JobState.COMPLETED: "a completed job cannot be canceled; delete it instead",
        JobState.FAILED: "a failed job cannot be canceled; retry or delete it",
        JobState.CANCELED: "the job is already canceled",
    },
    JobAction.STOP: {
        JobState.WAITING: "a waiting job is not running; cancel it instead",
        JobState.SCHEDULED: "a scheduled job is not running; cancel it instead",
        JobState.DEFERRED: "a deferred job is not running; cancel it instead",
        JobState.COMPLETED: "a completed job is not running",
        JobState.FAILED: "a failed job is not running",
        JobState.CANCELED: "a canceled job is not running",
    },
    JobAction.DELETE: {
        JobState.ACTIVE: "a running job cannot be deleted; stop it first",
    },
    JobAction.PROMOTE: {
        JobState.WAITING: "a waiting job is already queued",
        JobState.ACTIVE: "a running job is already running",
        JobState.DEFERRED: "a deferred job waits for the jobs it depends on; it cannot be enqueued now",
        JobState.COMPLETED: "only scheduled jobs can be enqueued now; a completed job can be deleted",
        JobState.FAILED: "only scheduled jobs can be enqueued now; retry a failed job instead",
        JobState.CANCELED: "only scheduled jobs can be enqueued now; retry a canceled job instead",
    },
}

_DESTRUCTIVE = frozenset({JobAction.CANCEL, JobAction.STOP, JobAction.DELETE})
_UNDOABLE = frozenset({JobAction.RETRY})

_VERBS: dict[JobAction, tuple[str, str]] = {
    JobAction.RETRY: ("Retry", "retried"),
    JobAction.CANCEL: ("Cancel", "canceled"),
    JobAction.STOP: ("Stop", "stopped"),
    JobAction.DELETE: ("Delete", "deleted"),
    JobAction.PROMOTE: ("Enqueue now", "enqueued"),
}


_BULLMQ_NOT_ALLOWED: dict[JobAction, dict[JobState, str]] = {
    JobAction.RETRY: {**_NOT_ALLOWED[JobAction.RETRY], JobState.ACTIVE: "a running BullMQ job cannot be retried"},
    JobAction.CANCEL: {
        JobState.ACTIVE: "BullMQ cannot cancel a running job: its worker holds the job's lock",
        JobState.COMPLETED: "a completed job cannot be canceled; delete it instead",
        JobState.FAILED: "a failed job cannot be canceled; retry or delete it",
    },
    JobAction.STOP: {
        state: "BullMQ offers no way to stop a running job from outside its worker (bullmq 2.26 / Node 5.81)"
        for state in JobState
    },
    JobAction.DELETE: {JobState.ACTIVE: "BullMQ cannot delete a running job: its worker holds the job's lock"},
    JobAction.PROMOTE: _NOT_ALLOWED[JobAction.PROMOTE],
}
"""BullMQ's differences: cancel and delete both remove the job (BullMQ has no canceled state), and a
running job cannot be stopped, canceled or removed from outside."""


_BULLMQ_NOT_EMPTIED: dict[JobState, str] = {
    JobState.ACTIVE: "BullMQ cannot clean running jobs: their workers hold the jobs' locks",
    JobState.DEFERRED: "BullMQ's clean does not take jobs that wait for their children",
    JobState.CANCELED: "BullMQ has no canceled jobs: a removed job is deleted",
}
"""The states whose jobs BullMQ's ``cleanJobsInSet`` cannot remove as a whole."""


def verdict(action: JobAction, state: JobState, backend: Backend = Backend.RQ) -> Verdict:
    """Whether ``action`` applies to a job in ``state`` of a ``backend`` queue, with the reason when it does not."""
    table = _BULLMQ_NOT_ALLOWED if backend is Backend.BULLMQ else _NOT_ALLOWED
    reason = table[JobAction(action)].get(JobState(state))
    return _YES if reason is None else Verdict(False, reason)


RETRY_EFFECT: dict[Backend, str] = {
    Backend.RQ: "They go back to the end of the queue and run again.",
    Backend.BULLMQ: (
        "They go back to waiting and run again, each with a fresh set of attempts and its back-off "
        "(as BullMQ's own retry with resetAttemptsMade)."
    ),
}
"""What a retry does to a job, in each backend's words (the confirmations say it)."""


def empty_verdict(state: JobState, backend: Backend = Backend.RQ) -> Verdict:
    """Whether every job in ``state`` of a ``backend`` queue can be deleted at once ("Empty", BullMQ's clean)."""
    if backend is Backend.BULLMQ:
        reason = _BULLMQ_NOT_EMPTIED.get(JobState(state))
        return _YES if reason is None else Verdict(False, reason)
    return verdict(JobAction.DELETE, state)  # emptying a state deletes its jobs


def check_writable(read_only: bool, action: str) -> None:
    """The read-only rule of every mutation, checked before any I/O.

    Raises:
        ReadOnlyError: ``read_only`` is set (the profile's setting).
    """
    if read_only:
        raise ReadOnlyError(f"read-only profile: {action} refused")


def verdict_for_selection(action: JobAction, states: Iterable[JobState]) -> Verdict:
    """Whether ``action`` applies to a selection of jobs in ``states``: allowed when it applies to at
    least one of them (the others are skipped with their reason), else the first state's reason."""
    first: JobState | None = None
    for state in states:
        result = verdict(action, state)
        if result.allowed:
            return result
        first = first or JobState(state)
    return Verdict(False, "no job selected") if first is None else verdict(action, first)


def allowed_actions(state: JobState, backend: Backend = Backend.RQ) -> frozenset[JobAction]:
    """Every action that applies to a job in ``state`` of a ``backend`` queue."""
    if backend is Backend.BULLMQ:
        return frozenset(a for a in JobAction if verdict(a, state, backend))
    return _ALLOWED_BY_STATE[JobState(state)]


def states_allowing(action: JobAction) -> frozenset[JobState]:
    """Every state in which ``action`` applies."""
    return _STATES_BY_ACTION[JobAction(action)]


def state_of_status(status: str | None) -> JobState | None:
    """The state whose table shows a job with RQ status ``status``; None for a missing or unknown one."""
    return STATUS_TO_STATE.get(status) if status else None


def verdict_for_status(action: JobAction, status: str | None) -> Verdict:
    """:func:`verdict` for a job whose hash says ``status`` (RQ's word, as stored)."""
    state = state_of_status(status)
    if state is None:
        what = "no status" if not status else f"the unknown status {status!r}"
        return Verdict(False, f"the job hash has {what}")
    return verdict(action, state)


def statuses_allowing(action: JobAction) -> frozenset[str]:
    """RQ's status strings of the jobs ``action`` applies to (for the scripts that check them in Redis)."""
    allowed = states_allowing(action)
    return frozenset(status for status, state in STATUS_TO_STATE.items() if state in allowed)


def is_destructive(action: JobAction) -> bool:
    """True when the action loses work or data: it then asks for a confirmation first."""
    return JobAction(action) in _DESTRUCTIVE


def confirmation_needed(action: JobAction) -> bool:
    """True when a front end must ask before running ``action`` on selected jobs."""
    return is_destructive(action)


def undoable(action: JobAction) -> bool:
    """True when the core can undo the action while its jobs have not started (retry: back to failed)."""
    return JobAction(action) in _UNDOABLE


def verb(action: JobAction) -> str:
    """The imperative for buttons and menus ("Retry", "Enqueue now")."""
    return _VERBS[JobAction(action)][0]


def past_tense(action: JobAction) -> str:
    """The participle for reports ("retried", "canceled")."""
    return _VERBS[JobAction(action)][1]


_ALLOWED_BY_STATE: dict[JobState, frozenset[JobAction]] = {
    state: frozenset(a for a in JobAction if state not in _NOT_ALLOWED[a]) for state in JobState
}
_STATES_BY_ACTION: dict[JobAction, frozenset[JobState]] = {
    action: frozenset(s for s in JobState if s not in _NOT_ALLOWED[action]) for action in JobAction
}


class QueueAction(StrEnum):
    """What an operator can do to a whole queue."""

    PAUSE = "pause"
    """Supervised workers take no new job from it; running jobs finish, enqueueing still works."""
    RESUME = "resume"


PAUSE_EFFECT: dict[Backend, str] = {
    Backend.RQ: "supervised workers take no new job from it; running jobs finish",
    Backend.BULLMQ: "its workers (Node or Python) take no new job from it; running jobs finish",
}
"""What a pause does, in each backend's words (BullMQ's own pause stops every BullMQ worker)."""


def queue_verdict(action: QueueAction, paused: bool, read_only: bool = False) -> Verdict:
    """Whether ``action`` applies to a queue that is ``paused`` (or not) on a profile that is
    ``read_only`` (or not), with the reason when it does not."""
    if read_only:
        return Verdict(False, f"read-only profile: {QueueAction(action).value} refused")
    if QueueAction(action) is QueueAction.PAUSE and paused:
        return Verdict(False, "the queue is already paused")
    if QueueAction(action) is QueueAction.RESUME and not paused:
        return Verdict(False, "the queue is not paused")
    return _YES
