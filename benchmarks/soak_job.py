"""The soak's job function and its ledger: a file outside Redis that each run of a job appends to.

The chaos run (:mod:`benchmarks.chaos`) must not take the system's word for what happened, so
every run of :func:`soak_thesis` writes its own lines: ``start`` when it begins, ``fail`` just
before a designed failure, ``done`` (with the result) when the thesis is written. Each line is one
``write`` on a file opened with ``O_APPEND``, so lines from concurrent work horses never interleave,
and a SIGKILLed process leaves either its whole line or none.

The workers run the function by its name :data:`SOAK_FUNCTION`; it must be on their allowlist.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

SOAK_FUNCTION = "benchmarks.soak_job.soak_thesis"


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
    attempt = attempt_number(job)
    worker = job.worker_name or os.environ.get("THESIS_SUPERVISED_WORKER", "")

    def line(event: LedgerEvent, result: dict[str, Any] | None = None) -> LedgerLine:
        return LedgerLine(event, job.id, attempt, os.getpid(), worker, time.time(), result)

    enqueued_at = job.enqueued_at.timestamp() if job.enqueued_at else None
    append_line(ledger, replace(line(LedgerEvent.START), enqueued_at=enqueued_at))
    wanted = Design(design)
    if wanted is Design.FAIL_ALWAYS or (wanted is Design.FAIL_ONCE and attempt == 1):
        append_line(ledger, line(LedgerEvent.FAIL))
        raise DesignedFailure(f"designed failure ({wanted.value}) on attempt {attempt}")
    result = generate_thesis(request)
    append_line(ledger, line(LedgerEvent.DONE, result))
    return result
