"""``enqueue_thesis``: the one way the console, the CLI and any other producer create thesis jobs."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis

from thesis_console.core import contract
from thesis_console.core.queue_names import check_queue_name
from thesis_console.core.thesis_request import InvalidRequest, ThesisRequest

MAX_DELAY_S = 366 * 24 * 3600.0
"""The furthest ahead a job may be scheduled: a year and a day."""


def check_delay(delay_s: float) -> float:
    """``delay_s`` when it is a number of seconds from 0 to :data:`MAX_DELAY_S`.

    Raises:
        InvalidRequest: it is negative, too large, infinite or not a number.
    """
    if isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)) or not 0 <= delay_s <= MAX_DELAY_S:
        raise InvalidRequest("delay", f"must be a number of seconds from 0 to {MAX_DELAY_S:.0f} (a year), got {delay_s!r}")
    return float(delay_s)


def enqueue_thesis(
    connection: Redis,
    request: ThesisRequest,
    *,
    queue_name: str | None = None,
    at_front: bool = False,
    delay_s: float = 0.0,
) -> str:
    """Queue one thesis job and return its id at once, as the original producer did.

    The request is validated when it is built, so nothing is written for a bad one.

    Args:
        connection: a synchronous Redis client.
        request: the validated request.
        queue_name: the queue to use; defaults to the contract's queue.
        at_front: put the job at the front of the queue (priority).
        delay_s: schedule the job this many seconds from now instead of queueing it now.

    Returns:
        The new job's id.

    Raises:
        InvalidRequest: the delay is out of range (see :func:`check_delay`).
        InvalidQueueName: the queue name breaks the rule of :mod:`queue_names`.
    """
    check_delay(delay_s)
    pol = contract.policy(queue_name)
    check_queue_name(pol.queue_name)
    queue = contract.thesis_queue(connection, pol.queue_name)
    options = dict(
        kwargs={"request": request.to_json()},
        job_timeout=pol.job_timeout_s,
        result_ttl=pol.completed_ttl_s,
        failure_ttl=pol.failed_ttl_s,
        retry=pol.retry(),
        description=f"Thesis: {request.topic.strip()}",
        meta={
            contract.KIND_KEY: contract.THESIS_KIND,
            "topic": request.topic.strip(),
            contract.PROGRESS_KEY: 0,
            contract.STAGE_KEY: "scheduled" if delay_s else "queued",
        },
        at_front=at_front,
    )
    if delay_s:
        job = queue.enqueue_in(timedelta(seconds=delay_s), contract.JOB_FUNCTION, **options)
    else:
        job = queue.enqueue(contract.JOB_FUNCTION, **options)
    return str(job.id)
