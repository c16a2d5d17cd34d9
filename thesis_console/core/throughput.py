"""Live throughput from successive snapshots: jobs completed and failed per second, over all RQ workers.

Every RQ worker counts its own successful and failed jobs in its hash, whoever started it. The rate
is the sum of the counters' growth between two snapshots divided by the time between them.

Workers come and go, so each worker is matched by name and birth time:

* same worker, counters grew: the growth counts;
* a worker that restarted under the same name (new birth, or counters that went down): the new
  incarnation's counts all happened since its birth, so they count when it was born after the
  previous snapshot, and count for nothing otherwise (the part before the previous snapshot is
  unknown);
* a worker seen for the first time: the same rule;
* a worker that vanished: whatever it did after the previous snapshot is lost; it adds nothing.

``failed`` counts every failed attempt (RQ increments it for retried attempts too).
"""

from __future__ import annotations

from dataclasses import dataclass

from thesis_console.core.types import Snapshot

_CLOCK_SLACK_S = 2.0
"""Tolerance for hosts whose clocks differ a little from the console's when comparing birth times."""


@dataclass(frozen=True)
class _Seen:
    birth: float | None
    successful: int
    failed: int


class ThroughputTracker:
    """Feed it snapshots in order; it returns (completed per second, failed per second)."""

    def __init__(self) -> None:
        self._workers: dict[str, _Seen] = {}
        self._taken_at: float | None = None

    def reset(self) -> None:
        """Forget the previous snapshot (after a reconnect to another server, for example)."""
        self._workers = {}
        self._taken_at = None

    def update(self, snapshot: Snapshot) -> tuple[float, float] | None:
        """Rates since the previous snapshot, or None for the first one (or when time went backwards)."""
        current = {w.name: _Seen(w.birth, w.successful, w.failed) for w in snapshot.workers if w.problem is None}
        previous, previous_at = self._workers, self._taken_at
        self._workers, self._taken_at = current, snapshot.taken_at
        if previous_at is None:
            return None
        elapsed = snapshot.taken_at - previous_at
        if elapsed <= 0:
            return None
        completed = failed = 0
        for name, now in current.items():
            before = previous.get(name)
            same = (
                before is not None
                and before.birth == now.birth
                and now.successful >= before.successful
                and now.failed >= before.failed
            )
            if same and before is not None:
                completed += now.successful - before.successful
                failed += now.failed - before.failed
            elif now.birth is None or now.birth >= previous_at - _CLOCK_SLACK_S:
                completed += now.successful
                failed += now.failed
        return completed / elapsed, failed / elapsed
