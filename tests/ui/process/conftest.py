"""Fixtures for the process tests: fail a test that leaves a child process behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ui.live_console import alive_children, fail_if_children_left


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """After the test, every child it started must be gone (zombies waiting to be reaped count as gone)."""
    before = alive_children()
    yield
    fail_if_children_left(before, timeout=5)
