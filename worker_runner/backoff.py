"""When to restart a worker that died: at once the first time, then with a doubling, capped wait.

Deaths count as a streak while workers die young (before :attr:`RestartBackoff.stable_s`) and close
together; a worker that lived that long, or a quiet spell, starts a new streak. So a crash loop
(bad code, bad configuration, Redis refusing us) settles at one restart per ``cap_s`` and never
spins the CPU, while an occasional crash is repaired at once. When Redis comes back after an outage,
:meth:`RestartBackoff.reset` lets the workers that died during it return without waiting out a long
back-off.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RestartBackoff:
    """Back-off state for one supervisor's restarts (all its workers run the same code)."""

    base_s: float = 0.5
    cap_s: float = 30.0
    stable_s: float = 10.0
    streak: int = 0
    not_before: float = 0.0
    last_death_at: float | None = None

    @property
    def quiet_s(self) -> float:
        """A spell without deaths this long ends a streak."""
        return max(60.0, 2 * self.cap_s)

    def delay_for(self, streak: int) -> float:
        """Seconds to wait before the restart that follows the ``streak``-th young death in a row."""
        if streak <= 1:
            return 0.0
        return min(self.cap_s, self.base_s * 2 ** (streak - 2))

    def worker_died(self, lifetime_s: float, now: float) -> float:
        """Record a death; returns the time (same clock as ``now``) before which no worker starts."""
        quiet = self.last_death_at is None or now - self.last_death_at > self.quiet_s
        self.streak = 1 if lifetime_s >= self.stable_s or quiet else self.streak + 1
        self.last_death_at = now
        self.not_before = max(self.not_before, now + self.delay_for(self.streak))
        return self.not_before

    def reset(self, now: float) -> None:
        """Forget the streak and any pending wait (Redis is back)."""
        self.streak = 0
        self.not_before = now
        self.last_death_at = None

    def may_start(self, now: float) -> bool:
        return now >= self.not_before
