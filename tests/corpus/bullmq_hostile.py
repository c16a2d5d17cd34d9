"""Hostile BullMQ data: broken jobs and foreign keys under ``bull:hostile-bull``, each named by what it breaks."""

from __future__ import annotations

import json

from tests.core.bullmq.bull_jobs import add_jobs, bulk_job
from thesis_console.core.types import JobState

QUEUE = "hostile-bull"
CASES = ("not_json", "hash_gone", "wrong_type", "ten_mb", "not_utf8")
FINISHED_CASES = {
    "bad_stacktrace": "failed",
    "binary_reason": "failed",
    "bad_returnvalue": "completed",
    "list_job": "completed",
}
"""Finished jobs (as moveToFinished leaves them, then damaged) and the structure each is in."""


def load(conn, url: str) -> dict[str, str]:
    """Five waiting jobs written by BullMQ's scripts, then damaged; four damaged finished jobs; a string
    where ``delayed`` belongs.

    Returns: the job id of each case in :data:`CASES` and :data:`FINISHED_CASES`.
    """
    ids = dict(zip(CASES, add_jobs(url, [({"topic": "fine"}, {}) for _ in CASES], queue=QUEUE), strict=True))
    key = f"bull:{QUEUE}:"
    conn.hset(key + ids["not_json"], "data", b"{not json")
    conn.delete(key + ids["hash_gone"])
    conn.delete(key + ids["wrong_type"])
    conn.set(key + ids["wrong_type"], "a string where a hash belongs")
    conn.hset(key + ids["ten_mb"], "data", json.dumps({"topic": "big", "blob": "x" * 10_000_000}))
    conn.hset(key + ids["not_utf8"], mapping={"progress": b"\xff\xfe", "opts": b"[", "name": b"\xc3("})
    conn.set(key + "delayed", "not a sorted set")
    for n, (case, structure) in enumerate(FINISHED_CASES.items()):
        job_id = str(conn.incr(key + "id"))
        ids[case] = job_id
        fields = bulk_job(job_id, JobState(structure), 1_700_000_000_000 + n, f"hostile case {case}")
        conn.hset(key + job_id, mapping=fields)
        conn.zadd(key + structure, {job_id: fields["finishedOn"]})
    conn.hset(key + ids["bad_stacktrace"], "stacktrace", "[not json")
    conn.hset(key + ids["binary_reason"], "failedReason", b"\x80\x81 boom")
    conn.hset(key + ids["bad_returnvalue"], "returnvalue", b"\xff{")
    conn.delete(key + ids["list_job"])
    conn.rpush(key + ids["list_job"], "a list where a hash belongs")
    return ids
