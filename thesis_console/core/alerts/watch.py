"""One evaluation of the alert rules: read, find the conditions, update the tracker.

The window, ``check`` and the metrics endpoint all come through :func:`evaluate_once`, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from thesis_console.core.alerts.conditions import Condition, evaluate, minutes_needed
from thesis_console.core.alerts.rules import AlertRules, Severity
from thesis_console.core.alerts.tracker import AlertTracker, AlertUpdate
from thesis_console.core.alerts.watch_data import MinuteCache, WatchData
from thesis_console.core.reader import QueueReader


@dataclass(frozen=True)
class WatchReport:
    """The data read, the conditions that hold, and the tracker's verdict."""

    data: WatchData
    conditions: tuple[Condition, ...]
    update: AlertUpdate

    @property
    def worst(self) -> Severity | None:
        """The highest severity among the firing alerts, None when nothing fires."""
        severities = {a.severity for a in self.update.firing}
        if Severity.CRITICAL in severities:
            return Severity.CRITICAL
        return Severity.WARNING if severities else None


async def read_for_rules(
    reader: QueueReader, rules: AlertRules, minutes: int = 1, cache: MinuteCache | None = None
) -> WatchData:
    """What the rules need (and at least ``minutes`` metric buckets per queue), in four round trips.
    Callers that read repeatedly pass the same ``cache`` so that settled minutes are read once."""
    return await reader.watch(max(minutes, minutes_needed(rules)), cache=cache)


def evaluate_once(data: WatchData, rules: AlertRules, tracker: AlertTracker, now: float | None = None) -> WatchReport:
    """Apply the rules to ``data`` and feed the tracker; ``now`` defaults to when the data was read."""
    now = data.taken_at if now is None else now
    conditions = evaluate(data, rules, now)
    return WatchReport(data, tuple(conditions), tracker.update(conditions, rules, now))
