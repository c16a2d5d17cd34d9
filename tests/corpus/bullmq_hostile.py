"""Hostile BullMQ data: broken jobs and foreign keys under ``bull:hostile-bull``, each named by what it breaks."""

from __future__ import annotations

import json

from tests.core.bullmq.bull_jobs import add_jobs

QUEUE = "hostile-bull"
CASES = ("not_json", "hash_gone", "wrong_type", "ten_mb", "not_utf8")


def load(conn, url: str) -> dict[str, str]:
    """Five waiting jobs written by BullMQ's scripts, then damaged; a string where ``delayed`` belongs.

    Returns: the job id of each case in :data:`CASES`.
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
    return ids
