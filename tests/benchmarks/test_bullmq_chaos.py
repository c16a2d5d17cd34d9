"""The short version of ``make soak ARGS=--bullmq``: soak jobs on the BullMQ thesis queue through the
faults that apply to Python BullMQ workers, accounted for from the ledger and the events stream.

A SIGKILLed supervisor's jobs come back only through BullMQ's stalled check (30 to 75 s), longer
than this run: that fault is in the full soak, and ``test_bullmq_workers.py`` checks that no worker
outlives its SIGKILLed supervisor.
"""

from __future__ import annotations

import time

import pytest

from benchmarks.bullmq_chaos import BullRun, bullmq_config
from benchmarks.chaos import run_chaos
from benchmarks.chaos_accounting import FaultKind, JobStatus
from tests.benchmarks.test_chaos import SHORT_RUN, check_short_run
from tests.node_bullmq import require_node_side

FAULTS = {
    FaultKind.KILL_WORKER: 3,
    FaultKind.STOP_SUPERVISOR: 1,
    FaultKind.RESIZE: 2,
    FaultKind.REDIS_SHUTDOWN: 1,
    FaultKind.REDIS_SIGKILL: 1,
}


@pytest.mark.slow(seconds=60)
@pytest.mark.timeout(200)
def test_short_bullmq_chaos_run_accounts_for_every_job(tmp_path):
    require_node_side()
    cfg = bullmq_config(
        **SHORT_RUN,
        fault_weights=FAULTS,
        jobs=40,
        pace_s=0.05,
        late_batch=5,
        fault_window_s=20,
        redis_down_s=1.0,
        deadline_s=120,  # the run ends as soon as every job has ended
        settle_s=1,
    )
    report = run_chaos(cfg, tmp_path, say=lambda _msg: None, title="short BullMQ chaos run", backend=BullRun)
    check_short_run(report, cfg, completed_at_least=30, enqueued_late_at_least=10)


def test_the_event_tail_keeps_every_end_and_reports_two_ends_of_one_job_and_a_gap(redis_conn):
    from benchmarks.bullmq_chaos import KEYS, EventTail

    events = KEYS.of("events")
    tail = EventTail()
    redis_conn.xadd(events, {"event": "waiting", "jobId": "soak-1"})
    redis_conn.xadd(events, {"event": "active", "jobId": "soak-1"})
    redis_conn.xadd(events, {"event": "completed", "jobId": "soak-1", "returnvalue": '{"thesisId": "soak-1", "words": 3}'})
    redis_conn.xadd(events, {"event": "failed", "jobId": "soak-2", "failedReason": "designed"})
    tail.read(redis_conn)
    assert [(e.status, e.result) for e in tail.ends["soak-1"]] == [(JobStatus.FINISHED, {"thesisId": "soak-1", "words": 3})]
    assert [e.status for e in tail.ends["soak-2"]] == [JobStatus.FAILED]
    assert len(tail.waiting_at["soak-1"]) == 1 and abs(tail.waiting_at["soak-1"][0] - time.time()) < 60
    redis_conn.xadd(events, {"event": "completed", "jobId": "soak-1", "returnvalue": "{}"})
    tail.read(redis_conn)
    assert len(tail.ends["soak-1"]) == 2
    redis_conn.xadd(events, {"event": "waiting", "jobId": "soak-3"})
    redis_conn.xtrim(events, maxlen=0)  # trimmed before the tail read it
    redis_conn.xadd(events, {"event": "completed", "jobId": "soak-3", "returnvalue": "{}"})
    tail.read(redis_conn)
    assert tail.gaps and len(tail.ends["soak-3"]) == 1


def test_the_seed_options_give_retries_after_2_and_4_s():
    from benchmarks.bullmq_chaos import backoff_intervals
    from thesis_console.core.bullmq.job_defaults import SEED_OPTIONS

    assert backoff_intervals(SEED_OPTIONS) == (2, 4)
