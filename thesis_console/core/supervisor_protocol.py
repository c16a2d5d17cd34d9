"""How ``thesis-worker`` supervisors announce themselves and take orders through Redis.

Each supervisor keeps a JSON record at ``thesis:supervisor:{id}`` with an expiry that its heartbeat
refreshes, and its id in the sorted set ``thesis:supervisors`` scored by the last heartbeat. A
console lists supervisors from both (a record that expired means the supervisor is gone) without
writing anything. Orders (resize, autoscale, stop, restart) go to the list ``thesis:supervisor:{id}:control``
as JSON messages, which the supervisor pops on its next tick, so a console on another machine can
scale a supervisor on any host.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from thesis_console.core.contract import KEY_PREFIX

INDEX_KEY = f"{KEY_PREFIX}:supervisors"
RECORD_TTL_S = 10
"""A supervisor that stops heartbeating disappears from every console within this many seconds."""
HEARTBEAT_S = 2.0
CONTROL_TTL_S = 120
MAX_CONCURRENCY = 64
WORKER_SUPERVISOR_FIELD = "thesis_supervisor"
"""Field of an RQ worker hash (``rq:worker:{name}``) naming the supervisor that runs the worker;
absent for a worker that no ``thesis-worker`` runs (which then ignores paused queues)."""
CONTROL_OPS = frozenset({"resize", "autoscale", "stop", "restart"})


def record_key(supervisor_id: str) -> str:
    return f"{KEY_PREFIX}:supervisor:{supervisor_id}"


def control_key(supervisor_id: str) -> str:
    return f"{KEY_PREFIX}:supervisor:{supervisor_id}:control"


@dataclass(frozen=True)
class SupervisorRecord:
    """What a supervisor says of itself in Redis."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    desired: int
    live: int
    workers: tuple[str, ...]
    started_at: float
    restarts: int
    heartbeat_at: float
    autoscale_min: int | None = None
    autoscale_max: int | None = None
    log_dir: str = ""
    busy: int = 0
    state: str = "running"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["queues"] = list(self.queues)
        data["workers"] = list(self.workers)
        return json.dumps(data)

    @classmethod
    def from_stored(cls, raw: bytes | str | None) -> SupervisorRecord | None:
        """The record stored as ``raw``, or None when there is none (expired) or it is damaged."""
        if raw is None:
            return None
        try:
            return cls.from_json(raw)
        except ValueError:
            return None

    @classmethod
    def from_json(cls, raw: bytes | str) -> SupervisorRecord:
        """Parse a record.

        Raises:
            ValueError: the record is not one of ours or is damaged.
        """
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"supervisor record is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("supervisor record is not an object")
        try:
            return cls(
                id=str(data["id"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
                queues=tuple(str(q) for q in data.get("queues", [])),
                desired=int(data["desired"]),
                live=int(data["live"]),
                workers=tuple(str(w) for w in data.get("workers", [])),
                started_at=float(data["started_at"]),
                restarts=int(data.get("restarts", 0)),
                heartbeat_at=float(data["heartbeat_at"]),
                autoscale_min=_opt_int(data.get("autoscale_min")),
                autoscale_max=_opt_int(data.get("autoscale_max")),
                log_dir=str(data.get("log_dir", "")),
                busy=int(data.get("busy", 0)),
                state=str(data.get("state", "running")),
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"supervisor record is missing or has a bad field: {exc}") from None


def worker_owners(records: Iterable[SupervisorRecord]) -> dict[str, str]:
    """The supervisor id of each worker name the ``records`` list (RQ or BullMQ workers alike)."""
    return {name: record.id for record in records for name in record.workers}


def resize_message(concurrency: int) -> dict[str, Any]:
    """A control message that sets a supervisor's concurrency (and turns autoscale off)."""
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency: must be 1 to {MAX_CONCURRENCY}, got {concurrency!r}")
    return {"op": "resize", "concurrency": concurrency, "sent_at": time.time()}


def autoscale_message(minimum: int, maximum: int) -> dict[str, Any]:
    """A control message that turns autoscale on with the given bounds."""
    if not 1 <= minimum <= maximum <= MAX_CONCURRENCY:
        raise ValueError(f"autoscale: need 1 <= MIN <= MAX <= {MAX_CONCURRENCY}, got {minimum}:{maximum}")
    return {"op": "autoscale", "min": minimum, "max": maximum, "sent_at": time.time()}


def stop_message(hard: bool = False) -> dict[str, Any]:
    """A control message that stops a supervisor: warm (its workers finish their jobs within the
    supervisor's grace period) or, with ``hard``, at once (running jobs go back to their queue)."""
    return {"op": "stop", "hard": bool(hard), "sent_at": time.time()}


def restart_message() -> dict[str, Any]:
    """A control message that replaces every worker of a supervisor, each after its current job."""
    return {"op": "restart", "sent_at": time.time()}


def queue_control(pipe, supervisor_id: str, message: dict[str, Any]) -> None:
    """Queue on ``pipe`` (sync or asyncio client or pipeline) the push of one control message."""
    key = control_key(supervisor_id)
    pipe.rpush(key, json.dumps(message))
    pipe.expire(key, CONTROL_TTL_S)


def parse_control(raw: bytes | str) -> dict[str, Any] | None:
    """A control message, or None when it is not one we understand."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("op") not in CONTROL_OPS:
        return None
    return data


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
