"""Recovery of jobs left by dead workers, against a real Redis, with RQ's own structures.

A job is put in the started state exactly as an RQ worker does it (dequeue, execution, job marked
started), then the worker "dies" by doing nothing more; these tests check what the recovery does
with it, including two supervisors racing for the same job.
"""

from __future__ import annotations

import threading
import time

import pytest
from rq import Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from thesis_console.core import contract, metrics_store
from thesis_console.core.supervisor_protocol import SupervisorRecord, record_key
from worker_runner import interruptions, recovery
from worker_runner.worker import ThesisWorker


def _start_job(conn, worker_name: str, retries: int | None = 2, interval: int = 0):
    """Enqueue a job and take it into execution as an RQ worker named ``worker_name`` would."""
    queue = contract.thesis_queue(conn)
    retry = Retry(max=retries, interval=interval) if retries else None
    job = queue.enqueue("tests.jobs.sleep_for", 1, retry=retry)
    worker = ThesisWorker([queue], name=worker_name, connection=conn)
    worker.register_birth()
    dequeued, _queue = worker.dequeue_job_and_maintain_ttl(timeout=1)
    assert dequeued.id == job.id
    execution = worker.prepare_execution(dequeued)
    worker.prepare_job_execution(dequeued, remove_from_intermediate_queue=True)
    return Job.fetch(job.id, connection=conn, serializer=contract.SERIALIZER), worker, execution


def _fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)


def _metrics(conn) -> metrics_store.BucketStats:
    minute = int(time.time() // 60)
    buckets = [metrics_store.decode_bucket(0, conn.hgetall(metrics_store.minute_key("thesis", m))) for m in (minute - 1, minute)]
    return metrics_store.BucketStats(0, sum(b.completed for b in buckets), sum(b.failed for b in buckets),
                                     sum(b.retried for b in buckets), None, None, None, None)  # fmt: skip


def test_started_entries_name_the_worker(redis_conn):
    job, worker, execution = _start_job(redis_conn, "sup-a.x-1")
    entries = recovery.started_entries(redis_conn, ["thesis"])
    assert [(e.job_id, e.execution_id, e.worker_name) for e in entries] == [(job.id, execution.id, "sup-a.x-1")]
    assert entries[0].expires_at > time.time()


def test_dead_local_worker_job_is_put_back_once_without_using_a_retry(redis_conn):
    job, worker, execution = _start_job(redis_conn, "sup-a.x-1", retries=2)
    scanner = recovery.OrphanScanner(confirm_s=0)
    dead = {"sup-a.x-1": ("worker sup-a.x-1 died unexpectedly (killed by SIGKILL)", recovery.RETRY)}
    found = scanner.scan(redis_conn, ["thesis"], own_live=set(), own_dead=dead)
    assert len(found) == 1
    entry, reason, policy = found[0]
    outcome = recovery.recover_execution(redis_conn, entry, reason, policy, recovered_by="sup-b")
    assert outcome is not None and outcome.action == "requeued"

    again = _fetch(redis_conn, job.id)
    assert again.get_status() == JobStatus.QUEUED
    assert again.retries_left == 2  # a dead worker is not the job's fault
    assert again.meta[interruptions.INTERRUPTIONS_KEY] == 1
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [job.id.encode()]
    assert redis_conn.zcard(StartedJobRegistry("thesis", connection=redis_conn).key) == 0
    assert not redis_conn.exists(execution.key)
    assert not redis_conn.sismember(worker.executions_key, execution.composite_key)
    attempt = again.meta["attempts"][-1]
    assert attempt["outcome"] == "interrupted" and "killed by SIGKILL" in attempt["reason"]
    assert attempt["fault"] == "worker_killed" and attempt["worker"] == "sup-a.x-1"
    assert _metrics(redis_conn).retried == 1
    # a second recovery of the same entry finds nothing to do
    assert recovery.recover_execution(redis_conn, entry, reason, policy) is None
    assert redis_conn.llen("rq:queue:thesis") == 1


def test_a_job_without_retries_is_put_back_too(redis_conn):
    job, _worker, _execution = _start_job(redis_conn, "sup-a.x-1", retries=None)
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    outcome = recovery.recover_execution(redis_conn, entry, "worker died", recovery.RETRY)
    assert outcome is not None and outcome.action == "requeued"
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.QUEUED


def test_fifth_interruption_fails_with_a_clear_reason(redis_conn):
    job, _worker, _execution = _start_job(redis_conn, "sup-a.x-0", retries=3)
    for round_ in range(interruptions.MAX_INTERRUPTIONS):
        if round_:
            _restart(redis_conn, job.id, f"sup-a.x-{round_}")
        entry = recovery.started_entries(redis_conn, ["thesis"])[0]
        reason = f"worker sup-a.x-{round_} died (killed by SIGKILL)"
        outcome = recovery.recover_execution(redis_conn, entry, reason, recovery.RETRY, "sup-b")
        assert outcome is not None
        assert outcome.action == ("failed" if round_ == interruptions.MAX_INTERRUPTIONS - 1 else "requeued")
    failed = _fetch(redis_conn, job.id)
    assert failed.get_status() == JobStatus.FAILED
    assert failed.retries_left == 3
    assert job.id in FailedJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False)
    text = failed.latest_result().exc_string
    assert "interrupted 5 times" in text and "killed by SIGKILL" in text and "sup-b" in text
    outcomes = [a["outcome"] for a in failed.meta["attempts"]]
    assert outcomes == ["interrupted"] * 4 + ["failed"]
    assert failed.meta[interruptions.INTERRUPTIONS_KEY] == 5
    assert _metrics(redis_conn).failed == 1


