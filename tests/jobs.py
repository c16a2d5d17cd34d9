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


def pause_writes_on_first_run(runs_file: str) -> str:
    """Note the run in ``runs_file``; on the first run, pause every client's writes as the function
    returns (``CLIENT PAUSE ... WRITE``): the run's first write after it then waits in Redis, for a
    test to take Redis away at that very moment."""
    from pathlib import Path

    from rq import get_current_job

    path = Path(runs_file)
    with path.open("a", encoding="utf-8") as f:
        f.write("run\n")
    if path.read_text(encoding="utf-8").count("run\n") == 1:
        job = get_current_job()
        assert job is not None
        job.connection.execute_command("CLIENT", "PAUSE", "30000", "WRITE")
    return "ok"
