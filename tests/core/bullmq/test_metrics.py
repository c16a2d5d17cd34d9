"""BullMQ queues' chart series: BullMQ's own per-minute metrics, the kept jobs, run times and depth."""

from __future__ import annotations

import pytest

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs, dump_all
from tests.core.bullmq.test_reader import run
from tests.helpers import wait_for
from tests.node_bullmq import NODE_DIR, NodeWorker, produce, require_node_side
from thesis_console.core import metrics_store
from thesis_console.core.bullmq import metrics
from thesis_console.core.bullmq.keys import depth_metrics_name
from thesis_console.core.reader import QueueReader
from thesis_console.core.round_trips import RoundTrips
from thesis_console.core.types import Measure

KEYS = f"bull:{QUEUE}"
M0 = 28_333_320  # a minute (Unix time // 60), 2023-11-14 22:00 UTC


def _collect_metrics_script() -> str:
    """BullMQ's own ``collectMetrics`` (as ``moveToFinished`` runs it) from the pinned Node package,
    callable with a chosen time: KEYS[1] the metrics hash, ARGV[1] maxDataPoints, ARGV[2] the time (ms)."""
    require_node_side()
    includes = NODE_DIR / "node_modules" / "bullmq" / "dist" / "esm" / "commands" / "includes"
    parts = [(includes / f"{name}.lua").read_text() for name in ("batches", "collectMetrics")]
    body = "\n".join(line for part in parts for line in part.splitlines() if not line.startswith("--- @include"))
    return f"local rcall = redis.call\n{body}\ncollectMetrics(KEYS[1], KEYS[1] .. ':data', ARGV[1], ARGV[2])\n"


def _finish(conn, script, outcome: str, at_s: float) -> None:
    script(keys=[f"{KEYS}:metrics:{outcome}"], args=[10_080, int(at_s * 1000)])


def _kept(conn, job_id: str, outcome: str, processed_s: float, finished_s: float) -> None:
    """A finished job as moveToFinished leaves it: its hash and its entry in the outcome's sorted set."""
    conn.hset(f"{KEYS}:{job_id}", mapping={"name": "generate-thesis", "data": "{}", "opts": "{}",
                                           "processedOn": int(processed_s * 1000), "finishedOn": int(finished_s * 1000)})
    conn.zadd(f"{KEYS}:{outcome}", {job_id: int(finished_s * 1000)})


def _series(url: str, range_s: int, now: float):
    async def read(client):
        trips = RoundTrips(client, 5.0)
        series = await metrics.read_series(trips, "bull", QUEUE, range_s, now)
        return series, trips.count

    return run(url, read)


