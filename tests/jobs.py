"""Job functions that tests enqueue by dotted path (JSON jobs name their function)."""

from __future__ import annotations

import time


def noop() -> str:
    return "ok"


def boom() -> None:
    raise RuntimeError("boom: planned test failure")


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds
