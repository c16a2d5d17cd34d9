"""Orders to a running supervisor: line commands on stdin, and control messages through Redis.

Stdin is how a console that started the supervisor (as its child process) talks to it without
signals. One command per line; each gets exactly one JSON line on stdout in reply::

    resize 5            run 5 workers (turns autoscale off)
    autoscale 2 8       scale between 2 and 8 workers (also "autoscale 2:8")
    autoscale off       stay at the current number
    status              just reply with the status
    stop                warm shutdown, as SIGTERM
    stop now            hard shutdown: running jobs are stopped and go back to their queue
    restart             replace every worker, each after its current job

Redis control messages (``thesis:supervisor:{id}:control``, written with
:func:`thesis_console.core.supervisor_protocol.queue_control`) carry the same orders from a console
or ``thesis-worker ctl`` on any host. Both end up as :class:`Command` values for the supervisor loop.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import redis

from thesis_console.core.supervisor_protocol import MAX_CONCURRENCY, control_key, parse_control

log = logging.getLogger(__name__)

CONTROL_BATCH = 16


@dataclass(frozen=True)
class Command:
    """One order. ``op`` is resize, autoscale, autoscale-off, status, stop or restart."""

    op: str
    concurrency: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    source: str = "stdin"
    text: str = ""
    hard: bool = False
    """For stop: do not wait for running jobs."""


class CommandError(ValueError):
    """A command line or message that cannot be obeyed; the message says why."""


def parse_line(line: str) -> Command | None:
    """The command on one stdin line; None for a blank line.

    Raises:
        CommandError: an unknown command or a bad number.
    """
    text = line.strip()
    if not text:
        return None
    words = re.split(r"[\s:]+", text)
    op = words[0].lower()
    args = words[1:]
    if op in ("resize", "concurrency", "scale") and len(args) == 1:
        return Command("resize", concurrency=_concurrency(args[0]), text=text)
    if op == "autoscale" and len(args) == 1 and args[0].lower() == "off":
        return Command("autoscale-off", text=text)
    if op == "autoscale" and len(args) == 2:
        low, high = _concurrency(args[0]), _concurrency(args[1])
        if low > high:
            raise CommandError(f"autoscale: MIN must not exceed MAX, got {low} {high}")
        return Command("autoscale", minimum=low, maximum=high, text=text)
    if op in ("status", "stop", "restart") and not args:
        return Command(op, text=text)
    if op == "stop" and len(args) == 1 and args[0].lower() == "now":
        return Command("stop", hard=True, text=text)
    raise CommandError(
        f"unknown command {text!r}; use: resize N | autoscale MIN MAX | autoscale off | status | stop | stop now"
        " | restart"
    )


def from_message(message: dict[str, Any]) -> Command:
    """The command in a parsed Redis control message.

    Raises:
        CommandError: a value is missing or out of range.
    """
    op = message.get("op")
    try:
        if op == "resize":
            return Command("resize", concurrency=_concurrency(message.get("concurrency")), source="redis", text="resize")
        if op == "autoscale":
            low, high = _concurrency(message.get("min")), _concurrency(message.get("max"))
            if low > high:
                raise CommandError(f"autoscale: MIN must not exceed MAX, got {low}:{high}")
            return Command("autoscale", minimum=low, maximum=high, source="redis", text="autoscale")
        if op == "stop":
            hard = message.get("hard") is True
            return Command("stop", source="redis", text="stop now" if hard else "stop", hard=hard)
        if op == "restart":
            return Command("restart", source="redis", text="restart")
    except CommandError:
        raise
    raise CommandError(f"unknown control message op {op!r}")


def _concurrency(raw: Any) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise CommandError(f"expected a whole number of workers, got {raw!r}") from None
    if not 1 <= value <= MAX_CONCURRENCY:
        raise CommandError(f"number of workers must be 1 to {MAX_CONCURRENCY}, got {value}")
    return value


def pop_redis_commands(conn: redis.Redis, supervisor_id: str) -> list[Command | CommandError]:
    """Take the waiting control messages of this supervisor (oldest first); bad ones become errors."""
    popped = conn.lpop(control_key(supervisor_id), CONTROL_BATCH)
    raws: list[bytes | str] = list(popped) if isinstance(popped, list) else []
    found: list[Command | CommandError] = []
    for raw in raws:
        message = parse_control(raw)
        if message is None:
            found.append(CommandError(f"ignored a control message that is not one of ours: {raw[:200]!r}"))
            continue
        try:
            found.append(from_message(message))
        except CommandError as exc:
            found.append(exc)
    return found


class StdinCommands:
    """Reads command lines from a stream in a daemon thread and hands them to the supervisor loop.

    Each line read is put on :attr:`inbox` (as a :class:`Command` or :class:`CommandError`) and
    ``wake`` is called so the loop handles it at once. End of input ends the thread and nothing
    else: a supervisor whose console detached, or that runs under systemd, keeps running.
    """

    def __init__(self, stream: IO[str], wake: Callable[[], None]) -> None:
        self.inbox: queue.Queue[Command | CommandError] = queue.Queue()
        self._stream = stream
        self._wake = wake
        self._thread = threading.Thread(target=self._run, name="stdin-commands", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._stream:
                try:
                    command = parse_line(line)
                except CommandError as exc:
                    self.inbox.put(exc)
                    self._wake()
                    continue
                if command is not None:
                    self.inbox.put(command)
                    self._wake()
        except (OSError, ValueError) as exc:  # a closed or broken stream is the same as its end
            log.debug("stdin closed: %s", exc)

    def drain(self) -> list[Command | CommandError]:
        items = []
        while True:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                return items


class StatusWriter:
    """Writes one JSON object per line to stdout (replies and status changes), never raising."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._broken = False

    def write(self, payload: dict[str, Any]) -> None:
        if self._broken:
            return
        try:
            self._stream.write(json.dumps(payload, sort_keys=True) + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            self._broken = True  # a reader that went away must not stop the supervisor
            log.info("stdout closed; status lines are no longer written")


def stdin_is_usable(stream: IO[str]) -> bool:
    """False when stdin is closed (fd 0 not open)."""
    try:
        os.fstat(stream.fileno())
    except (OSError, ValueError):
        return False
    return True
