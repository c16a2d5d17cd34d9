"""Infrastructure interruptions of a job: counted apart from its code-error retries, and bounded.

A job whose worker or work horse was killed, or whose work horse lost Redis for longer than it could
wait, did not fail through its own code. Such a run is an *interruption*: the job goes back to the
front of its queue without using one of its retries (``retries_left`` is left alone), the run is
recorded in ``meta['attempts']`` with outcome ``interrupted`` and the kind of fault, and
``meta['interruptions']`` counts them. The :data:`MAX_INTERRUPTIONS`-th counted interruption fails
the job with that reason, so a job that kills its own work horse cannot loop for ever.

A run stopped by a shutdown is recorded the same way (fault ``stopped``) but not counted: an
operator restarting workers is no reason to give up on a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rq.job import Job

from worker_runner.worker import append_attempt, attempt_entry

INTERRUPTIONS_KEY = "interruptions"
MAX_INTERRUPTIONS = 5


class Fault(StrEnum):
    """What interrupted a run (the ``fault`` field of its attempt record)."""

    WORKER_KILLED = "worker_killed"
    """The worker or its work horse died (SIGKILL, out of memory, a crash, its host went down)."""
    CONNECTION_LOST = "connection_lost"
    """The work horse could not reach Redis to record how the job ended."""
    STOPPED = "stopped"
    """A shutdown stopped the run (not counted against the bound)."""

    @property
    def counted(self) -> bool:
        return self is not Fault.STOPPED


@dataclass(frozen=True)
class Interruption:
    """What :func:`note_interruption` decided for one interrupted run."""

    count: int
    """Counted interruptions of the job so far, this one included."""
    give_up: bool
    """The bound is reached: fail the job with :attr:`failure_text`."""
    failure_text: str


def interruptions_of(meta: dict[str, Any]) -> int:
    """Counted interruptions recorded in a job's meta (0 when absent or not a number)."""
    value = meta.get(INTERRUPTIONS_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def note_interruption(job: Job, fault: Fault, reason: str, worker_name: str) -> Interruption:
    """Count the interruption and append its attempt record to ``job.meta`` (the caller saves the job).

    ``job.meta`` must be fresh (read after the run ended), so that nothing the run wrote is lost.
    """
    count = interruptions_of(job.meta) + (1 if fault.counted else 0)
    job.meta[INTERRUPTIONS_KEY] = count
    give_up = fault.counted and count >= MAX_INTERRUPTIONS
    text = (
        f"interrupted {count} times by infrastructure faults (at most {MAX_INTERRUPTIONS}); last: {reason}"
        if give_up
        else ""
    )
    outcome = "failed" if give_up else "interrupted"
    append_attempt(job.meta, attempt_entry(job, outcome, worker_name, text or reason, fault=fault.value))
    return Interruption(count, give_up, text)
