"""BullMQ workers found in the server's client list by the connection names BullMQ gives them.

BullMQ keeps no record of its workers in Redis; each library names a worker's connections instead,
and each library's ``getWorkers`` matches only its own names:

- Node BullMQ names the worker's blocking connection ``<prefix>:<base64(queue)>``, with
  ``:w:<name>`` added when the worker has a ``name`` option (``QueueBase.clientName``);
- Python BullMQ names both of the worker's connections ``<prefix>:<queue>`` (``:w:<name>`` as
  Node), the queue name as it is.

A name under the prefix whose queue part is a known BullMQ queue is Python's; one whose queue part
is the base64 of a known queue is Node's; for a queue not known (yet), a part that decodes as
base64 to text is taken as Node's, anything else as Python's. Node's ``:qe`` (QueueEvents) names
are not workers. The connections of one worker (same name, same host) make one row.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis.exceptions as rexc

from thesis_console.core.supervisor_protocol import SupervisorRecord, worker_owners
from thesis_console.core.types import BullLibrary, BullWorkerInfo

CLIENT_LIST = "CLIENT LIST"
NAMED_SEPARATOR = ":w:"
QUEUE_EVENTS_SUFFIX = ":qe"


@dataclass(frozen=True)
class Listed:
    """The BullMQ workers of one client list, or why there is none."""

    workers: tuple[BullWorkerInfo, ...] = ()
    problem: str | None = None


def parse_name(client_name: str, prefix: str, known: Iterable[str]) -> tuple[BullLibrary, str, str] | None:
    """``(library, queue, worker name)`` of a BullMQ worker's connection name; None for any other name."""
    head = f"{prefix}:"
    if not client_name.startswith(head) or client_name.endswith(QUEUE_EVENTS_SUFFIX):
        return None
    queue_part, _, worker = client_name[len(head) :].partition(NAMED_SEPARATOR)
    if not queue_part:
        return None
    queues = set(known)
    decoded = _base64_text(queue_part)
    if queue_part in queues:
        return BullLibrary.PYTHON, queue_part, worker
    if decoded is not None and (decoded in queues or ":" not in decoded):
        return BullLibrary.NODE, decoded, worker
    if ":" in queue_part:  # another key-like name under the prefix, not a worker's
        return None
    return BullLibrary.PYTHON, queue_part, worker


def parse_client_list(reply: Any, prefix: str, known: Sequence[str], db: int, only: Sequence[str] | None = None) -> Listed:
    """The BullMQ workers of a ``CLIENT LIST`` reply (as redis-py parses it) on database ``db``.

    Args:
        known: the BullMQ queues under ``prefix``, to tell a Python worker's name from a Node one.
        only: show only workers of these queues (a profile's queue list); None shows all.
    """
    if isinstance(reply, rexc.NoPermissionError):
        return Listed(problem=f"the server refused CLIENT LIST to this user (ACL), so BullMQ workers cannot be listed: {reply}")
    if isinstance(reply, Exception):
        return Listed(problem=f"the server does not answer CLIENT LIST, so BullMQ workers cannot be listed: {reply}")
    groups: dict[tuple[BullLibrary, str, str, str], list[dict[str, str]]] = {}
    for client in reply or ():
        if not isinstance(client, dict) or str(client.get("db", db)) != str(db):
            continue
        name = str(client.get("name", ""))
        parsed = parse_name(name, prefix, known)
        if parsed is None or (only is not None and parsed[1] not in only):
            continue
        host = str(client.get("addr", "")).rpartition(":")[0]
        groups.setdefault((*parsed, f"{host}|{name}"), []).append(client)
    workers = []
    for (library, queue, worker, _), clients in groups.items():
        oldest = max(clients, key=lambda c: _seconds(c.get("age")))
        workers.append(
            BullWorkerInfo(
                queue=queue,
                library=library,
                name=worker,
                address=str(oldest.get("addr", "")),
                age_s=_seconds(oldest.get("age")),
                idle_s=min(_seconds(c.get("idle")) for c in clients),
                connections=len(clients),
                client_name=str(oldest.get("name", "")),
            )
        )
    workers.sort(key=lambda w: (w.queue, w.library.value, w.name, w.address))
    return Listed(tuple(workers))


def with_supervisors(workers: Sequence[BullWorkerInfo], supervisors: Sequence[SupervisorRecord]) -> tuple[BullWorkerInfo, ...]:
    """``workers`` with the supervisor whose record lists each (by the worker's name)."""
    owner = worker_owners(supervisors)
    return tuple(replace(w, supervisor=owner.get(w.name, "")) if w.name else w for w in workers)


def _base64_text(part: str) -> str | None:
    try:
        raw = base64.b64decode(part, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode() != part:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and text.isprintable() else None


def _seconds(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return 0.0
