"""The supervisor with real worker processes and a real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from rq import Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry

from tests.helpers import wait_for
from thesis_console.core import contract, metrics_store
from thesis_console.core.supervisor_protocol import queue_control, resize_message


def _fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)


def _enqueue_sleep(conn, seconds: float, retries: int | None = 2):
    return contract.thesis_queue(conn).enqueue(
        "tests.jobs.sleep_for", seconds, retry=Retry(max=retries) if retries else None
    )


def _running_on(conn, job_id: str) -> str:
    """Name of the worker that runs ``job_id`` (waits for it to start)."""

    def started() -> str | None:
        job = _fetch(conn, job_id)
        return job.worker_name if job.get_status() == JobStatus.STARTED and job.worker_name else None

    return wait_for(started, 60, message=f"job {job_id} to start")  # worker processes start slowly on a loaded machine


def _worker_pid(conn, worker_name: str) -> int:
    return int(conn.hget(f"rq:worker:{worker_name}", "pid"))


def _horse_of(worker: psutil.Process) -> psutil.Process:
    """The work horse among a worker's children: RQ puts it in a process group of its own."""

    def find() -> psutil.Process | None:
        for child in worker.children():
            try:
                if os.getpgid(child.pid) == child.pid:
                    return child
            except ProcessLookupError:
                continue
        return None

    return wait_for(find, 10, message="the work horse")


def _outcomes(conn, job_id: str) -> list[str]:
    return [a["outcome"] for a in _fetch(conn, job_id).meta.get("attempts", [])]


def _metric_totals(conn) -> tuple[int, int, int]:
    minute = int(time.time() // 60)
    stats = [
        metrics_store.decode_bucket(0, conn.hgetall(metrics_store.minute_key("thesis", m)))
        for m in range(minute - 2, minute + 1)
    ]
    return sum(s.completed for s in stats), sum(s.failed for s in stats), sum(s.retried for s in stats)


def test_sigkilled_worker_is_restarted_and_its_job_recovered(redis_conn, supervisors):
    sup = supervisors("-n", "2")
    sup.wait_live(redis_conn, 2)
    job = _enqueue_sleep(redis_conn, 2.0)
    worker_name = _running_on(redis_conn, job.id)
    worker = psutil.Process(_worker_pid(redis_conn, worker_name))
    horse = _horse_of(worker)

    os.kill(worker.pid, signal.SIGKILL)
    # Back in the queue (or already running again elsewhere) within 5 s of the death.
    wait_for(lambda: "interrupted" in _outcomes(redis_conn, job.id), timeout=5, message="the job to be recovered")
    recovered = _fetch(redis_conn, job.id).meta["attempts"][0]
    assert recovered["worker"] == worker_name and "killed by SIGKILL" in recovered["reason"]
    assert recovered["fault"] == "worker_killed"
    assert not horse.is_running() or horse.status() == psutil.STATUS_ZOMBIE

    wait_for(lambda: _fetch(redis_conn, job.id).get_status() == JobStatus.FINISHED, 30, message="the job to finish")
    assert _outcomes(redis_conn, job.id) == ["interrupted", "completed"]
    assert _fetch(redis_conn, job.id).retries_left == 2  # a killed worker is not the job's fault
    record = sup.wait_live(redis_conn, 2)
    assert record.restarts == 1 and worker_name not in record.workers

    # Each worker keeps its output in its own log file, named after it, in the folder the record names.
    for name in record.workers:
        log_file = sup.log_dir / f"{name}.log"
        wait_for(lambda log_file=log_file: "Listening on" in log_file.read_text(), 10, message=f"{log_file} content")
    assert record.log_dir == str(sup.log_dir)


def test_killed_work_horse_is_put_back_by_its_worker_without_using_a_retry(redis_conn, supervisors):
    sup = supervisors("-n", "1")
    sup.wait_live(redis_conn, 1)
    job = _enqueue_sleep(redis_conn, 2.0)
    worker_name = _running_on(redis_conn, job.id)
    worker = psutil.Process(_worker_pid(redis_conn, worker_name))
    _horse_of(worker).kill()
    wait_for(lambda: _fetch(redis_conn, job.id).get_status() == JobStatus.FINISHED, 30, message="the job to finish")
    assert _outcomes(redis_conn, job.id) == ["interrupted", "completed"]
    finished = _fetch(redis_conn, job.id)
    assert finished.retries_left == 2 and finished.meta["interruptions"] == 1
    assert finished.meta["attempts"][0]["fault"] == "worker_killed"
    assert sup.record(redis_conn).restarts == 0  # the worker itself survived


def test_live_resize_3_5_1_loses_and_interrupts_nothing(redis_conn, supervisors):
    sup = supervisors("-n", "3")
    sup.wait_live(redis_conn, 3)
    jobs = [_enqueue_sleep(redis_conn, 1.0, retries=None) for _ in range(12)]
    assert sup.send("resize 5")["ok"] is True
    sup.wait_live(redis_conn, 5)
    wait_for(lambda: sup.record(redis_conn).busy >= 3, 20, message="several busy workers")
    reply = sup.send("resize 1")
    assert reply["ok"] is True and reply["desired"] == 1
    sup.wait_live(redis_conn, 1, timeout=40)
    wait_for(lambda: all(_fetch(redis_conn, j.id).get_status() == JobStatus.FINISHED for j in jobs), 60,
             message="every job to finish")  # fmt: skip
    for job in jobs:
        assert _outcomes(redis_conn, job.id) == ["completed"]  # nothing was interrupted or retried
    assert FailedJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False) == []
    assert len(redis_conn.smembers("rq:workers")) == 1
    statuses = [(p["desired"], p["live"]) for p in sup.events("status")]
    assert (5, 5) in statuses and (1, 1) in statuses


