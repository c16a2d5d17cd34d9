"""The asyncio loop of the GUI: qasync's, with timers that are really removed when they are cancelled.

qasync backs every ``call_later`` with a Qt timer and, when the handle is cancelled, leaves that
timer running until it fires. redis-py arms a timeout for every reply it reads and cancels it as
soon as the reply is there, so a pipeline of 250 commands leaves 250 dead timers behind; they all
fire ``socket_timeout`` seconds later, and killing thousands of Qt timers in one go stalled the loop
for 0.2 to 0.7 s in the GUI benchmark. Here a cancelled timer is killed at once, so only live
timers exist and each costs microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import Context
from typing import Any

import qasync
from PySide6.QtCore import QObject, Qt, QTimerEvent


class _KillableTimers(QObject):
    """Qt timers for asyncio ``TimerHandle`` objects, killed when their handle is cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self._handles: dict[int, asyncio.TimerHandle] = {}
        self._ids: dict[int, int] = {}  # id(handle) -> timer id

    def add(self, handle: asyncio.TimerHandle, delay_s: float) -> None:
        timer_id = self.startTimer(max(0, int(delay_s * 1000)), Qt.TimerType.PreciseTimer)
        self._handles[timer_id] = handle
        self._ids[id(handle)] = timer_id

    def discard(self, handle: asyncio.TimerHandle) -> None:
        timer_id = self._ids.pop(id(handle), None)
        if timer_id is not None:
            self._handles.pop(timer_id, None)
            self.killTimer(timer_id)

    def timerEvent(self, event: QTimerEvent) -> None:  # noqa: N802 (Qt name)
        timer_id = event.timerId()
        self.killTimer(timer_id)
        handle = self._handles.pop(timer_id, None)
        if handle is None:
            return
        self._ids.pop(id(handle), None)
        if not handle.cancelled():
            handle._run()

    def clear(self) -> None:
        for timer_id in list(self._handles):
            self.killTimer(timer_id)
        self._handles.clear()
        self._ids.clear()

    def __len__(self) -> int:
        return len(self._handles)


class ConsoleEventLoop(qasync.QEventLoop):
    """qasync's loop with cancellable delayed calls (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._killable = _KillableTimers()

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        if delay <= 0:
            return super().call_later(delay, callback, *args, context=context)  # call_soon: qasync's own path
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        delay = when - self.time()
        if delay <= 0:
            return super().call_later(0, callback, *args, context=context)
        handle = asyncio.TimerHandle(when, callback, args, self, context=context)
        self._killable.add(handle, delay)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self._killable.discard(handle)

    def pending_timers(self) -> int:
        """Delayed calls waiting (tests: cancelled ones must not pile up)."""
        return len(self._killable)

    def close(self) -> None:
        self._killable.clear()
        super().close()
