"""The short version of ``make soak``: a few dozen jobs through every kind of fault, full accounting.

The verdict logic itself is tested case by case in ``test_chaos_accounting.py``.
"""

from __future__ import annotations

import pytest

from benchmarks.chaos import ChaosConfig, run_chaos
from benchmarks.chaos_accounting import ChaosReport, FaultKind, Verdict

FAULTS = {
    FaultKind.KILL_HORSE: 3,
    FaultKind.KILL_WORKER: 2,
    FaultKind.KILL_SCHEDULER_HOLDER: 1,
    FaultKind.KILL_SUPERVISOR: 1,
    FaultKind.STOP_SUPERVISOR: 1,
    FaultKind.RESIZE: 2,
    FaultKind.STOP_JOB: 1,
    FaultKind.REDIS_SHUTDOWN: 1,
    FaultKind.REDIS_SIGKILL: 1,
}


SHORT_RUN = dict(
    supervisors=2,
    min_concurrency=2,
    max_concurrency=3,
    late_window_s=8,
    outage_enqueues=2,
    fault_every_s=(0.4, 0.8),
    redis_shutdowns=1,
    redis_kills=1,
    recovery_interval_s=1.0,
)
"""What the short runs of both backends share: a minute or so, every fault they name, a Redis outage of each kind."""


@pytest.mark.slow(seconds=90)
@pytest.mark.timeout(280)
def test_short_chaos_run_accounts_for_every_job(tmp_path):
    cfg = ChaosConfig(
        **SHORT_RUN,
        fault_weights=FAULTS,
        jobs=60,
        pace_s=0.1,
        fault_window_s=30,
        redis_down_s=1.5,
        deadline_s=200,  # the run ends as soon as every job has ended
        settle_s=2,
    )
    report = run_chaos(cfg, tmp_path, say=lambda _msg: None, title="short chaos run")
    check_short_run(report, cfg, completed_at_least=45, enqueued_late_at_least=15)


def check_short_run(report: ChaosReport, cfg: ChaosConfig, completed_at_least: int, enqueued_late_at_least: int) -> None:
    """The run passed, accounted for every job, and injected every kind of fault its configuration names."""
    print(report.table())
    assert report.ok, report.table()
    assert report.enqueued == cfg.jobs
    counts = report.accounting.count()
    assert counts[Verdict.FAILED_AS_DESIGNED] >= 1 and counts[Verdict.COMPLETED] >= completed_at_least
    assert report.enqueued_during_faults >= enqueued_late_at_least
    assert {f.kind for f in report.faults} == set(cfg.fault_weights), report.table()
    assert report.retries  # designed failures were retried and measured
