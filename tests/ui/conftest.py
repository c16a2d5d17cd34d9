"""Fixtures for GUI tests: a qasync event loop on the pytest-qt application, and async polling.

``qtbot.waitUntil`` spins Qt but does not run asyncio tasks; tests that drive async code run
``loop.run_until_complete(wait_until(predicate))`` instead (see /work/shared/STYLE.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import qasync


@pytest.fixture
def loop(qapp) -> Iterator[qasync.QEventLoop]:
    """A qasync loop installed as the current asyncio loop for the test, closed afterwards."""
    event_loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    # Let cancelled tasks unwind before closing, so no "Task was destroyed but it is pending" warning.
    pending = [t for t in asyncio.all_tasks(event_loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        event_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    event_loop.close()
    asyncio.set_event_loop(None)
