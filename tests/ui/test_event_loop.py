"""The GUI's event loop: delayed calls run on time, and cancelled ones are gone at once (qasync keeps
them until they fire; redis-py cancels one per reply, so they used to pile up by the thousand)."""

from __future__ import annotations

import asyncio
import time

from tests.ui.qt_helpers import run


def test_delayed_calls_run_in_order(loop) -> None:
    seen: list[str] = []
    loop.call_later(0.05, seen.append, "late")
    loop.call_later(0.01, seen.append, "early")
    loop.call_soon(seen.append, "soon")
    run(loop, asyncio.sleep(0.1))
    assert seen == ["soon", "early", "late"]


def test_cancelled_timers_do_not_pile_up(loop) -> None:
    async def many_timeouts() -> None:
        for _ in range(2000):
            async with asyncio.timeout(30):  # what redis-py does around every reply
                await asyncio.sleep(0)

    before = loop.pending_timers()
    started = time.monotonic()
    run(loop, many_timeouts())
    assert loop.pending_timers() <= before + 1
    assert time.monotonic() - started < 20


def test_timeouts_still_fire(loop) -> None:
    async def too_slow() -> str:
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"
        return "not"

    assert run(loop, too_slow()) == "timed out"


def test_callbacks_due_while_the_loop_is_stopped_wait_for_it(loop, qapp) -> None:
    """Qt spinning outside the loop (qasync's last processEvents of each run, a test harness) must not
    step tasks: without a running loop, ``asyncio.timeout`` fails before the coroutine it guards is
    awaited ("coroutine ... was never awaited")."""
    seen: list[str] = []

    async def guarded() -> None:
        async with asyncio.timeout(5):
            seen.append("task ran")

    loop.call_soon(seen.append, "soon")
    loop.call_later(0.01, seen.append, "later")
    task = loop.create_task(guarded())
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    assert seen == [] and not task.done()

    run(loop, asyncio.sleep(0.05))
    assert seen == ["soon", "task ran", "later"] and task.done() and task.exception() is None


def test_a_run_that_qt_ends_still_finishes_what_was_due(loop, qapp) -> None:
    """When Qt itself quits (the last window closed, Ctrl+C), what it signals last (``aboutToQuit``,
    after its loop has ended) is due after the run: it runs in qasync's last processEvents, with a
    running loop (``asyncio.timeout`` needs one). ``run_gui`` waits for ``aboutToQuit`` this way."""
    event = asyncio.Event()

    async def wait_then_guard() -> str:
        await event.wait()
        async with asyncio.timeout(5):
            return "finished"

    qapp.aboutToQuit.connect(event.set)
    try:
        loop.call_later(0.01, qapp.quit)
        assert loop.run_until_complete(wait_then_guard()) == "finished"
    finally:
        qapp.aboutToQuit.disconnect(event.set)
