"""Orders to ``thesis-worker`` supervisors and RQ workers on any host, and finding this host's supervisors.

Supervisors take orders through their Redis control list (:mod:`supervisor_protocol`): stop (warm:
their workers finish their jobs within the supervisor's grace; hard: at once, running jobs go back
to their queue), restart (every worker replaced after its job), resize, autoscale. A single RQ
worker, supervised or not, is stopped with RQ's own shutdown command (a warm stop: it finishes its
job first); a supervisor then starts a fresh worker in its place.

A console that left a supervisor running ("Leave running" on close) finds it again on its next
start with :func:`local_supervisors`: a live record of this host whose process still runs, with the
files its output goes to.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from thesis_console.core.embedded_redis import pid_alive
from thesis_console.core.supervisor_protocol import SupervisorRecord, queue_control, record_key
from thesis_console.core.types import CoreError

STOP_POLL_S = 0.2
OUTPUT_FILES_FIELD = "output_files"
"""Key of :attr:`SupervisorRecord.extra`: the files the supervisor's stdout and stderr go to."""


class StopOutcome(StrEnum):
    """Where a stop stands after waiting for it."""

    STOPPED = "stopped"
    """The supervisor removed its record (or it expired): it is gone."""
    STILL_RUNNING = "still-running"
    """The wait ran out: its workers are still finishing jobs. A hard stop can be ordered now."""


@dataclass(frozen=True)
class StopProgress:
    """The result of waiting for a supervisor to stop; ``record`` is its last record (None once gone)."""

    supervisor_id: str
    outcome: StopOutcome
    record: SupervisorRecord | None = None

    @property
    def jobs_running(self) -> int:
        return self.record.busy if self.record is not None else 0


@dataclass(frozen=True)
class LocalSupervisor:
    """A supervisor on this host that is alive, and where its output goes."""

    record: SupervisorRecord
    log_dir: Path | None
    """Folder of its workers' logs (``{log_dir}/{worker}.log``)."""
    output_files: tuple[Path, ...] = ()
    """Files its own stdout and stderr go to (when they are files)."""

    @property
    def worker_logs(self) -> tuple[Path, ...]:
        if self.log_dir is None:
            return ()
        return tuple(self.log_dir / f"{name}.log" for name in self.record.workers)


async def read_record(client: Any, supervisor_id: str) -> SupervisorRecord | None:
    """The live record of a supervisor, or None (gone, or its record is damaged)."""
    return SupervisorRecord.from_stored(await client.get(record_key(supervisor_id)))


async def send_control(client: Any, supervisor_id: str, message: dict[str, Any]) -> SupervisorRecord:
    """Queue ``message`` for a live supervisor; returns its record as it was when the order was sent.

    Raises:
        CoreError: no supervisor with that id sends heartbeats.
    """
    record = await read_record(client, supervisor_id)
    if record is None:
        raise CoreError(f"supervisor {supervisor_id} is not running (it sends no heartbeat)")
    async with client.pipeline(transaction=True) as pipe:
        queue_control(pipe, supervisor_id, message)
        await pipe.execute()
    return record


async def wait_stopped(client: Any, supervisor_id: str, timeout_s: float, poll_s: float = STOP_POLL_S) -> StopProgress:
    """Wait up to ``timeout_s`` for a supervisor to be gone (only reads)."""
    deadline = time.monotonic() + max(0.0, timeout_s)
    while True:
        record = await read_record(client, supervisor_id)
        if record is None:
            return StopProgress(supervisor_id, StopOutcome.STOPPED)
        if time.monotonic() >= deadline:
            return StopProgress(supervisor_id, StopOutcome.STILL_RUNNING, record)
        await asyncio.sleep(poll_s)


def local_supervisors(
    records: Iterable[SupervisorRecord],
    host: str | None = None,
    alive: Callable[[int], bool] = pid_alive,
) -> list[LocalSupervisor]:
    """The supervisors of ``records`` that run on this host (``host``, default this machine's name)
    and whose process is alive: those a console may attach to. Newest first."""
    here = host or socket.gethostname()
    found = [r for r in records if r.host == here and r.pid > 0 and alive(r.pid)]
    found.sort(key=lambda r: r.started_at, reverse=True)
    return [_local(r) for r in found]


def _local(record: SupervisorRecord) -> LocalSupervisor:
    files = record.extra.get(OUTPUT_FILES_FIELD)
    paths = tuple(Path(str(p)) for p in files) if isinstance(files, list) else ()
    return LocalSupervisor(record=record, log_dir=Path(record.log_dir) if record.log_dir else None, output_files=paths)


def own_output_files() -> list[str]:
    """The files this process's stdout and stderr go to (regular files only; Linux)."""
    found: list[str] = []
    for fd in (1, 2):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/") and os.path.isfile(target) and target not in found:
            found.append(target)
    return found
