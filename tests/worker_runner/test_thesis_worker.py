from __future__ import annotations

import base64
import json
import time
import zlib
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from tests.burst_worker import run_burst
from tests.helpers import wait_for
from thesis_console.core import contract, metrics_store
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest


def _fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)


def test_worker_process_generates_the_thesis(redis_conn, isolated_env, processes):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Reliable job queues", chapters=4, target_words=2000))
    processes.start("-m", "worker_runner")
    job = wait_for(
        lambda: (j := _fetch(redis_conn, job_id)).get_status() == JobStatus.FINISHED and j,
        timeout=60,
        message="the thesis job to finish",
    )
    assert job.meta["progress"] == 100 and job.meta["stage"] == "completed"
    summary = job.return_value()
    path = Path(summary["path"])
    assert path.exists() and path.parent == isolated_env / "out"
    text = path.read_text()
    assert summary["words"] == len(text.split())
    assert summary["chapters"] == 4 and text.count("\n## ") == 4 + 2  # contents, 4 chapters, references
    assert text.startswith("# Reliable job queues")
    assert job.meta["attempts"][-1]["outcome"] == "completed"


def test_progress_starts_at_ten(redis_conn, isolated_env, processes):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Slow thesis", chapters=3, options={"pace_s": 0.5}))
    processes.start("-m", "worker_runner")
    seen = wait_for(lambda: _fetch(redis_conn, job_id).meta.get("progress"), timeout=30, message="progress")
    assert seen in (10, 20)
    wait_for(lambda: _fetch(redis_conn, job_id).get_status() == JobStatus.FINISHED, timeout=30, message="finish")


@pytest.mark.slow(seconds=15)
def test_retry_schedule_is_2_4_8_seconds_then_failed(redis_conn, isolated_env, processes):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Always failing", options={"fail_always": True}))
    processes.start("-m", "worker_runner")
    job = wait_for(
        lambda: (j := _fetch(redis_conn, job_id)).get_status() == JobStatus.FAILED and j,
        timeout=90,  # 14 s of back-off, plus starting the worker and four attempts on a loaded machine
        message="the job to fail after its retries",
    )
    attempts = job.meta["attempts"]
    assert [a["outcome"] for a in attempts] == ["retried", "retried", "retried", "failed"]
    starts = [a["started_at"] for a in attempts]
    ends = [a["ended_at"] for a in attempts]
    gaps = [starts[i + 1] - ends[i] for i in range(3)]
    for gap, interval in zip(gaps, (2, 4, 8), strict=True):
        # RQ stores a scheduled time in whole seconds (truncated), so a retry may start up to 1 s
        # before its back-off has fully passed; the scheduler polls about once a second.
        assert interval - 1.05 <= gap <= interval + 3.0, gaps
    assert job_id in FailedJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False)
    assert "fail_always" in job.latest_result().exc_string


def _run_burst(conn, queue_name: str = "thesis", kind: str = "thesis") -> None:
    run_burst(conn, [queue_name], kind=kind)


def test_completed_retention_keeps_newest_100_and_deletes_keys(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    ids = [queue.enqueue("tests.jobs.noop", result_ttl=contract.COMPLETED_TTL_S).id for _ in range(101)]
    _run_burst(redis_conn)
    registry = FinishedJobRegistry("thesis", connection=redis_conn)
    kept = set(registry.get_job_ids(cleanup=False))
    assert len(kept) == 100
    assert ids[0] not in kept and set(ids[1:]) == kept
    assert not redis_conn.exists(f"rq:job:{ids[0]}", f"rq:results:{ids[0]}")
    assert redis_conn.exists(f"rq:job:{ids[1]}")


def test_failed_retention_keeps_newest_500(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    ids = [queue.enqueue("tests.jobs.boom", failure_ttl=contract.FAILED_TTL_S).id for _ in range(501)]
    # The simple worker: the same after-job hooks as the forking one (the test above runs that one),
    # without 501 forks.
    _run_burst(redis_conn, kind="thesis-simple")
    kept = set(FailedJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False))
    assert len(kept) == 500 and ids[0] not in kept
    assert not redis_conn.exists(f"rq:job:{ids[0]}")
    stray = [k for k in redis_conn.scan_iter(match=b"rq:job:*") if k.decode().split(":")[2] not in kept]
    assert stray == []


def test_metrics_buckets_count_jobs(redis_conn):
    queue = contract.thesis_queue(redis_conn)
    for _ in range(5):
        queue.enqueue("tests.jobs.noop")
    for _ in range(2):
        queue.enqueue("tests.jobs.boom")
    _run_burst(redis_conn)
    minute = int(time.time() // 60)
    stats = [
        metrics_store.decode_bucket(0, redis_conn.hgetall(metrics_store.minute_key("thesis", m)))
        for m in (minute - 1, minute)
    ]
    assert sum(s.completed for s in stats) == 5 and sum(s.failed for s in stats) == 2
    assert redis_conn.ttl(metrics_store.minute_key("thesis", minute)) > 7 * 24 * 3600 - 10


def test_job_data_is_json_everywhere(redis_conn, isolated_env, processes):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Plain JSON jobs", chapters=3))
    processes.start("-m", "worker_runner")
    wait_for(lambda: _fetch(redis_conn, job_id).get_status() == JobStatus.FINISHED, timeout=60, message="finish")
    raw = redis_conn.hgetall(f"rq:job:{job_id}")
    json.loads(zlib.decompress(raw[b"data"]))
    json.loads(raw[b"meta"])
    for entry in redis_conn.xrange(f"rq:results:{job_id}"):
        json.loads(base64.b64decode(entry[1][b"return_value"]))  # RQ base64-wraps the serialized value
