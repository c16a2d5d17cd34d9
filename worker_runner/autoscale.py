"""Autoscale: how many workers to run, from the queue depth, with a cool-down against flapping.

The target is the number of workers that gives each one about ``jobs_per_worker`` jobs, counting
the jobs waiting in the supervisor's queues and the jobs its workers are running, within
``[minimum, maximum]``. Growing happens at once (a backlog should not wait); shrinking only after
the target has stayed lower for a whole cool-down and no change happened during it, so a queue that
empties and refills every few seconds does not make workers come and go.

:func:`decide` is pure (time is an argument), so it is tested without processes or clocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AutoscalePolicy:
    minimum: int
    maximum: int
    cooldown_s: float = 30.0
    jobs_per_worker: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"autoscale: need 1 <= MIN <= MAX, got {self.minimum}:{self.maximum}")
        if self.cooldown_s < 0 or self.jobs_per_worker <= 0:
            raise ValueError("autoscale: the cool-down must not be negative and jobs per worker must be positive")


@dataclass(frozen=True)
class AutoscaleState:
    """What :func:`decide` remembers between calls."""

    last_change_at: float = float("-inf")
    low_since: float | None = None
    """Since when the target has been below the current size without interruption."""


def target_size(policy: AutoscalePolicy, waiting: int, running: int) -> int:
    """Workers wanted for ``waiting`` queued and ``running`` started jobs, within the bounds."""
    load = max(0, waiting) + max(0, running)
    wanted = math.ceil(load / policy.jobs_per_worker)
    return max(policy.minimum, min(policy.maximum, wanted))


def decide(
    policy: AutoscalePolicy, current: int, waiting: int, running: int, now: float, state: AutoscaleState
) -> tuple[int, AutoscaleState]:
    """The size to run now and the state to pass next time.

    Args:
        current: the size the supervisor runs now (its desired concurrency).
        waiting: jobs waiting in its queues.
        running: jobs its workers are running.
        now: the current time in seconds (any monotonic clock).
    """
    target = target_size(policy, waiting, running)
    if current < policy.minimum or current > policy.maximum:
        return max(policy.minimum, min(policy.maximum, current)), AutoscaleState(now, None)
    if target > current:
        return target, AutoscaleState(now, None)
    if target == current:
        return current, replace(state, low_since=None)
    low_since = state.low_since if state.low_since is not None else now
    if now - low_since >= policy.cooldown_s and now - state.last_change_at >= policy.cooldown_s:
        return target, AutoscaleState(now, None)
    return current, replace(state, low_since=low_since)
