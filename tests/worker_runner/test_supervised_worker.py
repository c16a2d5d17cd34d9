"""A supervised worker's run that ends before its work horse started, against a real Redis.

RQ's pop moves the job into the queue's intermediate list; the work horse takes it out as it starts.
These runs end before that (the job is stopped, or the horse dies or cannot reach Redis): the worker
handles the end with its real methods, then a real worker process runs whatever was put back.
"""

from __future__ import annotations

from rq import Retry
from rq.job import Job, JobStatus

from tests.burst_worker import run_burst
from thesis_console.core import contract
from worker_runner.interruptions import Fault
from worker_runner.supervised_worker import SupervisedThesisWorker


def _popped(conn, retries: int | None = None):
    """A job popped and given an execution by a supervised worker whose horse has not started yet."""
    queue = contract.thesis_queue(conn)
    job = queue.enqueue("tests.jobs.noop", retry=Retry(max=retries) if retries else None)
    worker = SupervisedThesisWorker([queue], name="sup-a.ab12-1", connection=conn)
    worker.register_birth()
    dequeued, dequeued_from = worker.dequeue_job_and_maintain_ttl(timeout=1)
    assert dequeued.id == job.id
    assert conn.lrange(queue.intermediate_queue_key, 0, -1) == [job.id.encode()]
    execution = worker.prepare_execution(dequeued)
    return worker, dequeued, dequeued_from, execution


def test_a_job_put_back_before_its_horse_started_is_not_left_in_the_intermediate_list(redis_conn):
    worker, job, queue, execution = _popped(redis_conn)
    worker.handle_job_interrupted(job, queue, execution, Fault.WORKER_KILLED, "the work horse was killed by signal 9")
    assert redis_conn.lrange(queue.key, 0, -1) == [job.id.encode()]
    assert redis_conn.llen(queue.intermediate_queue_key) == 0
    run_burst(redis_conn, ["thesis"])  # its next run, in a real worker process
    again = Job.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER)
    assert again.get_status() == JobStatus.FINISHED
    assert redis_conn.llen(queue.intermediate_queue_key) == 0  # no finished copy left behind
    assert redis_conn.zcard("rq:wip:thesis") == 0


def test_a_job_stopped_before_its_horse_started_is_not_left_in_the_intermediate_list(redis_conn):
    worker, job, queue, execution = _popped(redis_conn, retries=2)
    worker._stopped_job_id = job.id  # as RQ's stop-job command sets it before killing the horse
    worker._handle_stopped_job(job, queue, execution)
    again = Job.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER)
    assert again.get_status() == JobStatus.STOPPED
    assert redis_conn.llen(queue.intermediate_queue_key) == 0
    assert redis_conn.llen(queue.key) == 0 and redis_conn.zcard("rq:wip:thesis") == 0
