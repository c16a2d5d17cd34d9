"""The asyncio loop of the GUI: qasync's, with two fixes to how it runs callbacks.

* qasync backs every ``call_later`` with a Qt timer and, when the handle is cancelled, leaves that
  timer running until it fires. redis-py arms a timeout for every reply it reads and cancels it as
  soon as the reply is there, so a pipeline of 250 commands leaves 250 dead timers behind; they all
  fire ``socket_timeout`` seconds later, and killing thousands of Qt timers in one go stalled the loop
  for 0.2 to 0.7 s in the GUI benchmark. Here a cancelled timer is killed at once, so only live
  timers exist and each costs microseconds.
* qasync runs a callback whenever Qt fires its timer, even when the asyncio loop is not running: in
  the ``processEvents`` that ends each ``run_until_complete`` (after Qt's own quit, when the last
  window closes, that is where pending steps finish), or when a test harness spins Qt between two
  runs. A task stepped there had no running loop, so ``asyncio.timeout`` and ``wait_for`` raised
  ``RuntimeError`` before the coroutine they were given was awaited ("coroutine 'read_page' was never
  awaited"), and a Redis reply could be left half read. Here that last ``processEvents`` runs its
  callbacks with this loop as the running loop, and a callback due at any other time outside the
  loop waits and runs first thing when the loop runs again (or is dropped when it closes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import Context
from typing import Any

import qasync
from PySide6.QtCore import QObject, Qt, QTimerEvent


class _LoopTimers(QObject):
    """One Qt timer per callback of the loop (``call_soon`` and delayed calls); a delayed call's timer
    is killed when its handle is cancelled, and a callback due while the loop is not running waits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = loop
        self._handles: dict[int, asyncio.Handle] = {}
        self._ids: dict[int, int] = {}  # id(TimerHandle) -> timer id, for the delayed calls only
        self._waiting: list[asyncio.Handle] = []  # due while the loop was not running, in order
        self._stopped = False
        self.finishing = False
        """True in the ``processEvents`` with which qasync's ``run_until_complete`` ends a run."""

    # qasync's interface for call_soon (its _SimpleTimer's)
    def add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        if not self._stopped:
            self._handles[self.startTimer(max(0, int(delay * 1000)))] = handle
        return handle

    def stop(self) -> None:
        self._stopped = True
        self.clear()

    def set_debug(self, _enabled: bool) -> None:
        pass  # asyncio's own debug mode still reports slow callbacks

    # delayed calls
    def add(self, handle: asyncio.TimerHandle, delay_s: float) -> None:
        if self._stopped:
            return
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
        if handle.cancelled():
            return
        running = asyncio._get_running_loop()
        if running is self._loop:
            handle._run()
        elif running is None and self.finishing:
            asyncio._set_running_loop(self._loop)  # the end of a run: what is due still belongs to it
            try:
                handle._run()
            finally:
                asyncio._set_running_loop(None)
        else:
            self._waiting.append(handle)  # Qt spun outside the loop: run it when the loop runs again

    def resume_waiting(self) -> None:
        """Schedule the callbacks that came due while the loop was not running (call as it starts)."""
        waiting, self._waiting = self._waiting, []
        for handle in waiting:
            if not handle.cancelled():
                self.add_callback(handle)

    def clear(self) -> None:
        for timer_id in list(self._handles):
            self.killTimer(timer_id)
        self._handles.clear()
        self._ids.clear()
        self._waiting.clear()

    def delayed(self) -> int:
        return len(self._ids)


class ConsoleEventLoop(qasync.QEventLoop):
    """qasync's loop with cancellable delayed calls and no callbacks outside the running loop (see the
    module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_timers = _LoopTimers(self)
        self._timer = self._loop_timers  # qasync's call_soon goes through self._timer.add_callback
        self._completing = False

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
        self._loop_timers.add(handle, delay)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        self._loop_timers.discard(handle)

    def run_forever(self) -> Any:
        self._loop_timers.finishing = False
        self._loop_timers.resume_waiting()  # their zero-delay timers fire once Qt's loop runs
        try:
            return super().run_forever()
        finally:
            # qasync's run_until_complete then processes Qt's pending events once more (see the module docstring)
            self._loop_timers.finishing = self._completing

    def run_until_complete(self, future: Any) -> Any:
        self._completing = True
        try:
            return super().run_until_complete(future)
        finally:
            self._completing = False
            self._loop_timers.finishing = False

    def pending_timers(self) -> int:
        """Delayed calls waiting (tests: cancelled ones must not pile up)."""
        return self._loop_timers.delayed()

    def close(self) -> None:
        self._loop_timers.clear()
        super().close()
