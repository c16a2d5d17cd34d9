"""Where RQ 3.0 keeps each thing in Redis, and which structure backs each console state.

RQ's classes know these names too, but building a ``Queue`` or a registry to learn a key is not
needed, and several of their methods clean up (move jobs, call callbacks) when they read. The
console only needs the names, so they are restated here from ``rq/registry.py``, ``rq/queue.py``,
``rq/results.py``, ``rq/executions.py`` and ``rq/worker/base.py`` of rq 3.0.0, honouring
``RQ_KEY_PREFIX`` as RQ does.
"""

from __future__ import annotations

from dataclasses import dataclass

from rq.defaults import RQ_KEY_PREFIX

from thesis_console.core.types import JobState

P = RQ_KEY_PREFIX

QUEUES_KEY = f"{P}:queues"
"""Set of ``rq:queue:{name}`` keys of every queue that ever had a job."""
QUEUE_KEY_PREFIX = f"{P}:queue:"
WORKERS_KEY = f"{P}:workers"
"""Set of ``rq:worker:{name}`` keys of every registered worker."""
WORKER_KEY_PREFIX = f"{P}:worker:"
JOB_KEY_PREFIX = f"{P}:job:"


def queue_key(queue: str) -> str:
    return f"{QUEUE_KEY_PREFIX}{queue}"


def job_key(job_id: str) -> str | bytes:
    return raw_key(f"{JOB_KEY_PREFIX}{job_id}")


def job_key_text(job_id: str) -> str:
    """The job's key for messages: printable, with \\x escapes for bytes that are not UTF-8."""
    raw = job_key(job_id)
    return raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw


def raw_key(key: str) -> str | bytes:
    """``key`` as Redis knows it: ids that were not UTF-8 travel as surrogate escapes and go back as bytes."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogateescape")
    return key


def results_key(job_id: str) -> str | bytes:
    """Stream of the job's results (newest last, at most 10), ``rq.results.Result.get_key``."""
    return raw_key(f"{P}:results:{job_id}")


def executions_key(job_id: str) -> str:
    """Sorted set of the job's running execution ids, ``rq.executions.ExecutionRegistry``."""
    return f"{P}:executions:{job_id}"


def execution_key(job_id: str, execution_id: str) -> str:
    return f"{P}:execution:{job_id}:{execution_id}"


def worker_executions_key(worker_name: str) -> str:
    """Set of ``job_id:execution_id`` a worker is running (RQ 3 has no ``current_job`` field)."""
    return f"{P}:worker:{worker_name}:executions"


@dataclass(frozen=True)
class StateSource:
    """The Redis structure behind one state of one queue, and how a page walks it.

    Attributes:
        key: the list or sorted set.
        is_list: a list (LRANGE) rather than a sorted set (ZRANGE by rank).
        newest_first: walk from the highest score down (completed, failed, canceled).
        composite_members: members are ``job_id:execution_id`` (the started registry).
    """

    key: str
    is_list: bool = False
    newest_first: bool = False
    composite_members: bool = False


def state_source(queue: str, state: JobState) -> StateSource:
    """The structure that holds ``queue``'s jobs in ``state``."""
    if state is JobState.WAITING:
        return StateSource(queue_key(queue), is_list=True)
    if state is JobState.ACTIVE:
        return StateSource(f"{P}:wip:{queue}", composite_members=True)
    if state is JobState.SCHEDULED:
        return StateSource(f"{P}:scheduled:{queue}")
    if state is JobState.DEFERRED:
        return StateSource(f"{P}:deferred:{queue}")
    if state is JobState.COMPLETED:
        return StateSource(f"{P}:finished:{queue}", newest_first=True)
    if state is JobState.FAILED:
        return StateSource(f"{P}:failed:{queue}", newest_first=True)
    if state is JobState.CANCELED:
        return StateSource(f"{P}:canceled:{queue}", newest_first=True)
    raise ValueError(f"unknown state {state!r}")


def job_id_of_member(member: str) -> str:
    """The job id of a started-registry member ``job_id:execution_id``.

    Execution ids are hex without a colon, so splitting at the last colon also keeps job ids that
    contain one; a member without a colon (older RQ) is a plain job id.
    """
    return member.rsplit(":", 1)[0] if ":" in member else member


STATUS_TO_STATE: dict[str, JobState] = {
    "queued": JobState.WAITING,
    "created": JobState.WAITING,
    "rate_limited": JobState.WAITING,
    "started": JobState.ACTIVE,
    "scheduled": JobState.SCHEDULED,
    "deferred": JobState.DEFERRED,
    "ready_to_enqueue": JobState.DEFERRED,
    "finished": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "stopped": JobState.FAILED,
    "canceled": JobState.CANCELED,
}
"""RQ job statuses (``rq.job.JobStatus``) mapped to the state whose table shows them."""
