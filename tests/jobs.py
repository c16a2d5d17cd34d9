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


def stall_after_progress(seconds: float) -> float:
    """Report progress once, then hang without reporting more: a stuck job while its worker lives."""
    from rq import get_current_job

    from thesis_console.core import contract

    job = get_current_job()
    assert job is not None
    contract.set_progress(job, 35, "chapter 2/6")
    time.sleep(seconds)
    return seconds


def kill_own_process() -> None:
    """Die by SIGKILL, as a job that crashes its work horse (a segfault, the OOM killer) does."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