def test_resize_through_redis_control_message_and_ctl(redis_conn, supervisors, redis_url):
    sup = supervisors("-n", "1")
    sup.wait_live(redis_conn, 1)
    with redis_conn.pipeline() as pipe:
        queue_control(pipe, sup.id, resize_message(2))
        pipe.execute()
    sup.wait_live(redis_conn, 2)

    ctl = subprocess.run(
        [sys.executable, "-m", "worker_runner", "ctl", "resize", "--id", sup.id, "3", "--url", redis_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ctl.returncode == 0, ctl.stderr
    assert "desired 3" in ctl.stdout
    sup.wait_live(redis_conn, 3)

    by_pid = subprocess.run(
        [sys.executable, "-m", "worker_runner", "ctl", "autoscale", "--pid", str(sup.pid), "1", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert by_pid.returncode == 0, by_pid.stderr
    record = sup.wait_live(redis_conn, 1, timeout=30)  # idle queue: autoscale shrinks to its minimum
    assert (record.autoscale_min, record.autoscale_max) == (1, 2)


def test_bad_commands_get_a_clear_reply(redis_conn, supervisors):
    sup = supervisors("-n", "1")
    sup.wait_live(redis_conn, 1)
    reply = sup.send("resize 0")
    assert reply["ok"] is False and "1 to 64" in reply["error"]
    reply = sup.send("fly away")
    assert reply["ok"] is False and "unknown command" in reply["error"]
    assert sup.send("status")["live"] == 1
    redis_conn.rpush(f"thesis:supervisor:{sup.id}:control", b"\x80 not json")
    wait_for(lambda: redis_conn.llen(f"thesis:supervisor:{sup.id}:control") == 0, 10)
    assert sup.proc.poll() is None


def test_autoscale_grows_under_backlog_and_shrinks_when_drained(redis_conn, supervisors):
    sup = supervisors("--autoscale", "1:4")
    sup.wait_live(redis_conn, 1)
    jobs = [_enqueue_sleep(redis_conn, 0.7, retries=None) for _ in range(16)]
    sup.wait_live(redis_conn, 4, timeout=30)
    wait_for(lambda: all(_fetch(redis_conn, j.id).get_status() == JobStatus.FINISHED for j in jobs), 60,
             message="the backlog to drain")  # fmt: skip
    record = sup.wait_live(redis_conn, 1, timeout=30)
    assert record.desired == 1 and (record.autoscale_min, record.autoscale_max) == (1, 4)
    sizes = [p["desired"] for p in sup.events("status")]
    assert max(sizes) == 4 and sizes[-1] == 1


def test_sigterm_stops_warm_and_puts_the_running_job_back(redis_conn, supervisors):
    sup = supervisors("-n", "2", "--grace", "1")
    sup.wait_live(redis_conn, 2)
    quick = _enqueue_sleep(redis_conn, 0.3)
    slow = _enqueue_sleep(redis_conn, 60)
    _running_on(redis_conn, slow.id)
    assert sup.terminate(timeout=40) == 0
    assert sup.worker_processes() == []
    slow_job = _fetch(redis_conn, slow.id)
    assert slow_job.get_status() == JobStatus.QUEUED  # back in the queue, not lost
    assert slow_job.retries_left == 2  # a shutdown is not the job's fault
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [slow.id.encode()]
    assert _fetch(redis_conn, quick.id).get_status() == JobStatus.FINISHED
    assert sup.record(redis_conn) is None  # a clean exit removes the record at once
    assert sup.events("stopped")


def test_sigterm_lets_a_short_job_finish_within_the_grace(redis_conn, supervisors):
    sup = supervisors("-n", "1", "--grace", "20")
    sup.wait_live(redis_conn, 1)
    job = _enqueue_sleep(redis_conn, 2.0)
    _running_on(redis_conn, job.id)
    assert sup.terminate(timeout=40) == 0
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.FINISHED
    assert _outcomes(redis_conn, job.id) == ["completed"]


@pytest.mark.slow(seconds=35)
def test_sigkill_of_the_supervisor_leaves_no_process_and_its_record_expires(redis_conn, supervisors):
    sup = supervisors("-n", "2")
    sup.wait_live(redis_conn, 2)
    job = _enqueue_sleep(redis_conn, 60)
    _running_on(redis_conn, job.id)
    family = psutil.Process(sup.pid).children(recursive=True)
    assert len(family) >= 4  # two workers, a work horse, the scheduler
    sup.proc.kill()
    sup.proc.wait(10)

    def all_gone() -> bool:
        for proc in family:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    return False
            except psutil.NoSuchProcess:
                continue
        return True

    wait_for(all_gone, 10, message="every worker, horse and scheduler to die with the supervisor")
    wait_for(lambda: sup.record(redis_conn) is None, 15, message="the record to expire")

    # As if its host had died: a supervisor elsewhere puts the job back (no record, no heartbeat).
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.STARTED
    rescuer = supervisors("-n", "1", suffix="b")
    wait_for(lambda: "interrupted" in _outcomes(redis_conn, job.id), 60, message="the orphaned job to be recovered")
    assert "died with its supervisor" in _fetch(redis_conn, job.id).meta["attempts"][0]["reason"]
    assert rescuer.proc.poll() is None


def test_redis_restart_under_a_running_supervisor(tmp_path, redis_conn, supervisors):
    import redis

    from thesis_console.core.embedded_redis import free_port, start_server

    port = free_port()
    data = tmp_path / "own-redis"
    server = start_server(data, port)
    conn = redis.Redis.from_url(server.url)
    try:
        sup = supervisors("-n", "2", env={"REDIS_URL": server.url})
        sup.wait_live(conn, 2)
        job = _enqueue_sleep(conn, 1.5)
        _running_on(conn, job.id)
        server.stop()  # Redis goes away while a job runs
        time.sleep(3)
        assert sup.proc.poll() is None
        server = start_server(data, port)
        wait_for(lambda: _fetch(conn, job.id).get_status() == JobStatus.FINISHED, 60, message="the job to finish")
        after = contract.thesis_queue(conn).enqueue("tests.jobs.noop")
        wait_for(lambda: _fetch(conn, after.id).get_status() == JobStatus.FINISHED, 30, message="a new job to run")
        record = sup.wait_live(conn, 2, timeout=30)
        assert record.extra["redis"] == "ok" and sup.proc.poll() is None
        assert sup.terminate() == 0
    finally:
        conn.close()
        server.stop()


def test_metrics_add_up_to_the_jobs_run(redis_conn, supervisors):
    sup = supervisors("-n", "2")
    sup.wait_live(redis_conn, 2)
    queue = contract.thesis_queue(redis_conn)
    ok = [queue.enqueue("tests.jobs.noop") for _ in range(5)]
    bad = [queue.enqueue("tests.jobs.boom") for _ in range(2)]
    killed = _enqueue_sleep(redis_conn, 2.0)
    os.kill(_worker_pid(redis_conn, _running_on(redis_conn, killed.id)), signal.SIGKILL)
    everything = [*ok, *bad, killed]
    wait_for(lambda: all(_fetch(redis_conn, j.id).get_status() in (JobStatus.FINISHED, JobStatus.FAILED) for j in everything),
             60, message="every job to end")  # fmt: skip
    # A worker records an attempt's metrics just after it sets the job's final status: wait for all 9.
    wait_for(lambda: sum(_metric_totals(redis_conn)) >= 9, 10, message="the metrics of 9 attempts")
    completed, failed, retried = _metric_totals(redis_conn)
    assert (completed, failed, retried) == (6, 2, 1)
    assert completed + failed == len(everything)


def test_a_crash_loop_backs_off(redis_conn, supervisors, tmp_path):
    # A worker that dies at start (a broken install, say): the restarts slow down instead of spinning.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text(
        "import os, sys\nif os.environ.get('THESIS_SUPERVISED_WORKER'):\n    sys.exit(5)\n"
    )
    sup = supervisors("-n", "1", env={"PYTHONPATH": str(broken)})
    wait_for(lambda: (r := sup.record(redis_conn)) and r.restarts >= 3 and r, 30, message="a few restarts")
    first = sup.record(redis_conn).restarts
    time.sleep(3)
    later = sup.record(redis_conn).restarts
    assert later - first <= 3  # at least 1 s, then 2 s, then 4 s between attempts by now
    assert "died unexpectedly (exit code" in sup.stderr_text()
