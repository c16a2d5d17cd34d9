from __future__ import annotations

import base64
import pickle
import time
import zlib
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from rq import Callback, Queue, Retry

from tests.burst_worker import run_burst
from tests.core.bulk_jobs import run
from thesis_console.core import contract
from thesis_console.core.job_allowlist import ALLOW_ENV
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.reader import QueueReader
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import CoreError, JobDetail, JobState
from worker_runner.worker import ThesisWorker


class _Touch:
    """Unpickling an instance creates a file: the evidence that a pickle was run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


async def _detail(url: str, job_id: str, trust_pickle: bool = False) -> JobDetail:
    client = aioredis.Redis.from_url(url, decode_responses=False)
    try:
        return await QueueReader(client, trust_pickle=trust_pickle).detail(job_id)
    finally:
        await client.aclose()


def test_detail_of_a_finished_thesis_job(redis_conn, redis_url, isolated_env):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Readable job details", chapters=3, target_words=1000))
    run_burst(redis_conn, ["thesis"])
    detail = run(_detail(redis_url, job_id))
    assert detail.row.state is JobState.COMPLETED and detail.row.problem is None
    assert detail.row.progress == 100 and detail.row.topic == "Readable job details"
    assert detail.function == contract.JOB_FUNCTION
    assert detail.kwargs.kind == "json" and detail.kwargs.value["request"]["topic"] == "Readable job details"
    assert detail.meta.kind == "json" and detail.meta.value["kind"] == "thesis"
    assert detail.result.kind == "json" and detail.result.value["chapters"] == 3
    assert detail.traceback is None
    assert [e.what for e in detail.timeline] == ["enqueued", "attempt"]
    attempt = detail.timeline[1]
    assert attempt.outcome == "completed" and attempt.worker and attempt.ended_at >= attempt.at
    assert detail.raw_fields["status"] == "finished" and detail.raw_fields["data"].startswith("<zlib ")


def test_timeline_of_a_retried_job_shows_every_attempt_and_the_whole_traceback(redis_conn, redis_url):
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.boom", retry=Retry(max=2))
    run_burst(redis_conn, ["thesis"])
    detail = run(_detail(redis_url, job.id))
    assert detail.row.state is JobState.FAILED and detail.row.attempts_used == 3 and detail.row.retries_left == 0
    attempts = [e for e in detail.timeline if e.what == "attempt"]
    assert [a.outcome for a in attempts] == ["retried", "retried", "failed"]
    assert attempts[-1].detail == "RuntimeError: boom: planned test failure"
    assert [a.at for a in attempts] == sorted(a.at for a in attempts)
    assert detail.traceback.startswith("Traceback (most recent call last):")
    assert "tests/jobs.py" in detail.traceback and detail.row.error_line == "RuntimeError: boom: planned test failure"
    assert detail.result.kind == "missing"


def test_timeline_from_rq_results_when_the_job_has_no_attempt_records(redis_conn, redis_url):

    queue = contract.thesis_queue(redis_conn)
    ok = queue.enqueue("tests.jobs.noop")
    bad = queue.enqueue("tests.jobs.boom")
    run_burst(redis_conn, ["thesis"], kind="rq")  # plain RQ worker
    ok_detail = run(_detail(redis_url, ok.id))
    assert [(e.what, e.outcome) for e in ok_detail.timeline] == [("enqueued", ""), ("attempt", "completed")]
    assert ok_detail.result.value == "ok"
    bad_detail = run(_detail(redis_url, bad.id))
    assert bad_detail.timeline[-1].outcome == "failed"
    assert bad_detail.timeline[-1].detail == "RuntimeError: boom: planned test failure"


def test_pickled_payloads_are_never_unpickled_unless_trusted(redis_conn, redis_url, tmp_path):
    marker = tmp_path / "unpickled"
    legacy = Queue("legacy", connection=redis_conn)  # RQ's default serializer: pickle
    job = legacy.enqueue("tests.jobs.noop", _Touch(marker), meta={"evil": _Touch(marker)})
    redis_conn.xadd(
        f"rq:results:{job.id}",
        {"type": 1, "worker_name": "w", "return_value": base64.b64encode(pickle.dumps(_Touch(marker))).decode()},
    )
    detail = run(_detail(redis_url, job.id))
    assert not marker.exists()
    assert detail.args.kind == "pickled" and detail.args.value is None and detail.args.size > 0
    assert detail.meta.kind == "pickled" and detail.result.kind == "pickled"
    assert detail.function is None and detail.row.problem is None
    assert "pickle" in detail.raw_fields["data"] and not marker.exists()

    trusted = run(_detail(redis_url, job.id, trust_pickle=True))
    assert marker.exists()  # the same read with trust does unpickle: the check above can fail
    assert trusted.function == "tests.jobs.noop" and trusted.args.kind == "unpickled"


def test_missing_job_is_a_clear_error(redis_conn, redis_url):
    with pytest.raises(CoreError, match="job nope not found"):
        run(_detail(redis_url, "nope"))
    with pytest.raises(CoreError, match="job id must be"):
        run(_detail(redis_url, ""))


def test_foreign_and_broken_job_keys_give_a_detail_that_says_what_is_wrong(redis_conn, redis_url):
    redis_conn.set("rq:job:x", "a string under an RQ job name")
    stringy = run(_detail(redis_url, "x"))
    assert stringy.row.problem == "rq:job:x is a string, not a job hash"

    redis_conn.hset(
        "rq:job:foreign",
        mapping={"origin": "thesis", "description": b"\xff\xfe", "data": zlib.compress(b"\x00\x01binary"),
                 "meta": "[1, 2]", "exc_info": zlib.compress(b"Traceback\nValueError: old style")},
    )  # fmt: skip
    foreign = run(_detail(redis_url, "foreign"))
    problem = foreign.row.problem or ""
    for part in ("status field missing", "not UTF-8 in field description", "meta is not an object",
                 "data is neither JSON nor pickle"):  # fmt: skip
        assert part in problem
    assert foreign.traceback == "Traceback\nValueError: old style"
    assert set(foreign.raw_fields) == {"origin", "description", "data", "meta", "exc_info"}
    assert foreign.raw_fields["description"].startswith("<2 bytes")


def test_detail_of_scheduled_and_waiting_jobs(redis_conn, redis_url):
    later = enqueue_thesis(redis_conn, ThesisRequest(topic="Scheduled thesis"), delay_s=300)
    detail = run(_detail(redis_url, later))
    assert detail.row.state is JobState.SCHEDULED
    assert detail.row.scheduled_for == pytest.approx(time.time() + 300, abs=30)
    assert detail.timeline[-1].what == "scheduled" and detail.timeline[-1].at == detail.row.scheduled_for

    redis_conn.hdel(f"rq:job:{later}", "status")  # a half-written hash: the registry still knows it
    assert run(_detail(redis_url, later)).row.state is JobState.SCHEDULED


def test_detail_flags_a_job_outside_the_allowlist_and_shows_why_it_was_refused(redis_conn, redis_url, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "")
    queue = contract.thesis_queue(redis_conn)
    refused = queue.enqueue("os.system", "touch /tmp/x", retry=Retry(max=3)).id
    run_burst(redis_conn, ["thesis"])
    detail = run(_detail(redis_url, refused))
    assert detail.row.state is JobState.FAILED and detail.function == "os.system"
    assert detail.row.problem == "function not allowed: os.system"
    assert detail.row.error_line == "function not allowed: os.system" and detail.row.retries_left == 3
    assert [(e.what, e.outcome, e.detail) for e in detail.timeline if e.what == "attempt"] == [
        ("attempt", "failed", "function not allowed: os.system")
    ]

    waiting = queue.enqueue("tests.jobs.noop", on_success=Callback("builtins.exec")).id
    assert run(_detail(redis_url, waiting)).row.problem == "function not allowed: tests.jobs.noop"
    monkeypatch.setenv(ALLOW_ENV, "tests.jobs.noop")
    assert run(_detail(redis_url, waiting)).row.problem == "success callback not allowed: builtins.exec"


def test_timeline_shows_infrastructure_interruptions(redis_conn, redis_url):
    from worker_runner import recovery

    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.noop", retry=Retry(max=3))
    worker = ThesisWorker([queue], name="sup-a.beef-1", connection=redis_conn)
    worker.register_birth()
    dequeued, _queue = worker.dequeue_job_and_maintain_ttl(timeout=1)
    worker.prepare_execution(dequeued)
    worker.prepare_job_execution(dequeued, remove_from_intermediate_queue=True)
    entry = recovery.started_entries(redis_conn, ["thesis"])[0]
    recovery.recover_execution(redis_conn, entry, "worker sup-a.beef-1 died unexpectedly (killed by SIGKILL)", recovery.RETRY)
    run_burst(redis_conn, ["thesis"])
    detail = run(_detail(redis_url, job.id))
    attempts = [e for e in detail.timeline if e.what == "attempt"]
    assert [a.outcome for a in attempts] == ["interrupted", "completed"]
    assert attempts[0].worker == "sup-a.beef-1"
    assert attempts[0].detail.startswith("interrupted (worker or work horse killed; no retry used)")
    assert "killed by SIGKILL" in attempts[0].detail
    assert detail.row.retries_left == 3
