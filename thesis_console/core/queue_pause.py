"""Paused queues: a hash in Redis that supervised workers read before each wait for a job.

``thesis:paused_queues`` maps a queue name to ``{"by": "user@host", "at": unix_time}`` (JSON). It
lives in Redis, so a pause survives a restart of the console, of the workers and (with Redis's own
persistence) of Redis. A paused queue still accepts jobs; ``thesis-worker`` workers take none from
it (see :mod:`worker_runner.queue_pause`) and jobs already running finish. A plain ``rq worker``
knows nothing of this hash and keeps working: the snapshot tells such workers apart
(:attr:`thesis_console.core.types.WorkerInfo.supervisor`).

Both the console (asyncio client) and the workers (synchronous client) use the helpers here, so the
key and the format are written once.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from thesis_console.core import decoding
from thesis_console.core.contract import KEY_PREFIX

PAUSED_KEY = f"{KEY_PREFIX}:paused_queues"


@dataclass(frozen=True)
class QueuePause:
    """Who paused a queue and when (Unix time); ``by`` is empty when the entry is damaged."""

    queue: str
    by: str = ""
    at: float | None = None

    def to_json(self) -> str:
        return json.dumps({"by": self.by, "at": self.at})


def operator_name() -> str:
    """``user@host`` of this process, recorded with a pause."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container, say)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def new_pause(queue: str, by: str | None = None, now: float | None = None) -> QueuePause:
    return QueuePause(queue=queue, by=by or operator_name(), at=time.time() if now is None else now)


def parse_pauses(reply: Any) -> dict[str, QueuePause]:
    """The pauses in an HGETALL reply of :data:`PAUSED_KEY` (bytes or text); damaged values still pause."""
    if not isinstance(reply, dict):
        return {}
    pauses: dict[str, QueuePause] = {}
    for raw_name, raw_value in reply.items():
        name = decoding.text(raw_name)
        if not name:
            continue
        pauses[name] = _parse_one(name, raw_value)
    return pauses


def _parse_one(queue: str, raw: Any) -> QueuePause:
    try:
        data = json.loads(raw)
    except (TypeError, ValueError, UnicodeDecodeError):
        return QueuePause(queue)
    if not isinstance(data, dict):
        return QueuePause(queue)
    at = data.get("at")
    return QueuePause(
        queue=queue,
        by=str(data.get("by") or ""),
        at=float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None,
    )


def paused_names(conn: Any) -> set[str]:
    """Names of the paused queues (synchronous client; one HKEYS)."""
    return {name for name in (decoding.text(raw) for raw in conn.hkeys(PAUSED_KEY)) if name}


def is_paused(conn: Any, queue: str) -> bool:
    """Whether ``queue`` is paused (synchronous client; one HEXISTS)."""
    return bool(conn.hexists(PAUSED_KEY, queue))
