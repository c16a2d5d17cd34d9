"""Async polling for GUI tests (the qasync loop runs asyncio tasks while Qt spins)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import qasync


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``predicate`` on the running loop until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(interval)


def run(loop: qasync.QEventLoop, coro: Any, timeout: float = 30.0) -> Any:
    """Run ``coro`` to completion on ``loop`` with a deadline."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))
