"""The soak's job function and its ledger: a file outside Redis that each run of a job appends to.

The chaos run (:mod:`benchmarks.chaos`) must not take the system's word for what happened, so
every run of :func:`soak_thesis` writes its own lines: ``start`` when it begins, ``fail`` just
before a designed failure, ``done`` (with the result) when the thesis is written. Each line is one
``write`` on a file opened with ``O_APPEND``, so lines from concurrent work horses never interleave,
and a SIGKILLed process leaves either its whole line or none.

RQ workers run :func:`soak_thesis` by its name :data:`SOAK_FUNCTION`; Python BullMQ workers run a
thesis job's request through :func:`soak_bullmq_run` when ``THESIS_BULLMQ_RUN`` names it
(:data:`SOAK_BULLMQ_RUN`), its ledger and design then travel in the request's options. Either must be
on the workers' allowlist.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thesis_console.core.generation.job import RunContext

SOAK_FUNCTION = "benchmarks.soak_job.soak_thesis"
SOAK_BULLMQ_RUN = "benchmarks.soak_job.soak_bullmq_run"
LEDGER_OPTION = "soak_ledger"
DESIGN_OPTION = "soak_design"
"""The request options that carry a BullMQ soak job's ledger path and design."""


class Design(StrEnum):
    """What a soak job is designed to do."""

    SUCCEED = "succeed"
    FAIL_ONCE = "fail_once"
    """Fail its first attempt, then complete on a retry."""
    FAIL_ALWAYS = "fail_always"
    """Fail every attempt, so it ends failed after its retries."""


class LedgerEvent(StrEnum):
    START = "start"
    FAIL = "fail"
    DONE = "done"


@dataclass(frozen=True)
class LedgerLine:
    """One event of one run of a job."""

    event: LedgerEvent
    job_id: str
    attempt: int
    """The job's attempt number as its retries left say (1 for the first run)."""
    pid: int
    """The process that ran it (the work horse)."""
    worker: str
    at: float
    """Unix time of the event."""
    result: dict[str, Any] | None = None
    """The job's return value (``done`` lines only)."""
    enqueued_at: float | None = None
    """When RQ last put the job in its queue (``start`` lines): for a retry, when the scheduler did."""

    def to_json(self) -> str:
        data = asdict(self)
        data["event"] = self.event.value
        for optional in ("result", "enqueued_at"):
            if data[optional] is None:
                del data[optional]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LedgerLine:
        data = json.loads(text)
        return cls(
            event=LedgerEvent(data["event"]),
            job_id=str(data["job_id"]),
            attempt=int(data["attempt"]),
            pid=int(data["pid"]),
            worker=str(data["worker"]),
            at=float(data["at"]),
            result=data.get("result"),
            enqueued_at=float(data["enqueued_at"]) if data.get("enqueued_at") is not None else None,
        )


class DesignedFailure(RuntimeError):
    """The failure a soak job was designed to have."""


def append_line(path: str | Path, line: LedgerLine) -> None:
    """Append ``line`` to the ledger with one ``write`` (atomic with ``O_APPEND`` on a local disk)."""
    data = (line.to_json() + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class LedgerReader:
    """Reads a ledger as it grows: each :meth:`read_new` returns the complete lines added since."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self.unreadable = 0
        """Lines that did not parse (none are expected: a count above 0 is reported)."""

    def read_new(self) -> list[LedgerLine]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        lines = []
        for raw in chunk[: end + 1].splitlines():
            try:
                lines.append(LedgerLine.from_json(raw.decode()))
            except (ValueError, KeyError, TypeError):
                self.unreadable += 1
        return lines


def soak_thesis(request: dict[str, Any], ledger: str, design: str = Design.SUCCEED.value) -> dict[str, Any]:
    """Generate a thesis like the real job (paced, offline back-end) and record the run in ``ledger``.

    Args:
        request: a thesis request as JSON (see :func:`generate_thesis`).
        ledger: path of the ledger file.
        design: a :class:`Design` value.
    """
    from rq import get_current_job

    from thesis_console.core.generation.job import attempt_number, generate_thesis

    job = get_current_job()
    if job is None:
        raise RuntimeError("soak_thesis runs only in a worker")
    run = _RecordedRun(ledger, job.id, attempt_number(job), job.worker_name or _supervised_worker())
    enqueued_at = job.enqueued_at.timestamp() if job.enqueued_at else None
    return run.run(Design(design), lambda: generate_thesis(request), enqueued_at)


def soak_bullmq_run(request: dict[str, Any], context: RunContext) -> dict[str, Any]:
    """A Python BullMQ worker's run of a soak job: the ledger and design come from the request's options.

    Args:
        request: a checked thesis request whose options hold :data:`LEDGER_OPTION` and :data:`DESIGN_OPTION`.
        context: the worker's run context (job id, attempt from BullMQ's ``attemptsMade``, progress).
    """
    from thesis_console.core.generation.job import run_generation

    options = request.get("options") or {}
    if context.job_id is None or context.attempt is None:
        raise RuntimeError("soak_bullmq_run runs only in a worker")
    run = _RecordedRun(str(options[LEDGER_OPTION]), context.job_id, context.attempt, _supervised_worker())
    return run.run(Design(options.get(DESIGN_OPTION, Design.SUCCEED.value)), lambda: run_generation(request, context), None)


def _supervised_worker() -> str:
    from worker_runner.parent_death import WORKER_MARKER_ENV

    return os.environ.get(WORKER_MARKER_ENV, "")


@dataclass(frozen=True)
class _RecordedRun:
    """One run of a soak job on any queue: its ``start``, designed ``fail`` and ``done`` lines."""

    ledger: str
    job_id: str
    attempt: int
    worker: str

    def line(self, event: LedgerEvent, result: dict[str, Any] | None = None) -> LedgerLine:
        return LedgerLine(event, self.job_id, self.attempt, os.getpid(), self.worker, time.time(), result)

    def run(self, design: Design, generate: Callable[[], dict[str, Any]], enqueued_at: float | None) -> dict[str, Any]:
        append_line(self.ledger, replace(self.line(LedgerEvent.START), enqueued_at=enqueued_at))
        if design is Design.FAIL_ALWAYS or (design is Design.FAIL_ONCE and self.attempt == 1):
            append_line(self.ledger, self.line(LedgerEvent.FAIL))
            raise DesignedFailure(f"designed failure ({design.value}) on attempt {self.attempt}")
        result = generate()
        append_line(self.ledger, self.line(LedgerEvent.DONE, result))
        return result
