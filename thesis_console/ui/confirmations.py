"""What a confirmation says: the jobs it names, what will happen to them, and verbs on its buttons.

Pure functions of the rows and the action, so every question the window asks reads the same way:
up to :data:`NAMED` jobs are named (id and topic); more are counted, with the first :data:`FIRST`
named. The safe button keeps things as they are and is the default, so Enter never destroys;
:func:`confirm` is the one dialog that asks them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWidget

from thesis_console.core.policy import RETRY_EFFECT, JobAction
from thesis_console.core.supervisor_protocol import SupervisorRecord
from thesis_console.core.types import Backend, JobRow, JobState, WorkerInfo
from thesis_console.ui.models.formatting import fmt_count, plural
from thesis_console.ui.models.job_table import topic_of
from thesis_console.ui.widgets.dialogs.bulk_action import BulkWords

if TYPE_CHECKING:
    from thesis_console.ui.widgets.jobs_view import SearchQuery

NAMED = 5
"""Up to this many jobs are each named."""
FIRST = 3
"""Beyond :data:`NAMED`, the first this many are named and the rest counted."""
TOPIC_CHARS = 60


@dataclass(frozen=True)
class Question:
    """A confirmation: its title, its text, the button that acts and the one that keeps things."""

    title: str
    text: str
    act: str
    keep: str


def job_line(row: JobRow) -> str:
    topic = topic_of(row)
    if len(topic) > TOPIC_CHARS:
        topic = topic[: TOPIC_CHARS - 1] + "…"
    return f"• {row.id}" + (f" — {topic}" if topic else "")


def job_list(rows: Sequence[JobRow]) -> str:
    """The jobs named: all of them up to :data:`NAMED`, else the first :data:`FIRST` and how many more."""
    if len(rows) <= NAMED:
        return "\n".join(job_line(r) for r in rows)
    shown = "\n".join(job_line(r) for r in rows[:FIRST])
    return f"{shown}\n• … and {fmt_count(len(rows) - FIRST)} more"


def keep_label(n: int) -> str:
    return "Keep it" if n == 1 else "Keep them"


_CONSEQUENCE = {
    JobAction.CANCEL: "Canceled jobs leave their queue and do not run; they can be retried later.",
    JobAction.STOP: "The work done so far is lost; a stopped job counts as failed and can be retried.",
    JobAction.DELETE: "Their data and results are deleted. This cannot be undone.",
    JobAction.PROMOTE: "They leave the schedule and join the end of their queue now.",
    JobAction.RETRY: RETRY_EFFECT[Backend.RQ],
}
_BULLMQ_CONSEQUENCE = {
    **_CONSEQUENCE,
    JobAction.CANCEL: "BullMQ has no canceled state: the jobs are removed, with their data and logs. This cannot be undone.",
    JobAction.DELETE: "The jobs are removed, with their data, logs and results. This cannot be undone.",
    JobAction.RETRY: RETRY_EFFECT[Backend.BULLMQ],
}
CONSEQUENCES: dict[Backend, dict[JobAction, str]] = {Backend.RQ: _CONSEQUENCE, Backend.BULLMQ: _BULLMQ_CONSEQUENCE}


def selected_jobs_question(action: JobAction, rows: Sequence[JobRow]) -> Question:
    """Asked before ``action`` runs on ``rows`` (the jobs it applies to)."""
    n = len(rows)
    verb = {JobAction.PROMOTE: "Enqueue now"}.get(action, action.value.capitalize())
    jobs = plural(n, "job")
    queues = sorted({r.queue for r in rows})
    where = f" of {queues[0]}" if len(queues) == 1 else ""
    backend = rows[0].backend if rows else Backend.RQ
    text = f"{verb} {jobs}{where}?\n\n{job_list(rows)}\n\n{CONSEQUENCES[backend][action]}"
    keep = keep_label(n)
    if action == JobAction.STOP:
        keep = "Let it run" if n == 1 else "Let them run"
    return Question(f"{verb} {jobs}", text, f"{verb} {jobs}", keep)


def matches_question(action: JobAction, query: SearchQuery, rows: Sequence[JobRow], *, still_searching: bool) -> Question:
    """Asked before ``action`` runs on every match of a search: the count, the query, and what happens."""
    verb = action.value.capitalize()
    n = len(rows)
    jobs = plural(n, "match", "matches")
    found = (
        f"The search is still running: only the {fmt_count(n)} found so far are acted on (the search stops).\n\n"
        if still_searching
        else ""
    )
    text = (
        f"{verb} all {jobs} of “{query.text}” in the {query.state.value} jobs of {query.queue}?\n\n"
        f"{found}{job_list(rows)}\n\n{_CONSEQUENCE[action]} "
        f"A job that is no longer {query.state.value} is skipped and listed afterwards."
    )
    return Question(f"{verb} {jobs}", text, f"{verb} {jobs}", keep_label(n))


def matches_words(action: JobAction, query: SearchQuery, count: int) -> BulkWords:
    """How the progress dialog of an action on a search's matches reads."""
    doing = {JobAction.RETRY: "Retrying", JobAction.CANCEL: "Canceling", JobAction.DELETE: "Deleting"}[action]
    did = {JobAction.RETRY: "Retried", JobAction.CANCEL: "Canceled", JobAction.DELETE: "Deleted"}[action]
    matches = plural(count, "match", "matches")
    return BulkWords(
        title=f"{action.value.capitalize()} {matches} of “{query.text}”",
        doing=f"{doing} {matches} of “{query.text}” in {query.state.value} of {query.queue}",
        did=did,
        where=f"of {query.queue}",
        left=f"left {query.state.value}",
    )


