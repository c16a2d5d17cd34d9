"""NewFailures: growth of Failed between snapshots, less what the operator's own actions put there."""

from __future__ import annotations

from thesis_console.ui.new_failures import NewFailures


def test_the_first_snapshot_is_the_baseline_and_growth_is_news() -> None:
    failures = NewFailures()
    assert failures.observe({"thesis": 5}, taken_at=1.0) == {}
    assert failures.observe({"thesis": 7, "other": 1}, taken_at=2.0) == {"thesis": 2, "other": 1}
    assert failures.observe({"thesis": 3, "other": 1}, taken_at=3.0) == {}  # retried: fewer


def test_jobs_the_operator_put_in_failed_are_not_news() -> None:
    failures = NewFailures()
    failures.observe({"thesis": 2}, taken_at=1.0)
    own = failures.expect({"thesis": 2})
    failures.ended(own, {"thesis": 2}, at=2.0)
    assert failures.observe({"thesis": 4}, taken_at=3.0) == {}
    # Spent: later growth is news again.
    assert failures.observe({"thesis": 5}, taken_at=4.0) == {"thesis": 1}


def test_a_job_failing_on_its_own_beside_the_action_is_reported() -> None:
    failures = NewFailures()
    failures.observe({"thesis": 0, "other": 0}, taken_at=1.0)
    own = failures.expect({"thesis": 3})
    failures.ended(own, {"thesis": 1}, at=2.0)  # only one of the three was stopped
    assert failures.observe({"thesis": 2, "other": 1}, taken_at=3.0) == {"thesis": 1, "other": 1}


def test_an_expectation_lasts_until_a_snapshot_read_after_the_action_ended() -> None:
    failures = NewFailures()
    failures.observe({"thesis": 0}, taken_at=1.0)
    own = failures.expect({"thesis": 1})
    # A snapshot read while the action runs has not seen its change yet.
    assert failures.observe({"thesis": 0}, taken_at=2.0) == {}
    failures.ended(own, {"thesis": 1}, at=3.0)
    assert failures.observe({"thesis": 0}, taken_at=2.5) == {}  # read before the end: kept
    assert failures.observe({"thesis": 1}, taken_at=4.0) == {}
    # An action that changed nothing leaves nothing behind.
    own = failures.expect({"thesis": 1})
    failures.ended(own, {}, at=5.0)
    assert failures.observe({"thesis": 2}, taken_at=6.0) == {"thesis": 1}


def test_reset_forgets_the_baseline() -> None:
    failures = NewFailures()
    failures.observe({"thesis": 1}, taken_at=1.0)
    failures.reset()
    assert failures.observe({"thesis": 9}, taken_at=2.0) == {}
