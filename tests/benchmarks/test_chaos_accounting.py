"""The chaos run's verdict: each way a run can go wrong makes it fail, and a clean run passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos_accounting import (
    AT_LEAST_ONCE_WINDOW_S,
    PARENT_DEATH_S,
    ChaosReport,
    EnqueuedJob,
    FaultKind,
    FaultRecord,
    FinalState,
    JobStatus,
    Kill,
    Place,
    RetryContext,
    Verdict,
    account,
    retry_samples,
)
from benchmarks.soak_job import Design, LedgerEvent, LedgerLine

T0 = 1_800_000_000.0


def _document(folder: Path, job: EnqueuedJob) -> dict:
    chapters = "\n\n".join(f"## {i + 1}. Part {i + 1}\n\nBody of part {i + 1}." for i in range(job.chapters))
    text = f"# {job.topic}\n\n*A thesis*\n\n## Contents\n\n1. Part 1\n\n{chapters}\n\n## References\n\n- A book\n"
    path = folder / f"chaos-thesis-{job.job_id}.md"
    path.write_text(text, encoding="utf-8")
    return {"path": str(path), "words": len(text.split()), "chapters": job.chapters, "title": job.topic}


def _line(event: LedgerEvent, job_id: str, at: float, attempt: int = 1, pid: int = 100, worker: str = "sup-1.ab12-1", result=None):
    return LedgerLine(event, job_id, attempt, pid, worker, T0 + at, result)


class Scenario:
    """One job of each design that ended well; tests spoil one thing and check the verdict."""

    def __init__(self, folder: Path) -> None:
        self.jobs = {
            "ok": EnqueuedJob("ok", Design.SUCCEED, "Topic ok", 2),
            "once": EnqueuedJob("once", Design.FAIL_ONCE, "Topic once", 2),
            "always": EnqueuedJob("always", Design.FAIL_ALWAYS, "Topic always", 2),
        }
        self.results = {key: _document(folder, self.jobs[key]) for key in ("ok", "once")}
        self.lines = [
            _line(LedgerEvent.START, "ok", 0.0),
            _line(LedgerEvent.DONE, "ok", 0.6, result=self.results["ok"]),
            _line(LedgerEvent.START, "once", 0.0, pid=101),
            _line(LedgerEvent.FAIL, "once", 0.01, pid=101),
            _line(LedgerEvent.START, "once", 2.5, attempt=2, pid=102),
            _line(LedgerEvent.DONE, "once", 3.1, attempt=2, pid=102, result=self.results["once"]),
        ]
        for attempt, at in ((1, 0.0), (2, 2.5), (3, 7.0), (4, 15.5)):
            self.lines.append(_line(LedgerEvent.START, "always", at, attempt=attempt, pid=200 + attempt))
            self.lines.append(_line(LedgerEvent.FAIL, "always", at + 0.01, attempt=attempt, pid=200 + attempt))
        self.final = {
            "ok": FinalState(JobStatus.FINISHED, result=self.results["ok"]),
            "once": FinalState(JobStatus.FINISHED, result=self.results["once"]),
            "always": FinalState(JobStatus.FAILED),
        }
        self.seen: dict[str, JobStatus] = {}
        self.stopped: set[str] = set()
        self.kills: list[Kill] = []
        self.outages: list[tuple[float, float]] = []

    def account(self):
        return account(self.jobs, self.lines, self.final, self.seen, self.stopped, self.kills, self.outages)

    def report(self, **overrides) -> ChaosReport:
        fields = dict(
            title="test", elapsed_s=1.0, enqueued=len(self.jobs), enqueued_during_faults=0,
            accounting=self.account(), faults=[], retries=[],
        )  # fmt: skip
        fields.update(overrides)
        return ChaosReport(**fields)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return Scenario(tmp_path)


def test_a_clean_run_passes(scenario):
    report = scenario.report()
    assert report.ok, report.problems()
    assert report.accounting.count() == {Verdict.COMPLETED: 2, Verdict.FAILED_AS_DESIGNED: 1}
    assert "verdict: PASS" in report.table()


def test_two_completions_of_one_job_fail_the_run(scenario):
    scenario.lines.append(_line(LedgerEvent.DONE, "ok", 9.0, pid=300, result=scenario.results["ok"]))
    report = scenario.report()
    assert not report.ok
    assert report.accounting.twice == {"ok": 2}
    assert "| completed twice (two `done` lines in the ledger) | **1** |" in report.table()


def test_a_rerun_after_a_kill_that_did_not_complete_is_not_a_duplicate(scenario):
    scenario.lines.insert(0, _line(LedgerEvent.START, "ok", -5.0, pid=99))  # killed mid-job: no done line
    scenario.kills.append(Kill(T0 - 4.0, pids=frozenset({99})))
    assert scenario.report().ok


def test_a_kill_between_done_and_its_record_explains_a_rerun(scenario):
    scenario.lines.insert(0, _line(LedgerEvent.START, "ok", -5.0, pid=99, worker="sup-2.cd34-1"))
    scenario.lines.insert(1, _line(LedgerEvent.DONE, "ok", -4.4, pid=99, worker="sup-2.cd34-1", result=scenario.results["ok"]))
    scenario.kills.append(Kill(T0 - 4.4 + 0.001, supervisors=frozenset({"sup-2"})))
    report = scenario.report()
    assert report.ok, report.problems()
    assert report.accounting.rerun_after_kill == {"ok"}


def test_a_horse_that_outlived_its_killed_worker_for_a_moment_explains_a_rerun(scenario):
    scenario.lines.insert(0, _line(LedgerEvent.DONE, "ok", -4.4, pid=99, worker="sup-2.cd34-1", result=scenario.results["ok"]))
    scenario.kills.append(Kill(T0 - 4.4 - 0.1, workers=frozenset({"sup-2.cd34-1"})))
    assert scenario.report().accounting.rerun_after_kill == {"ok"}


def test_a_kill_while_the_run_waited_for_redis_to_record_its_end_explains_a_rerun(scenario):
    # The line is written as Redis goes down; the run records its end only once Redis is back.
    scenario.lines.insert(0, _line(LedgerEvent.DONE, "ok", -4.4, pid=99, worker="sup-2.cd34-1", result=scenario.results["ok"]))
    scenario.kills.append(Kill(T0 - 0.5, workers=frozenset({"sup-2.cd34-1"})))  # 3.9 s after the line
    assert scenario.report().accounting.twice == {"ok": 2}  # without the outage: too late
    scenario.outages.append((T0 - 4.5, T0 - 2.0))
    report = scenario.report()
    assert report.ok, report.problems()
    assert report.accounting.rerun_after_kill == {"ok"}


@pytest.mark.parametrize(
    "outage",
    [
        (T0 - 9.0, T0 - 4.5),  # over before the line
        (T0 - 4.4 + AT_LEAST_ONCE_WINDOW_S + 0.1, T0 - 0.6),  # began after the run had recorded its end
    ],
)
def test_an_outage_outside_the_window_does_not_stretch_it(scenario, outage):
    scenario.lines.insert(0, _line(LedgerEvent.DONE, "ok", -4.4, pid=99, worker="sup-2.cd34-1", result=scenario.results["ok"]))
    scenario.kills.append(Kill(T0 - 0.5, workers=frozenset({"sup-2.cd34-1"})))
    scenario.outages.append(outage)
    assert scenario.report().accounting.twice == {"ok": 2}


@pytest.mark.parametrize(
    "kill",
    [
        Kill(T0 - 4.4 + AT_LEAST_ONCE_WINDOW_S + 1, pids=frozenset({99})),  # too late to explain it
        Kill(T0 - 4.4 + 0.001, pids=frozenset({98})),  # another process
        Kill(T0 - 4.4 + 0.001, workers=frozenset({"sup-2.cd34-2"})),  # another worker
        Kill(T0 - 4.4 - 0.1, pids=frozenset({99})),  # that horse was dead before the line's time
        Kill(T0 - 4.4 - PARENT_DEATH_S - 0.1, workers=frozenset({"sup-2.cd34-1"})),  # long before
    ],
)
def test_a_kill_that_did_not_end_that_run_does_not_explain_a_duplicate(scenario, kill):
    scenario.lines.insert(0, _line(LedgerEvent.DONE, "ok", -4.4, pid=99, worker="sup-2.cd34-1", result=scenario.results["ok"]))
    scenario.kills.append(kill)
    report = scenario.report()
    assert not report.ok
    assert report.accounting.twice == {"ok": 2}


def test_a_job_without_hash_or_completion_is_lost(scenario):
    scenario.lines = [line for line in scenario.lines if line.job_id != "ok" or line.event is LedgerEvent.START]
    scenario.final["ok"] = FinalState(None)
    report = scenario.report()
    assert not report.ok
    assert report.accounting.verdicts["ok"] is Verdict.LOST


def test_jobs_trimmed_by_retention_are_accounted_for_by_the_ledger_or_an_observed_end(scenario):
    scenario.final = {job_id: FinalState(None) for job_id in scenario.jobs}
    scenario.seen = {"always": JobStatus.FAILED}
    report = scenario.report()
    assert report.ok, report.problems()
    assert report.accounting.trimmed == {"ok", "once", "always"}


@pytest.mark.parametrize("job_id", ["ok", "once"])
def test_a_job_designed_to_succeed_that_failed_fails_the_run(scenario, job_id):
    scenario.lines = [line for line in scenario.lines if not (line.job_id == job_id and line.event is LedgerEvent.DONE)]
    scenario.final[job_id] = FinalState(JobStatus.FAILED)
    report = scenario.report()
    assert not report.ok
    assert report.accounting.verdicts[job_id] is Verdict.SUCCEED_BUT_FAILED


def test_a_job_designed_to_fail_that_completed_fails_the_run(scenario):
    scenario.final["always"] = FinalState(JobStatus.FINISHED)
    report = scenario.report()
    assert not report.ok
    assert report.accounting.verdicts["always"] is Verdict.FAIL_BUT_COMPLETED


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        (FinalState(JobStatus.RUNNING, Place.RUNNING), Verdict.STUCK),
        (FinalState(JobStatus.WAITING, Place.RUNNING), Verdict.STUCK),  # in the intermediate list
        (FinalState(JobStatus.WAITING, Place.WAITING), Verdict.STUCK),
        (FinalState(JobStatus.WAITING), Verdict.STUCK),
        (FinalState(JobStatus.STOPPED), Verdict.UNEXPECTED),  # nobody stopped it
        (FinalState(JobStatus.CANCELED), Verdict.UNEXPECTED),
    ],
)
def test_stuck_and_unexpected_end_states_fail_the_run(scenario, state, verdict):
    scenario.final["ok"] = state
    report = scenario.report()
    assert not report.ok
    assert report.accounting.verdicts["ok"] is verdict


def test_a_job_finished_in_redis_without_a_completed_run_fails_the_run(scenario):
    scenario.lines = [line for line in scenario.lines if not (line.job_id == "ok" and line.event is LedgerEvent.DONE)]
    report = scenario.report()
    assert not report.ok
    assert report.accounting.verdicts["ok"] is Verdict.UNEXPECTED


def test_a_job_stopped_on_purpose_passes(scenario):
    scenario.final["ok"] = FinalState(JobStatus.STOPPED)
    scenario.stopped.add("ok")
    assert scenario.report().ok


@pytest.mark.parametrize("spoil", ["missing file", "wrong title", "word count", "stored result", "no result"])
def test_a_wrong_output_fails_the_run(scenario, spoil):
    result = scenario.results["ok"]
    path = Path(result["path"])
    if spoil == "missing file":
        path.unlink()
    elif spoil == "wrong title":
        path.write_text(path.read_text().replace("# Topic ok", "# Another topic"))
    elif spoil == "word count":
        path.write_text(path.read_text() + "one more\n")
    elif spoil == "stored result":
        scenario.final["ok"] = FinalState(JobStatus.FINISHED, result={**result, "words": 1})
    else:
        scenario.lines = [line for line in scenario.lines if line.job_id != "ok"]
        scenario.lines.append(_line(LedgerEvent.DONE, "ok", 0.6))
    report = scenario.report()
    assert not report.ok
    assert set(report.accounting.bad_outputs) == {"ok"}


def test_a_ledger_line_of_a_job_never_enqueued_fails_the_run(scenario):
    scenario.lines.append(_line(LedgerEvent.START, "stranger", 1.0))
    assert not scenario.report().ok


def test_a_job_without_verdict_or_an_unreadable_ledger_line_fails_the_run(scenario):
    assert not scenario.report(enqueued=4).ok
    assert not scenario.report(ledger_unreadable=1).ok


def test_a_worker_process_that_died_in_a_redis_outage_fails_the_run(scenario):
    assert scenario.report(outage_workers=[(FaultKind.REDIS_SIGKILL, 6, 0)]).ok
    report = scenario.report(outage_workers=[(FaultKind.REDIS_SHUTDOWN, 6, 0), (FaultKind.REDIS_SIGKILL, 6, 1)])
    assert not report.ok
    assert "| Redis SIGKILL + restart: worker processes that died in the outage | 1 of 6 |" in report.table()


def test_the_table_has_a_row_per_fault_kind_with_count_and_recovery(scenario):
    faults = [FaultRecord(FaultKind.KILL_HORSE, T0, 0.1), FaultRecord(FaultKind.KILL_HORSE, T0, 0.3), FaultRecord(FaultKind.RESIZE, T0, None)]
    table = scenario.report(faults=faults).table()
    assert "| SIGKILL of a work horse (mid-job) | 2 | 0.20 s | 0.30 s |" in table
    assert "| resize through Redis | 1 (1 not measured) | - | - |" in table
    assert all(kind.value in table for kind in FaultKind)


# ------------------------------------------------------------------ retry lateness
def _fail_then_start(job_id: str, failed_at: float, started_at: float, attempt: int = 1, enqueued_at: float | None = None):
    return [
        _line(LedgerEvent.START, job_id, failed_at - 0.01, attempt=attempt),
        _line(LedgerEvent.FAIL, job_id, failed_at, attempt=attempt),
        LedgerLine(
            LedgerEvent.START, job_id, attempt + 1, 100, "w", T0 + started_at,
            enqueued_at=None if enqueued_at is None else T0 + enqueued_at,
        ),
    ]  # fmt: skip


def test_lateness_is_measured_from_failure_plus_backoff_to_the_requeue_and_to_the_start():
    lines = _fail_then_start("a", 10.0, 12.5, enqueued_at=12.2) + _fail_then_start("b", 10.0, 14.25, attempt=2)
    samples = {s.job_id: s for s in retry_samples(lines, (2, 4, 8))}
    assert samples["a"].backoff_s == 2
    assert samples["a"].enqueue_lateness_s == pytest.approx(0.2)
    assert samples["a"].start_lateness_s == pytest.approx(0.5)
    assert samples["b"].backoff_s == 4
    assert samples["b"].enqueue_lateness_s == samples["b"].start_lateness_s == pytest.approx(0.25)
    assert {s.context for s in samples.values()} == {RetryContext.NORMAL}


def test_a_retry_due_during_an_outage_is_measured_from_redis_being_back():
    lines = _fail_then_start("a", 10.0, 16.0, enqueued_at=15.5)
    (sample,) = retry_samples(lines, (2, 4, 8), outages=[(T0 + 11.0, T0 + 15.0)])
    assert sample.context is RetryContext.AFTER_REDIS_RESTART
    assert sample.enqueue_lateness_s == pytest.approx(0.5)
    assert sample.start_lateness_s == pytest.approx(1.0)


def test_a_retry_after_the_lock_holder_was_killed_is_counted_apart():
    lines = _fail_then_start("a", 10.0, 72.0, enqueued_at=71.0) + _fail_then_start("b", 200.0, 202.1)
    samples = {s.job_id: s for s in retry_samples(lines, (2, 4, 8), holder_kills=[T0 + 5.0])}
    assert samples["a"].context is RetryContext.AFTER_LOCK_HOLDER_KILL
    assert samples["a"].enqueue_lateness_s == pytest.approx(59.0)
    assert samples["b"].context is RetryContext.NORMAL


def test_a_retry_whose_next_start_is_a_later_attempt_is_left_out():
    lines = _fail_then_start("a", 10.0, 20.0)
    lines[-1] = _line(LedgerEvent.START, "a", 20.0, attempt=3)
    assert retry_samples(lines, (2, 4, 8)) == []


def test_the_retry_table_counts_requeues_later_than_the_target():
    lines = _fail_then_start("a", 10.0, 20.0, enqueued_at=16.0) + _fail_then_start("b", 10.0, 12.4, enqueued_at=12.1)
    table = ChaosReport(
        title="t", elapsed_s=1, enqueued=0, enqueued_during_faults=0, accounting=account({}, [], {}, {}, set(), []),
        faults=[], retries=retry_samples(lines, (2, 4, 8)),
    ).table()  # fmt: skip
    assert "| normal | 2 | 2.05 s | 4.00 s | 1 | 4.20 s | 8.00 s |" in table


def test_what_the_queue_records_wrong_fails_the_run(scenario):
    report = scenario.report(queue_problems=["ok: ended 2 times in the events stream (finished, finished)"])
    assert not report.ok
    assert "problem: ok: ended 2 times in the events stream" in report.table()


def test_jobs_whose_records_retention_removed_are_counted_when_the_status_comes_from_elsewhere(scenario):
    scenario.final["ok"] = FinalState(JobStatus.FINISHED, result=scenario.results["ok"], record_kept=False)
    report = scenario.report()
    assert report.ok, report.problems()
    assert report.accounting.trimmed == {"ok"}


def test_the_table_lists_only_the_faults_the_run_injects(scenario):
    table = scenario.report(fault_kinds=(FaultKind.KILL_WORKER, FaultKind.REDIS_SIGKILL)).table()
    assert "| SIGKILL of a busy worker | 0 |" in table and "| Redis SIGKILL + restart | 0 |" in table
    assert "work horse" not in table and "scheduler-lock" not in table
