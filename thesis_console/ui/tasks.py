"""The one way the GUI starts a coroutine from a Qt slot: :func:`spawn`.

asyncio keeps only a weak reference to a task, so a task nobody holds can be collected half-way; and
an exception in a task nobody awaits is only reported when the task is collected, if ever. ``spawn``
holds every task until it ends and logs how it failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("thesis_console.ui.tasks")

T = TypeVar("T")

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T] | None:
    """Run ``coro`` on the GUI's event loop without waiting for it.

    Args:
        coro: the coroutine to run.
        name: what it does, for the log when it fails.

    Returns:
        The task (cancel it to stop the work), or None when no usable loop exists (the coroutine is
        then closed unstarted).
    """
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        coro.close()
        return None
    if loop.is_closed():
        coro.close()
        return None
    task = loop.create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("%s failed: %s", task.get_name(), exc, exc_info=exc)


def running() -> int:
    """How many spawned tasks have not ended yet."""
    return len(_running)
