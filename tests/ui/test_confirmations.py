"""What confirmations say (ui/confirmations.py): the jobs named, the verbs on the buttons, the plurals."""

from __future__ import annotations

from thesis_console.core.policy import JobAction
from thesis_console.core.types import JobRow, JobState
from thesis_console.ui.confirmations import empty_question, retry_all_question, selected_jobs_question


def rows(n: int, state: JobState = JobState.WAITING) -> list[JobRow]:
    return [JobRow(f"job-{i}", "thesis", state, description=f"Thesis: Topic {i}") for i in range(1, n + 1)]


def test_up_to_five_jobs_are_each_named_with_their_topic() -> None:
    q = selected_jobs_question(JobAction.CANCEL, rows(5))
    assert q.text.startswith("Cancel 5 jobs of thesis?")
    assert all(f"job-{i} — Topic {i}" in q.text for i in range(1, 6))
    assert (q.act, q.keep) == ("Cancel 5 jobs", "Keep them")


def test_more_are_counted_with_the_first_three_named() -> None:
    q = selected_jobs_question(JobAction.DELETE, rows(1234, JobState.FAILED))
    assert q.text.startswith("Delete 1\u202f234 jobs of thesis?")
    assert all(f"job-{i} —" in q.text for i in (1, 2, 3)) and "job-4 " not in q.text
    assert "and 1\u202f231 more" in q.text and "cannot be undone" in q.text
    assert q.act == "Delete 1\u202f234 jobs"


def test_one_job_reads_in_the_singular() -> None:
    q = selected_jobs_question(JobAction.STOP, rows(1, JobState.ACTIVE))
    assert (q.title, q.act, q.keep) == ("Stop 1 job", "Stop 1 job", "Let it run")
    assert selected_jobs_question(JobAction.CANCEL, rows(1)).keep == "Keep it"


def test_bulk_questions_name_queue_state_and_count() -> None:
    q = retry_all_question("thesis", 100_005)
    assert "Retry all 100\u202f005 failed jobs of the queue thesis?" in q.text
    assert (q.act, q.keep) == ("Retry 100\u202f005 failed jobs", "Not now")
    e = empty_question("thesis", JobState.COMPLETED, 1)
    assert "all 1 completed job of the queue thesis" in e.text and e.act == "Delete 1 completed job"
