"""The benchmarks' Node producer: many large jobs, each with options of its own, in the order given."""

from __future__ import annotations

from benchmarks.bench_setup import PRODUCER_BATCH, produce
from tests.node_bullmq import require_node_side


def test_more_jobs_than_one_command_line_holds_are_added_in_batches_with_their_own_ids(redis_conn, redis_url):
    require_node_side()
    count = PRODUCER_BATCH + 50
    jobs = [{"thesisId": f"big-{i}", "topic": f"Thesis {i}", "notes": "x" * 1000} for i in range(count)]  # > 128 KiB
    ids = produce(redis_url, jobs, [{"jobId": f"own-{i}"} for i in range(count)])
    assert ids == [f"own-{i}" for i in range(count)]
    assert redis_conn.lrange("bull:thesis-generation:wait", 0, -1)[::-1] == [i.encode() for i in ids]
