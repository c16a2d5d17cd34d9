"""Stopping and restarting supervisors, stopping single workers and finding this host's supervisors,
through the core's actions, with real supervisors, real workers and a real Redis."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import redis
from rq.job import Job, JobStatus

from tests.core.test_actions import acting, run
from tests.helpers import wait_for
from tests.test_cli import call, private_profiles  # noqa: F401 (the autouse fixture)
from thesis_console.core import contract
from thesis_console.core.supervisor_control import StopOutcome, local_supervisors
from thesis_console.core.supervisor_protocol import restart_message, stop_message
from worker_runner import registration
from worker_runner.control import Command, from_message, parse_line


def _fetch(conn: redis.Redis, job: Job) -> Job:
    return Job.fetch(job.id, connection=conn, serializer=contract.SERIALIZER)


def _started(conn: redis.Redis, job: Job) -> str:
    def worker() -> str | None:
        fetched = _fetch(conn, job)
        return fetched.worker_name if fetched.get_status() == JobStatus.STARTED and fetched.worker_name else None

    return wait_for(worker, 20, message=f"job {job.id} to start")


def _outcomes(conn: redis.Redis, job: Job) -> list[str]:
    return [a["outcome"] for a in _fetch(conn, job).meta.get("attempts", [])]


def test_stop_and_restart_orders_parse():
    assert parse_line("stop now") == Command("stop", hard=True, text="stop now")
    assert parse_line("restart") == Command("restart", text="restart")
    assert from_message(stop_message(hard=True)) == Command("stop", source="redis", text="stop now", hard=True)
    assert from_message(stop_message()) == Command("stop", source="redis", text="stop")
    assert from_message(restart_message()) == Command("restart", source="redis", text="restart")


@pytest.mark.slow(seconds=10)
def test_warm_stop_runs_out_then_a_hard_stop_puts_the_running_job_back(redis_conn, redis_url, supervisors):
    sup = supervisors("-n", "1", "--grace", "120")
    sup.wait_live(redis_conn, 1)
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.sleep_for", 120)
    _started(redis_conn, job)

    async def scenario():
        async with acting(redis_url) as actions:
            sent = await actions.stop_supervisor(sup.id)
            warm = await actions.wait_supervisor_stopped(sup.id, 1.0)
            await actions.stop_supervisor(sup.id, hard=True)
            hard = await actions.wait_supervisor_stopped(sup.id, 40.0)
            return sent, warm, hard

    sent, warm, hard = run(scenario())
    assert (sent.id, sent.host, sent.pid) == (sup.id, socket.gethostname(), sup.pid)
    assert warm.outcome is StopOutcome.STILL_RUNNING and warm.record is not None
    assert warm.record.state == "stopping" and warm.jobs_running == 1
    assert hard.outcome is StopOutcome.STOPPED and hard.record is None
    assert sup.proc.wait(20) == 0
    assert _fetch(redis_conn, job).get_status() == JobStatus.QUEUED  # back in its queue, not lost


def test_warm_stop_from_the_cli_lets_the_running_job_finish(capsys, redis_conn, redis_url, supervisors):
    sup = supervisors("-n", "1", "--grace", "60")
    sup.wait_live(redis_conn, 1)
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.sleep_for", 1.0)
    _started(redis_conn, job)
    code, out, err = call(capsys, "stop-supervisor", sup.id, "--wait", "60", "--url", redis_url)
    assert code == 0, err
    assert f"sent warm stop to supervisor {sup.id} (pid {sup.pid} on {socket.gethostname()}" in out
    assert f"supervisor {sup.id} stopped" in out
    assert sup.proc.wait(20) == 0
    assert _fetch(redis_conn, job).get_status() == JobStatus.FINISHED and _outcomes(redis_conn, job) == ["completed"]


def test_restart_replaces_every_worker_after_its_job(redis_conn, redis_url, supervisors):
    sup = supervisors("-n", "2")
    before = sup.wait_live(redis_conn, 2)
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.sleep_for", 1.0)
    _started(redis_conn, job)

    async def restart():
        async with acting(redis_url) as actions:
            return await actions.restart_supervisor(sup.id)

    assert run(restart()).workers == before.workers

    def replaced():
        record = sup.record(redis_conn)
        return record if record and record.live == 2 and not set(record.workers) & set(before.workers) else None

    after = wait_for(replaced, 30, message="every worker replaced")
    assert after.restarts == 0 and after.state == "running"  # a restart is not a crash
    assert _fetch(redis_conn, job).get_status() == JobStatus.FINISHED and _outcomes(redis_conn, job) == ["completed"]
    done = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    wait_for(lambda: _fetch(redis_conn, done).get_status() == JobStatus.FINISHED, 20, message="a job on the new workers")


def test_stop_worker_uses_rq_shutdown_and_the_supervisor_replaces_it(redis_conn, redis_url, supervisors):
    sup = supervisors("-n", "1")
    (name,) = sup.wait_live(redis_conn, 1).workers
    wait_for(lambda: redis_conn.hget(f"rq:worker:{name}", "state") == b"idle", 30, message="the worker to listen")

    async def stop():
        async with acting(redis_url) as actions:
            await actions.stop_worker(name)

    run(stop())
    record = wait_for(lambda: (r := sup.record(redis_conn)) and r.live == 1 and name not in r.workers and r, 30,
                      message="a fresh worker")  # fmt: skip
    assert record.workers != (name,)
    assert not redis_conn.sismember("rq:workers", f"rq:worker:{name}")  # it left cleanly, unregistered
    assert record.restarts == 0 and f"worker {name} left on request; starting a fresh one" in sup.stderr_text()


def test_stop_worker_stops_a_plain_rq_worker(redis_conn, redis_url, processes, isolated_env):
    name = f"plain-{isolated_env.name}"
    proc = processes.start("-m", "rq.cli", "worker", "--url", redis_url, "--name", name, "--with-scheduler", "thesis")
    # Idle: listening, its signal handlers in place (a SIGINT during RQ's start-up aborts it).
    wait_for(lambda: redis_conn.hget(f"rq:worker:{name}", "state") == b"idle", 30, message="the rq worker to listen")

    async def stop():
        async with acting(redis_url) as actions:
            await actions.stop_worker(name)

    run(stop())
    assert proc.wait(30) == 0
    assert not redis_conn.sismember("rq:workers", f"rq:worker:{name}")


def test_local_supervisors_finds_a_live_supervisor_of_this_host_and_its_files(redis_conn, supervisors):
    sup = supervisors("-n", "1")
    sup.wait_live(redis_conn, 1)
    records = registration.list_records(redis_conn)
    (found,) = [s for s in local_supervisors(records) if s.record.id == sup.id]
    assert found.record.pid == sup.pid and found.log_dir == sup.log_dir
    assert sup.stderr_path.resolve() in found.output_files  # stdout is a pipe here, not a file
    assert found.worker_logs == tuple(sup.log_dir / f"{w}.log" for w in found.record.workers)
    assert all(p.exists() for p in found.worker_logs)
    assert not [s for s in local_supervisors(records, host="another-host") if s.record.id == sup.id]
    assert not [s for s in local_supervisors(records, alive=lambda pid: False) if s.record.id == sup.id]



def test_ctl_restart_and_hard_stop_from_a_worker_host(redis_conn, redis_url, supervisors):
    sup = supervisors("-n", "1", "--grace", "120")
    before = sup.wait_live(redis_conn, 1)
    ctl = [sys.executable, "-m", "worker_runner", "ctl"]
    restart = subprocess.run([*ctl, "restart", "--id", sup.id, "--url", redis_url, "--wait", "30"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert restart.returncode == 0, restart.stderr
    assert f"supervisor {sup.id}: every worker replaced" in restart.stdout
    assert not set(sup.record(redis_conn).workers) & set(before.workers)
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.sleep_for", 120)
    _started(redis_conn, job)
    stop = subprocess.run([*ctl, "stop", "--now", "--id", sup.id, "--url", redis_url],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert stop.returncode == 0, stop.stderr
    assert sup.proc.wait(40) == 0  # a warm stop would wait the job's 120 s (the grace)
    assert _fetch(redis_conn, job).get_status() == JobStatus.QUEUED
