"""The soak job and its ledger: lines from many processes stay whole, and a real worker writes them."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from rq.job import Job

from benchmarks.chaos import enqueue_soak_job
from benchmarks.chaos_accounting import EnqueuedJob, check_output
from benchmarks.soak_job import SOAK_FUNCTION, Design, LedgerEvent, LedgerLine, LedgerReader, append_line
from thesis_console.core import contract
from thesis_console.core.job_allowlist import Allowlist
from worker_runner.worker import ThesisSimpleWorker


def _append_many(path: str, writer: int) -> None:
    for i in range(300):
        append_line(path, LedgerLine(LedgerEvent.START, f"job-{writer}-{i}", 1, writer, "w" * 200, float(i)))


def test_lines_appended_by_concurrent_processes_stay_whole(tmp_path: Path):
    path = tmp_path / "ledger.jsonl"
    ctx = multiprocessing.get_context("spawn")  # a fork of this multi-threaded test process could deadlock
    procs = [ctx.Process(target=_append_many, args=(str(path), n)) for n in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    reader = LedgerReader(path)
    lines = reader.read_new()
    assert reader.unreadable == 0
    assert len({line.job_id for line in lines}) == 4 * 300


def test_the_reader_returns_only_complete_lines_and_counts_broken_ones(tmp_path: Path):
    path = tmp_path / "ledger.jsonl"
    reader = LedgerReader(path)
    assert reader.read_new() == []  # no file yet
    whole = LedgerLine(LedgerEvent.DONE, "a", 2, 7, "w", 1.5, {"words": 3})
    with open(path, "w") as f:
        f.write(whole.to_json() + "\n" + '{"event": "start", "job_')
    assert reader.read_new() == [whole]
    with open(path, "a") as f:
        f.write('id": "b"}\nnot json\n')
    assert reader.read_new() == []
    assert reader.unreadable == 2


def test_a_worker_runs_soak_jobs_and_each_run_writes_its_lines(redis_conn, isolated_env):
    ledger = isolated_env / "ledger.jsonl"
    jobs = [
        EnqueuedJob("soak-ok", Design.SUCCEED, "Ledger topic", 3),
        EnqueuedJob("soak-once", Design.FAIL_ONCE, "Ledger once", 3),
        EnqueuedJob("soak-always", Design.FAIL_ALWAYS, "Ledger always", 3),
    ]
    for job in jobs:
        enqueue_soak_job(redis_conn, job, ledger, pace_s=0)
    allowlist = Allowlist.of([SOAK_FUNCTION])
    worker = ThesisSimpleWorker([contract.queue_name()], connection=redis_conn, allowlist=allowlist)
    worker.work(burst=True)  # first attempts only: retries are scheduled 2 s later
    lines = LedgerReader(ledger).read_new()
    by_job = {job.job_id: [(line.event, line.attempt) for line in lines if line.job_id == job.job_id] for job in jobs}
    assert by_job == {
        "soak-ok": [(LedgerEvent.START, 1), (LedgerEvent.DONE, 1)],
        "soak-once": [(LedgerEvent.START, 1), (LedgerEvent.FAIL, 1)],
        "soak-always": [(LedgerEvent.START, 1), (LedgerEvent.FAIL, 1)],
    }
    start = next(line for line in lines if line.event is LedgerEvent.START)
    assert start.enqueued_at is not None and start.enqueued_at <= start.at  # when RQ queued it
    done = next(line for line in lines if line.event is LedgerEvent.DONE)
    assert done.worker == worker.name
    stored = Job.fetch("soak-ok", connection=redis_conn, serializer=contract.SERIALIZER).return_value()
    assert stored == done.result
    assert check_output(jobs[0], done.result, stored) is None
