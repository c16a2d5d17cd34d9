"""The policy table: which action applies to which state, and the reason when it does not."""

from __future__ import annotations

import pytest

from thesis_console.core import policy
from thesis_console.core.policy import JobAction, Verdict
from thesis_console.core.rq_keys import STATUS_TO_STATE
from thesis_console.core.types import JobState

EXPECTED = {
    JobAction.RETRY: {JobState.FAILED, JobState.CANCELED},
    JobAction.CANCEL: {JobState.WAITING, JobState.SCHEDULED, JobState.DEFERRED},
    JobAction.STOP: {JobState.ACTIVE},
    JobAction.DELETE: set(JobState) - {JobState.ACTIVE},
    JobAction.PROMOTE: {JobState.SCHEDULED},
}


@pytest.mark.parametrize("action", list(JobAction))
@pytest.mark.parametrize("state", list(JobState))
def test_every_pair_has_a_verdict_and_a_reason_when_refused(action: JobAction, state: JobState) -> None:
    result = policy.verdict(action, state)
    assert result.allowed is (state in EXPECTED[action])
    assert bool(result) is result.allowed
    if result.allowed:
        assert result == Verdict(True) and result.reason == ""
    else:
        assert result.reason and result.reason[0].islower() and not result.reason.endswith(".")
    assert (action in policy.allowed_actions(state)) is result.allowed
    assert (state in policy.states_allowing(action)) is result.allowed


def test_the_reasons_say_what_to_do_instead() -> None:
    assert policy.verdict(JobAction.RETRY, JobState.ACTIVE).reason == "a running job cannot be retried; stop it first"
    assert "cancel it instead" in policy.verdict(JobAction.STOP, JobState.WAITING).reason
    assert "stop it first" in policy.verdict(JobAction.DELETE, JobState.ACTIVE).reason
    assert "enqueue it now" in policy.verdict(JobAction.RETRY, JobState.SCHEDULED).reason


def test_rq_statuses_map_onto_the_states() -> None:
    assert policy.statuses_allowing(JobAction.RETRY) == {"failed", "stopped", "canceled"}
    assert policy.statuses_allowing(JobAction.PROMOTE) == {"scheduled"}
    assert policy.statuses_allowing(JobAction.STOP) == {"started"}
    assert policy.verdict_for_status(JobAction.RETRY, "stopped").allowed
    assert policy.verdict_for_status(JobAction.RETRY, "started").reason.startswith("a running job")
    assert policy.verdict_for_status(JobAction.RETRY, None).reason == "the job hash has no status"
    assert "'bogus'" in policy.verdict_for_status(JobAction.CANCEL, "bogus").reason
    assert set(STATUS_TO_STATE.values()) == set(JobState)


def test_confirmations_and_undo() -> None:
    assert {a for a in JobAction if policy.confirmation_needed(a)} == {JobAction.CANCEL, JobAction.STOP, JobAction.DELETE}
    assert {a for a in JobAction if policy.is_destructive(a)} == {JobAction.CANCEL, JobAction.STOP, JobAction.DELETE}
    assert {a for a in JobAction if policy.undoable(a)} == {JobAction.RETRY}
    assert policy.verb(JobAction.PROMOTE) == "Enqueue now"
    assert policy.past_tense(JobAction.RETRY) == "retried"


def test_plain_strings_are_accepted_and_unknown_ones_refused() -> None:
    assert policy.verdict("retry", "failed").allowed  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        policy.verdict("explode", JobState.FAILED)  # type: ignore[arg-type]


def test_a_selection_is_allowed_when_any_of_its_states_is() -> None:
    mixed = [JobState.ACTIVE, JobState.FAILED]
    assert policy.verdict_for_selection(JobAction.RETRY, mixed).allowed
    assert policy.verdict_for_selection(JobAction.RETRY, [JobState.ACTIVE, JobState.WAITING]) == Verdict(
        False, "a running job cannot be retried; stop it first"
    )
    assert policy.verdict_for_selection(JobAction.STOP, []) == Verdict(False, "no job selected")
