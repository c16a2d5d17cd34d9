"""The bulk writer of the BullMQ paging tests and the reading benchmark writes what BullMQ's scripts write.

The same jobs are made twice on one Redis: by the real Node BullMQ (the thesis producer and worker,
under the prefix ``real``) and by :func:`write_bulk` (under ``bulk``). Every key the console reads must
match: which structures exist and their types, each job's fields, options and scores, and the rows the
console makes of them.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.core.bullmq.bull_jobs import DELAY_MS, QUEUE, write_bulk
from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import NodeWorker, produce
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import JobRow, JobState

STRUCTURES = ("wait", "paused", "prioritized", "delayed", "active", "completed", "failed", "id", "meta")
"""The keys of a queue the console reads (workers' markers, events and job logs are not read for a page)."""


def _real_jobs(conn, url: str) -> dict[JobState, str]:
    """One job per state made by Node BullMQ with the thesis system's options: a completed one, one
    failed after its 3 attempts (back-offs of 2 and 4 s), then a waiting and a delayed one."""
    done, failing = produce(url, [{"thesisId": "ok", "topic": "T"}, {"thesisId": "bad", "topic": "T", "fail": True}], prefix="real")
    worker = NodeWorker(url, prefix="real")
    try:
        worker.wait_ready()
        assert wait_for(lambda: conn.zscore(f"real:{QUEUE}:failed", failing) is not None, timeout=60)
        assert wait_for(lambda: conn.zscore(f"real:{QUEUE}:completed", done) is not None, timeout=60)
    finally:
        worker.stop()
    (waiting,) = produce(url, [{"thesisId": "w", "topic": "T"}], prefix="real")
    (delayed,) = produce(url, [{"thesisId": "d", "topic": "T"}], prefix="real", opts={"delay": DELAY_MS})
    return {JobState.COMPLETED: done, JobState.FAILED: failing, JobState.WAITING: waiting, JobState.SCHEDULED: delayed}


def _fields(conn, prefix: str, job_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in conn.hgetall(f"{prefix}:{QUEUE}:{job_id}").items()}


def _comparable(row: JobRow) -> JobRow:
    """A row without what differs between any two jobs: id, topic, times."""
    return dataclasses.replace(row, id="", topic=None, enqueued_at=None, started_at=None, ended_at=None,
                               duration_s=None, scheduled_for=None, error_line=None)  # fmt: skip


@pytest.mark.slow(seconds=12)
def test_bulk_written_jobs_match_what_the_node_scripts_write(redis_conn, redis_url):
    real = _real_jobs(redis_conn, redis_url)
    written = {state: write_bulk(redis_conn, state, 3, prefix="bulk") for state in real}
    bulk = {state: ids[1] for state, ids in written.items()}

    for name in STRUCTURES:
        kinds = [redis_conn.type(f"{prefix}:{QUEUE}:{name}") for prefix in ("real", "bulk")]
        assert kinds[0] == kinds[1], name
    assert _fields(redis_conn, "real", "meta") == _fields(redis_conn, "bulk", "meta")

    for state, real_id in real.items():
        mine, theirs = _fields(redis_conn, "bulk", bulk[state]), _fields(redis_conn, "real", real_id)
        assert sorted(mine) == sorted(theirs), state
        assert json.loads(mine["opts"]) == json.loads(theirs["opts"]), state
        for numeric in ("timestamp", "delay", "priority", "atm", "ats", "progress", "processedOn", "finishedOn"):
            assert (numeric in mine) == (numeric in theirs)
            if numeric in ("delay", "priority", "atm", "ats", "progress"):
                assert mine.get(numeric) == theirs.get(numeric), (state, numeric)
        data = json.loads(theirs["data"])
        data.pop("fail", None)
        assert sorted(json.loads(mine["data"])) == sorted(data)
        if state is JobState.FAILED:
            assert len(json.loads(mine["stacktrace"])) == len(json.loads(theirs["stacktrace"])) == 3
        if state in (JobState.COMPLETED, JobState.FAILED):
            structure = state.value
            for prefix, job_id, fields in (("real", real_id, theirs), ("bulk", bulk[state], mine)):
                assert redis_conn.zscore(f"{prefix}:{QUEUE}:{structure}", job_id) == float(fields["finishedOn"])
        if state is JobState.SCHEDULED:
            for prefix, job_id, fields in (("real", real_id, theirs), ("bulk", bulk[state], mine)):
                score = int(redis_conn.zscore(f"{prefix}:{QUEUE}:delayed", job_id))
                assert score >> 12 == int(fields["timestamp"]) + DELAY_MS
    waiting = written[JobState.WAITING]
    assert redis_conn.lrange(f"bulk:{QUEUE}:wait", 0, -1) == [i.encode() for i in reversed(waiting)]  # LPUSHed
    assert int(redis_conn.get(f"bulk:{QUEUE}:id")) == 12

    async def rows(client) -> dict[tuple[str, JobState], JobRow]:
        out = {}
        for prefix, ids in (("real", real), ("bulk", bulk)):
            reader = QueueReader(client, bullmq_prefix=prefix)
            for state, job_id in ids.items():
                page = await reader.page(QUEUE, state, 0, 10)
                out[prefix, state] = next(r for r in page.rows if r.id == job_id)
        return out

    read = run(redis_url, lambda c: rows(c))
    for state in real:
        assert _comparable(read["bulk", state]) == _comparable(read["real", state]), state
        assert read["bulk", state].problem is None
