"""Fixtures for the process tests: fail a test that leaves a child process behind."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest


def _alive_children() -> set[int]:
    return {
        child.pid
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
    }


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """After the test, every child it started must be gone (zombies waiting to be reaped count as gone)."""
    before = _alive_children()
    yield
    deadline = time.monotonic() + 5
    while (left := _alive_children() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        for pid in left:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass
        pytest.fail(f"processes left behind: {sorted(left)}")