def test_bullmq_own_metrics_are_read_minute_by_minute_as_collect_metrics_wrote_them(redis_conn, redis_url):
    script = redis_conn.register_script(_collect_metrics_script())
    minute = M0 * 60
    for second in (5, 20, 50):
        _finish(redis_conn, script, "completed", minute + second)  # 3 in M0
    _finish(redis_conn, script, "completed", minute + 2 * 60 + 1)  # none in M0+1, 2 in M0+2
    _finish(redis_conn, script, "completed", minute + 2 * 60 + 30)
    _finish(redis_conn, script, "failed", minute + 2 * 60 + 40)
    _finish(redis_conn, script, "completed", minute + 4 * 60 + 10)  # 1 in M0+4, still being counted
    # Retention kept only the newest two completed jobs: their run times, but not the counts.
    _kept(redis_conn, "a", "completed", minute + 2 * 60 + 29, minute + 2 * 60 + 30)
    _kept(redis_conn, "b", "completed", minute + 4 * 60 + 7, minute + 4 * 60 + 10)
    metrics_store.record_depth(redis_conn, depth_metrics_name("bull", QUEUE), 7, now=minute + 3 * 60 + 5)
    add_jobs(redis_url, [({"topic": "waiting"}, {}), ({"topic": "prioritized"}, {"priority": 3})])
    before = dump_all(redis_conn)

    series, trips = _series(redis_url, 600, now=minute + 4 * 60 + 30)

    assert trips == 2 and dump_all(redis_conn) == before
    by_minute = {int(p.start) // 60 - M0: p for p in series.points}
    assert sorted(by_minute) == list(range(-5, 5))
    assert [(by_minute[m].completed, by_minute[m].failed) for m in range(5)] == [(3, 0), (0, 0), (2, 1), (0, 0), (1, 0)]
    assert all(Measure.THROUGHPUT in by_minute[m].unrecorded for m in range(-5, 0))  # before the first finish
    assert all(Measure.THROUGHPUT not in by_minute[m].unrecorded for m in range(5))
    assert by_minute[2].success_rate == pytest.approx(2 / 3)
    assert by_minute[4].runtime_p50_s == pytest.approx(3.0) and by_minute[2].runtime_p95_s == pytest.approx(1.0)
    assert Measure.RUNTIME in by_minute[0].unrecorded  # 3 jobs ended, none of them is kept
    assert Measure.RUNTIME not in by_minute[1].unrecorded and by_minute[1].runtime_p50_s is None  # none ended
    assert (by_minute[3].depth, by_minute[4].depth) == (7, 2)  # a supervisor's sample; wait + prioritized now
    assert Measure.DEPTH in by_minute[1].unrecorded and series.unrecorded(Measure.DEPTH) == 8
    assert series.sources[0] == metrics.SOURCE_METRICS

    day, _ = _series(redis_url, 24 * 3600, now=minute + 4 * 60 + 30)
    assert day.step_s == 3600 and len(day.points) == 24
    assert sum(p.completed for p in day.points) == 6 and sum(p.failed for p in day.points) == 1
    assert Measure.THROUGHPUT in day.points[0].unrecorded and Measure.THROUGHPUT not in day.points[-1].unrecorded


def test_without_metrics_the_counts_come_from_the_kept_jobs_and_before_them_nothing_is_recorded(redis_conn, redis_url):
    now = M0 * 60 + 30
    _kept(redis_conn, "old", "failed", now - 50 * 60, now - 50 * 60 + 2)  # failed jobs kept for longer
    for i in range(5):
        _kept(redis_conn, f"c{i}", "completed", now - 20 * 60 + i, now - 20 * 60 + 2 * i + 1)

    series, trips = _series(redis_url, 3600, now)

    assert series.sources[0] == metrics.SOURCE_KEPT and trips == 2
    assert sum(p.completed for p in series.points) == 5
    recorded = [p for p in series.points if Measure.THROUGHPUT not in p.unrecorded]
    (old,) = [p for p in series.points if p.failed]  # before the oldest completed job kept: jobs may be gone
    assert Measure.THROUGHPUT in old.unrecorded and old.start < recorded[0].start
    assert recorded[0].start <= now - 20 * 60 < recorded[0].start + 60 and recorded[-1] is series.points[-1]
    busy = [p for p in series.points if p.completed]
    assert len(busy) == 1 and busy[0].runtime_p50_s == pytest.approx(3.0) and busy[0].runtime_p95_s == pytest.approx(4.8)


def test_nothing_finished_and_no_metrics_is_not_recorded_and_reads_in_one_round_trip(redis_conn, redis_url):
    add_jobs(redis_url, [({"topic": "waiting"}, {})])
    series, trips = _series(redis_url, 900, now=M0 * 60)
    assert trips == 1
    assert series.unrecorded(Measure.THROUGHPUT) == len(series.points) == 15
    assert series.points[-1].depth == 1 and series.unrecorded(Measure.DEPTH) == 14


def test_foreign_metrics_keys_are_not_recorded_rather_than_an_error(redis_conn, redis_url):
    redis_conn.set(f"{KEYS}:metrics:completed", "not a hash")
    redis_conn.hset(f"{KEYS}:metrics:failed", mapping={"count": "x", "prevTS": "soon"})
    redis_conn.set(f"{KEYS}:completed", "not a sorted set")
    series, _ = _series(redis_url, 600, now=M0 * 60)
    assert series.unrecorded(Measure.THROUGHPUT) == len(series.points)


def test_a_bad_range_is_refused_with_a_reason(redis_url):
    from thesis_console.core.types import CoreError

    with pytest.raises(CoreError, match="range must be 60 s to"):
        _series(redis_url, 30, now=M0 * 60)


def _completed_events(conn) -> list[float]:
    return [int(eid.split(b"-")[0]) / 1000 for eid, f in conn.xrange(f"{KEYS}:events") if f[b"event"] == b"completed"]


@pytest.mark.slow(75)
def test_a_node_worker_recording_metrics_is_counted_beyond_the_jobs_retention_keeps(redis_conn, redis_url):
    worker = NodeWorker(redis_url, options={"metrics": {"maxDataPoints": 10_080}})
    keep_two = {"removeOnComplete": {"count": 2}}
    try:
        worker.wait_ready()
        produce(redis_url, [{"thesisId": f"a{i}", "topic": "A"} for i in range(4)], opts=keep_two)
        wait_for(lambda: len(_completed_events(redis_conn)) == 4, timeout=30, message="4 jobs completed")
        first_minute = int(max(_completed_events(redis_conn)) // 60)
        # The next minute's first finish pushes the earlier minute onto BullMQ's list.
        wait_for(lambda: int(redis_conn.time()[0]) // 60 > first_minute, timeout=70, interval=0.2, message="a new minute")
        produce(redis_url, [{"thesisId": f"b{i}", "topic": "B"} for i in range(2)], opts=keep_two)
        wait_for(lambda: len(_completed_events(redis_conn)) == 6, timeout=30, message="6 jobs completed")
    finally:
        worker.stop()
    assert redis_conn.zcard(f"{KEYS}:completed") == 2 and redis_conn.llen(f"{KEYS}:metrics:completed:data") >= 1

    series = run(redis_url, lambda c: QueueReader(c).metric_series(QUEUE, 3600))

    expected: dict[int, int] = {}
    for at in _completed_events(redis_conn):
        expected[int(at // 60) * 60] = expected.get(int(at // 60) * 60, 0) + 1
    assert {int(p.start): p.completed for p in series.points if p.completed} == expected
    assert series.sources[0] == metrics.SOURCE_METRICS
    assert series.points[-1].runtime_p50_s is not None or series.points[-2].runtime_p50_s is not None
