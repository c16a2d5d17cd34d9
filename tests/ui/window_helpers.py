"""Driving the main window in tests as a person would: show a state, select jobs, wait for rows, answer
a confirmation."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QAbstractButton, QMessageBox
from rq import SimpleWorker

from tests.ui.qt_helpers import wait_until
from thesis_console.core import contract
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.core.types import JobState
from thesis_console.ui.main_window import VIEW_JOBS, MainWindow

QUEUE = "thesis"


def ids_in(window: MainWindow, state: JobState) -> list[str]:
    return [r.id for r in window.jobs_view.models[state].rows]


def show_state(window: MainWindow, state: JobState) -> None:
    window.views.setCurrentIndex(VIEW_JOBS)
    window.jobs_view.select_state(state)


def select(window: MainWindow, state: JobState, job_ids: list[str]) -> None:
    show_state(window, state)
    model = window.jobs_view.models[state]
    table = window.jobs_view.tables[state]
    table.clearSelection()
    for job_id in job_ids:
        row = model.index_of(job_id)
        assert row >= 0, f"{job_id} not listed in {state}"
        table.selectionModel().select(
            model.index(row, 0), QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        )
    table.selectionModel().setCurrentIndex(model.index(model.index_of(job_ids[0]), 0), QItemSelectionModel.SelectionFlag.NoUpdate)
    window.update_actions()


async def wait_listed(window: MainWindow, state: JobState, job_id: str, timeout: float = 20.0) -> None:
    show_state(window, state)
    await wait_until(lambda: job_id in ids_in(window, state), timeout, what=f"{job_id} in {state.value}")


def request(topic: str = "Queues in distributed systems", **options) -> ThesisRequest:
    return ThesisRequest(topic=topic, chapters=3, target_words=1000, options=options)


def failed_job(redis_conn) -> str:
    """A job that fails at once, run by a real RQ worker in this process (no retries)."""
    queue = contract.thesis_queue(redis_conn, QUEUE)
    job = queue.enqueue("tests.jobs.boom", description="boom for the test")
    SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
    return str(job.id)


def start_worker(processes, redis_url: str, tmp_path) -> None:
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--queue", QUEUE, "-n", "1",
        "--log-dir", str(tmp_path / "worker-logs"), "--heartbeat", "0.5",
    )  # fmt: skip


async def confirmation(window: MainWindow) -> QMessageBox:
    """The confirmation the window shows now (waits for it)."""
    await wait_until(lambda: isinstance(window.active_dialog, QMessageBox), what="a confirmation")
    box = window.active_dialog
    assert isinstance(box, QMessageBox)
    return box


def button(box: QMessageBox, text: str) -> QAbstractButton:
    """The button of ``box`` labelled ``text`` (fails the test, listing the labels, when there is none)."""
    for candidate in box.buttons():
        if candidate.text() == text:
            return candidate
    raise AssertionError(f"no button {text!r} in {[b.text() for b in box.buttons()]}")
