from __future__ import annotations

import json
import zlib

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.redis_target import RedisUnavailable, connect
from thesis_console.core.thesis_request import InvalidRequest, ThesisRequest


def test_enqueue_returns_id_and_stores_json(redis_conn):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Event sourcing at scale"))
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [job_id.encode()]
    raw = redis_conn.hgetall(f"rq:job:{job_id}")
    payload = json.loads(zlib.decompress(raw[b"data"]))  # RQ zlib-compresses data; inside is JSON, not pickle
    assert payload[0] == contract.JOB_FUNCTION
    assert payload[3]["request"]["topic"] == "Event sourcing at scale"
    meta = json.loads(raw[b"meta"])
    assert meta["progress"] == 0 and meta["kind"] == "thesis"
    assert int(raw[b"timeout"]) == contract.job_timeout_s()
    job = Job.fetch(job_id, connection=redis_conn, serializer=contract.SERIALIZER)
    assert job.retries_left == 3 and job.retry_intervals == [2, 4, 8]
    assert job.result_ttl == 24 * 3600


def test_delay_and_front(redis_conn):
    first = enqueue_thesis(redis_conn, ThesisRequest(topic="First topic"))
    front = enqueue_thesis(redis_conn, ThesisRequest(topic="Urgent topic"), at_front=True)
    later = enqueue_thesis(redis_conn, ThesisRequest(topic="Later topic"), delay_s=60)
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [front.encode(), first.encode()]
    assert later in ScheduledJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False)


def test_invalid_request_writes_nothing(redis_conn):
    with pytest.raises(InvalidRequest, match="chapters"):
        enqueue_thesis(redis_conn, ThesisRequest(topic="Valid topic", chapters=99))
    assert redis_conn.dbsize() == 0


def test_refused_redis_is_a_message():
    from thesis_console.core.embedded_redis import free_port

    with pytest.raises(RedisUnavailable, match="refused"):
        connect(f"redis://127.0.0.1:{free_port()}/0", timeout=1)


def test_queue_name_and_timeout_from_env(monkeypatch, redis_conn):
    monkeypatch.setenv("THESIS_QUEUE", "theses2")
    monkeypatch.setenv("THESIS_JOB_TIMEOUT", "600")
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Configurable queue"))
    assert redis_conn.lrange("rq:queue:theses2", 0, -1) == [job_id.encode()]
    assert int(redis_conn.hget(f"rq:job:{job_id}", "timeout")) == 600
    monkeypatch.setenv("THESIS_JOB_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="THESIS_JOB_TIMEOUT must be a whole number"):
        contract.job_timeout_s()