def retry_all_question(queue: str, count: int, backend: Backend = Backend.RQ) -> Question:
    """Asked before every failed job of ``queue`` (a ``backend`` queue) is retried."""
    jobs = plural(count, "failed job")
    text = (
        f"Retry all {jobs} of the queue {queue}?\n\n"
        f"{RETRY_EFFECT[backend]} Jobs that cannot be retried are skipped and listed afterwards. "
        "A running retry can be canceled between chunks."
    )
    return Question("Retry all failed jobs", text, f"Retry {jobs}", "Not now")


def empty_question(queue: str, state: JobState, count: int) -> Question:
    """What the empty-a-state dialog says (it also asks for the queue name to be typed)."""
    jobs = plural(count, f"{state.value} job")
    text = f"This deletes all {jobs} of the queue {queue}, with their results. It cannot be undone."
    return Question(f"Empty {state.value} jobs of {queue}", text, f"Delete {jobs}", keep_label(count))


def stop_supervisor_question(record: SupervisorRecord, timeout_s: float) -> Question:
    """Asked before a warm stop of a supervisor (on any host)."""
    workers = plural(record.live, "worker")
    jobs = plural(record.busy, "running job")
    text = (
        f"Stop supervisor {record.id} on {record.host}?\n\n"
        f"Its {workers} finish their {jobs} and exit; it starts no new worker. "
        f"If they are not done within {timeout_s:.0f} s you are asked whether to stop them at once."
    )
    return Question(f"Stop supervisor on {record.host}", text, f"Stop {workers} on {record.host}", "Keep it running")


def hard_stop_question(record: SupervisorRecord, waited_s: float) -> Question:
    """Asked when a warm stop has not ended after ``waited_s``."""
    jobs = plural(record.busy, "job")
    text = (
        f"Supervisor {record.id} on {record.host} is still running {jobs} after {waited_s:.0f} s.\n\n"
        "Stop now: its workers are killed and their jobs go back to the queue to run again. "
        "Or let them finish (the stop stays ordered)."
    )
    return Question(f"Stop {record.host} now?", text, f"Stop {jobs} now", "Let them finish")


def restart_supervisor_question(record: SupervisorRecord) -> Question:
    """Asked before a supervisor replaces its workers."""
    workers = plural(record.live, "worker")
    text = (
        f"Restart the {workers} of supervisor {record.id} on {record.host}?\n\n"
        f"Each is replaced by a fresh one after its current job ({plural(record.busy, 'job')} running now)."
    )
    return Question(f"Restart supervisor on {record.host}", text, f"Restart {workers}", "Not now")


def stop_worker_question(worker: WorkerInfo) -> Question:
    """Asked before one RQ worker is stopped with RQ's shutdown command."""
    job = f"its current job {worker.current_job}" if worker.current_job else "its current job (none now)"
    after = (
        f"Its supervisor {worker.supervisor} starts a fresh worker in its place."
        if worker.supervisor
        else "It is a plain rq worker: nothing restarts it."
    )
    text = f"Stop RQ worker {worker.name} on {worker.hostname}?\n\nIt finishes {job} and exits. {after}"
    return Question(f"Stop worker on {worker.hostname}", text, "Stop 1 worker", "Keep it")


async def confirm(
    ask: Callable[[QDialog], Awaitable[int]], parent: QWidget | None, question: Question, destructive: bool = True
) -> bool:
    """Ask ``question`` in a message box opened with ``ask`` (the window's, never a nested loop); True
    when the user chose to act. The safe button is the default (Enter keeps)."""
    box = QMessageBox(QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question, question.title, "",
                      QMessageBox.StandardButton.NoButton, parent)  # fmt: skip
    box.setObjectName("confirmDialog")
    box.setTextFormat(Qt.TextFormat.PlainText)  # names come from Redis: never read them as HTML
    box.setText(question.text)
    act = box.addButton(question.act, QMessageBox.ButtonRole.DestructiveRole if destructive else QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton(question.keep, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    focus = QApplication.focusWidget()
    await ask(box)
    if focus is not None and focus.isVisible():
        focus.setFocus(Qt.FocusReason.OtherFocusReason)  # back where the user was
    return box.clickedButton() is act
