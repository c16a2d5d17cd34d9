"""Which jobs failed since the previous snapshot, not counting those the operator put in Failed.

The window says "3 new failed jobs in thesis" when a queue's failed count grows between snapshots.
Undoing a retry or stopping a running job also puts jobs in Failed; those are the operator's own
doing and are not news. An action that may do so registers what it may add before it runs
(:meth:`NewFailures.expect`) and what it did once it ended (:meth:`NewFailures.ended`); growth up to
that many jobs is then not reported, until a snapshot read after the action ended has seen it all.
A job that fails on its own in the same queue while the action runs may go unreported; it is still
counted in the Failed tab.

Example::

    failures = NewFailures()
    failures.observe({"thesis": 2}, taken_at=100.0)          # {} : the first snapshot is the baseline
    own = failures.expect({"thesis": 1})                      # before an undo of a retry
    failures.ended(own, {"thesis": 1}, at=101.0)
    failures.observe({"thesis": 4}, taken_at=102.0)          # {"thesis": 1}: one job failed on its own
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class _Own:
    """Jobs an action of the operator may add to one queue's Failed."""

    queue: str
    count: int
    ended_at: float | None = None


class NewFailures:
    """Failed counts per queue between snapshots, less the jobs the console's own actions put there."""

    def __init__(self) -> None:
        self._last: dict[str, int] | None = None
        self._own: list[_Own] = []

    def reset(self) -> None:
        """Forget the baseline (a new connection: its first snapshot is the baseline again)."""
        self._last = None
        self._own.clear()

    def expect(self, counts: Mapping[str, int]) -> list[_Own]:
        """Before an action that may add up to ``counts[queue]`` jobs to each queue's Failed."""
        own = [_Own(queue, n) for queue, n in counts.items() if n > 0]
        self._own.extend(own)
        return own

    def ended(self, own: list[_Own], done: Mapping[str, int], at: float | None = None) -> None:
        """The action of :meth:`expect` ended, having added ``done[queue]`` jobs (0 when it failed)."""
        at = time.time() if at is None else at
        for entry in own:
            entry.count = min(entry.count, done.get(entry.queue, 0))
            entry.ended_at = at

    def observe(self, failed: Mapping[str, int], taken_at: float) -> dict[str, int]:
        """The failed count per queue of a snapshot read from ``taken_at``: the queues with new
        failures and how many. The first snapshot only sets the baseline; a queue that appears
        later had none before."""
        first = self._last is None
        last = self._last or {}
        grown: dict[str, int] = {}
        for queue, count in failed.items():
            before = last.get(queue, None if first else 0)
            if before is not None and count > before:
                n = count - before - self._take_own(queue, count - before)
                if n > 0:
                    grown[queue] = n
        self._last = dict(failed)
        # A snapshot read after the action ended has seen everything it did.
        self._own = [o for o in self._own if o.count > 0 and (o.ended_at is None or o.ended_at >= taken_at)]
        return grown

    def _take_own(self, queue: str, growth: int) -> int:
        taken = 0
        for entry in self._own:
            if entry.queue == queue and taken < growth:
                share = min(entry.count, growth - taken)
                entry.count -= share
                taken += share
        return taken
