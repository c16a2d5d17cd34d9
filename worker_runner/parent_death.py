"""Ties between a supervisor, its workers and their children, so that no worker outlives it.

Three Linux mechanisms, all through ``prctl`` (by ctypes, no dependency):

* ``PR_SET_PDEATHSIG``: a worker asks the kernel for SIGKILL when its parent (the supervisor) dies,
  even when the supervisor itself is killed with SIGKILL. The setting is cleared in a forked child,
  so each worker also registers a fork hook that sets it again in every child it forks (RQ's work
  horse and its scheduler process): they then die with their worker.
* A check of ``getppid()`` right after setting it closes the race where the parent died before.
* ``PR_SET_CHILD_SUBREAPER``: the supervisor adopts the orphans of its dead workers (a work horse
  whose worker was killed), so it can reap them and make sure they are gone before it recovers the
  job they were running.

Elsewhere (no ``prctl``), a worker falls back to a thread that watches its parent's pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

WORKER_MARKER_ENV = "THESIS_SUPERVISED_WORKER"
"""Set in each worker's environment to its name; inherited by its horse and scheduler processes."""

_libc = None
_fork_parent_pid = 0


def _prctl(option: int, value: int) -> bool:
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(_libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(expected_parent: int, sig: int = signal.SIGKILL) -> bool:
    """Ask for ``sig`` when the parent dies; exit at once when it is already gone.

    Returns:
        True when the kernel will send the signal (Linux), False when the caller needs
        :func:`watch_parent` instead.
    """
    armed = _prctl(PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != expected_parent:
        os._exit(1)  # the parent died before the signal was armed: nobody supervises this process
    return armed


def forked_children_die_with_this_process() -> None:
    """Arm :func:`die_with_parent` in every child this process forks from now on (horse, scheduler)."""
    os.register_at_fork(before=_remember_fork_parent, after_in_child=_arm_in_child)


def _remember_fork_parent() -> None:
    global _fork_parent_pid
    _fork_parent_pid = os.getpid()


def _arm_in_child() -> None:
    if _fork_parent_pid:
        die_with_parent(_fork_parent_pid)


def watch_parent(parent_pid: int, on_death: Callable[[], None], interval_s: float = 1.0) -> threading.Thread:
    """Call ``on_death`` from a daemon thread once ``parent_pid`` is no longer this process's parent."""

    def loop() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        on_death()

    thread = threading.Thread(target=loop, name="parent-watch", daemon=True)
    thread.start()
    return thread


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux); False when not available."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def adopted_orphans(worker_name: str) -> list[int]:
    """Pids of this process's children that descend from the worker ``worker_name`` (its horse, its
    scheduler) and were adopted after it died; found by the marker in their environment."""
    me = os.getpid()
    marker = f"{WORKER_MARKER_ENV}={worker_name}".encode()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            if int(fields[1]) != me:
                continue
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.append(pid)
        except (OSError, IndexError, ValueError):
            continue
    return found


def kill_adopted_orphans(worker_name: str) -> int:
    """SIGKILL and reap the adopted descendants of a dead worker; returns how many there were."""
    pids = adopted_orphans(worker_name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        log.warning("killed pid %s left behind by dead worker %s", pid, worker_name)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return len(pids)
