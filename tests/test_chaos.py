"""The short version of ``make soak``: a few dozen jobs through every kind of fault."""

from __future__ import annotations

import pytest

from benchmarks.chaos import ChaosConfig, run_chaos


@pytest.mark.slow(seconds=90)
def test_short_chaos_run_loses_nothing(tmp_path):
    cfg = ChaosConfig(
        jobs=40,
        pace_s=0.08,
        supervisors=1,
        min_concurrency=2,
        max_concurrency=3,
        fault_every_s=(1.0, 2.0),
        redis_restarts=1,
        deadline_s=300,  # generous: the run ends as soon as every job has ended
        settle_s=3,
        recovery_interval_s=1.0,
    )
    report = run_chaos(cfg, tmp_path, say=lambda _msg: None)
    print(report.table())
    assert report.ok, report.table()
    assert sum(report.outcome.values()) == cfg.jobs
    assert report.outcome["failed after retries"] >= 1  # the always-failing jobs
    assert sum(report.faults.values()) >= 3