def _restart(conn, job_id: str, worker_name: str):
    """Take the requeued job into execution again, as a new worker."""
    worker = ThesisWorker([contract.thesis_queue(conn)], name=worker_name, connection=conn)
    worker.register_birth()
    dequeued, _queue = worker.dequeue_job_and_maintain_ttl(timeout=1)
    assert dequeued.id == job_id
    execution = worker.prepare_execution(dequeued)
    worker.prepare_job_execution(dequeued, remove_from_intermediate_queue=True)
    return _fetch(conn, job_id), worker, execution


def test_interrupted_by_shutdown_goes_to_the_front_without_using_a_retry(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    job, _worker, _execution = _start_job(redis_conn, "sup-a.x-1", retries=2)
    other = queue.enqueue("tests.jobs.noop")
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    outcome = recovery.recover_execution(redis_conn, entry, "supervisor stopped", recovery.REQUEUE)
    assert outcome is not None and outcome.action == "requeued"
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [job.id.encode(), other.id.encode()]
    again = _fetch(redis_conn, job.id)
    assert again.retries_left == 2
    assert again.meta.get(interruptions.INTERRUPTIONS_KEY) == 0  # a shutdown is not counted
    assert again.meta["attempts"][-1]["fault"] == "stopped"


def test_two_supervisors_racing_put_the_job_back_once(redis_conn):
    for round_ in range(15):
        redis_conn.flushall()
        job, _worker, _execution = _start_job(redis_conn, f"sup-a.x-{round_}", retries=5)
        entry = recovery.started_entries(redis_conn, ["thesis"])[0]
        barrier = threading.Barrier(3)
        outcomes: list = []

        def racer(name: str, barrier=barrier, outcomes=outcomes, entry=entry) -> None:
            barrier.wait()
            outcomes.append(recovery.recover_execution(redis_conn, entry, "died", recovery.RETRY, name))

        threads = [threading.Thread(target=racer, args=(f"sup-{i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for o in outcomes if o is not None) == 1, outcomes
        assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [job.id.encode()]
        assert _fetch(redis_conn, job.id).retries_left == 5
        assert _fetch(redis_conn, job.id).meta[interruptions.INTERRUPTIONS_KEY] == 1
        assert _metrics(redis_conn).retried == 1


def test_host_death_is_recovered_after_confirmation(redis_conn):
    """A supervised worker whose supervisor record expired and whose heartbeat key is gone."""
    job, worker, _execution = _start_job(redis_conn, "gone-host-1.ab12-1")
    redis_conn.delete(worker.key)  # its heartbeat key expired: the host is gone
    scanner = recovery.OrphanScanner(confirm_s=0.3)
    assert scanner.scan(redis_conn, ["thesis"], set(), {}) == []  # first sighting only
    time.sleep(0.35)
    found = scanner.scan(redis_conn, ["thesis"], set(), {})
    assert [e.job_id for e, _r, _p in found] == [job.id]
    assert "died with its supervisor" in found[0][1]


def test_dead_supervisor_s_worker_with_stale_heartbeat_is_recovered(redis_conn):
    """Its heartbeat key still exists (it expires much later), but its job stopped heartbeating."""
    job, worker, execution = _start_job(redis_conn, "other-host-7.ab12-1")
    redis_conn.hset(worker.key, mapping={"thesis_supervisor": "other-host-7", "thesis_job_heartbeat_s": "5"})
    scanner = recovery.OrphanScanner(confirm_s=0)
    assert scanner.scan(redis_conn, ["thesis"], set(), {}) == []  # heartbeat fresh: alive
    redis_conn.hset(execution.key, "last_heartbeat", time.time() - 21)  # missed 3 beats of 5 s, plus 5 s
    found = scanner.scan(redis_conn, ["thesis"], set(), {})
    assert [e.job_id for e, _r, _p in found] == [job.id]
    assert "other-host-7" in found[0][1]


def test_a_plain_worker_with_a_dotted_name_is_not_taken_for_a_supervised_one(redis_conn):
    _job, worker, _execution = _start_job(redis_conn, "web.example.org")
    redis_conn.delete(worker.key)
    scanner = recovery.OrphanScanner(confirm_s=0)
    assert scanner.scan(redis_conn, ["thesis"], set(), {}) == []


def test_a_live_supervisor_s_worker_is_left_alone(redis_conn):
    _job, worker, _execution = _start_job(redis_conn, "live-sup.ab12-1")
    redis_conn.delete(worker.key)  # even when its heartbeat key is gone (a SimpleWorker in a long job)
    record = SupervisorRecord(
        id="live-sup", host="elsewhere", pid=1, queues=("thesis",), desired=1, live=1,
        workers=("live-sup.ab12-1",), started_at=time.time(), restarts=0, heartbeat_at=time.time(),
    )  # fmt: skip
    redis_conn.set(record_key("live-sup"), record.to_json(), ex=10)
    redis_conn.zadd("thesis:supervisors", {"live-sup": time.time()})
    scanner = recovery.OrphanScanner(confirm_s=0)
    assert scanner.scan(redis_conn, ["thesis"], set(), {}) == []
    assert scanner.scan(redis_conn, ["thesis"], set(), {}) == []


def test_unsupervised_worker_only_when_its_execution_expired(redis_conn):
    _job, worker, execution = _start_job(redis_conn, "plainrqworker")
    redis_conn.delete(worker.key)
    scanner = recovery.OrphanScanner(confirm_s=0)
    assert scanner.scan(redis_conn, ["thesis"], set(), {}) == []  # RQ's rule: not expired, not dead
    redis_conn.zadd("rq:wip:thesis", {execution.composite_key: time.time() - 1})
    assert len(scanner.scan(redis_conn, ["thesis"], set(), {})) == 1


def test_expired_entry_waits_while_rq_maintenance_holds_the_queue(redis_conn):
    job, _worker, execution = _start_job(redis_conn, "plainrqworker")
    redis_conn.zadd("rq:wip:thesis", {execution.composite_key: time.time() - 1})
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    lock = contract.thesis_queue(redis_conn).registry_cleaning_key
    redis_conn.set(lock, 1, ex=recovery.RQ_MAINTENANCE_LOCK_S)  # as RQ takes it
    assert recovery.recover_execution(redis_conn, entry, "expired", recovery.RETRY) is None
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.STARTED
    redis_conn.delete(lock)
    outcome = recovery.recover_execution(redis_conn, entry, "expired", recovery.RETRY)
    assert outcome is not None and outcome.action == "requeued"
    assert not redis_conn.exists(lock)


@pytest.mark.parametrize("status", [JobStatus.FINISHED, JobStatus.FAILED])
def test_leftover_entry_of_an_ended_job_is_only_cleared(redis_conn, status):
    job, _worker, _execution = _start_job(redis_conn, "sup-a.x-1")
    job.set_status(status)
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    outcome = recovery.recover_execution(redis_conn, entry, "died", recovery.RETRY)
    assert outcome is not None and outcome.action == "cleared"
    assert redis_conn.llen("rq:queue:thesis") == 0
    assert _fetch(redis_conn, job.id).get_status() == status


def test_worker_name_parsing():
    assert recovery.supervisor_of("myhost-12.ab12-3") == "myhost-12"
    assert recovery.supervisor_of("0123456789abcdef") is None
    assert recovery.supervisor_of(".x") is None
    assert recovery.supervisor_of("web.example.org") is None


def test_job_stranded_between_pop_and_start_is_requeued(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.noop")
    later = queue.enqueue("tests.jobs.noop")
    redis_conn.lmove(queue.key, queue.intermediate_queue_key)  # a worker popped it, then died
    scanner = recovery.StrandedScanner(grace_s=0.2)
    assert scanner.scan(redis_conn, ["thesis"]) == []
    time.sleep(0.25)
    assert scanner.scan(redis_conn, ["thesis"]) == [("thesis", job.id)]
    assert recovery.requeue_stranded(redis_conn, "thesis", job.id) is True
    assert redis_conn.lrange(queue.key, 0, -1) == [job.id.encode(), later.id.encode()]
    assert redis_conn.llen(queue.intermediate_queue_key) == 0
    assert recovery.requeue_stranded(redis_conn, "thesis", job.id) is False  # nothing left to do


def test_a_started_job_in_the_intermediate_list_is_not_stranded(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    job, worker, _execution = _start_job(redis_conn, "sup-a.ab12-1")
    redis_conn.rpush(queue.intermediate_queue_key, job.id)  # as between RQ's two bookkeeping steps
    scanner = recovery.StrandedScanner(grace_s=0)
    assert scanner.scan(redis_conn, ["thesis"]) == []
    assert recovery.requeue_stranded(redis_conn, "thesis", job.id) is False


def test_a_retry_cut_short_by_the_workers_death_is_put_back(redis_conn):
    # RQ's job.retry marks the job scheduled, then writes the rest (the scheduled registry, the end
    # of the execution) in one transaction; the worker died in between.
    job, _worker, _execution = _start_job(redis_conn, "sup-a.x-1", retries=3)
    job.set_status(JobStatus.SCHEDULED)
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    outcome = recovery.recover_execution(redis_conn, entry, "worker sup-a.x-1 died (killed by SIGKILL)", recovery.RETRY)
    assert outcome is not None and outcome.action == "requeued"
    again = _fetch(redis_conn, job.id)
    assert again.get_status() == JobStatus.QUEUED and again.retries_left == 3
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [job.id.encode()]
    assert redis_conn.zcard("rq:wip:thesis") == 0


def test_a_job_whose_retry_was_written_is_only_cleared(redis_conn):
    job, worker, execution = _start_job(redis_conn, "sup-a.x-1", retries=3, interval=60)
    worker.handle_job_failure(job, contract.thesis_queue(redis_conn), exc_string="boom")  # the whole write
    redis_conn.zadd("rq:wip:thesis", {execution.composite_key: time.time() + 60})  # a leftover entry
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    outcome = recovery.recover_execution(redis_conn, entry, "died", recovery.RETRY)
    assert outcome is not None and outcome.action == "cleared"
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.SCHEDULED
    assert redis_conn.llen("rq:queue:thesis") == 0


def test_a_stray_copy_of_a_waiting_job_is_dropped_not_queued_twice(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.noop")
    redis_conn.rpush(queue.intermediate_queue_key, job.id)  # left by a run that ended before its start
    assert recovery.requeue_stranded(redis_conn, "thesis", job.id) is False
    assert redis_conn.lrange(queue.key, 0, -1) == [job.id.encode()]
    assert redis_conn.llen(queue.intermediate_queue_key) == 0


def test_the_entry_of_a_dead_worker_whose_job_runs_elsewhere_is_only_cleared(redis_conn):
    # Worker B popped the job and died before its work horse started; the job was put back and
    # worker A runs it now. B's entry must not put the running job back a second time.
    queue = contract.thesis_queue(redis_conn)
    job, _worker_a, execution_a = _start_job(redis_conn, "sup-a.ab12-1")
    worker_b = ThesisWorker([queue], name="sup-b.cd34-1", connection=redis_conn)
    worker_b.register_birth()
    execution_b = worker_b.prepare_execution(_fetch(redis_conn, job.id))
    entry_b = next(e for e in recovery.started_entries(redis_conn, ["thesis"]) if e.execution_id == execution_b.id)
    outcome = recovery.recover_execution(redis_conn, entry_b, "worker sup-b.cd34-1 died (killed by SIGKILL)", recovery.RETRY)
    assert outcome is not None and outcome.action == "cleared"
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.STARTED
    assert redis_conn.llen(queue.key) == 0
    assert [e.execution_id for e in recovery.started_entries(redis_conn, ["thesis"])] == [execution_a.id]


def test_a_maintenance_lock_left_by_a_dead_worker_does_not_keep_a_stranded_job_back(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.noop")
    redis_conn.lmove(queue.key, queue.intermediate_queue_key)  # a worker popped it, then died
    redis_conn.set(queue.registry_cleaning_key, 1, ex=recovery.RQ_MAINTENANCE_LOCK_S)  # a pass under way
    assert recovery.requeue_stranded(redis_conn, "thesis", job.id) is False
    # RQ's lock as a worker killed during its pass left it, 61 s ago.
    redis_conn.set(queue.registry_cleaning_key, 1, ex=recovery.RQ_MAINTENANCE_LOCK_S - recovery.ABANDONED_LOCK_S - 1)
    assert recovery.requeue_stranded(redis_conn, "thesis", job.id) is True
    assert redis_conn.lrange(queue.key, 0, -1) == [job.id.encode()]
    assert redis_conn.llen(queue.intermediate_queue_key) == 0
