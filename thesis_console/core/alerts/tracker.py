"""From conditions to alerts: how long each has held, which are firing, and their history.

An alert fires when its condition has held for the rule's ``for_s`` (counted from the earliest time
the data shows, or from the first evaluation that saw it). It ends at the first evaluation that no
longer sees the condition (or when its rule is disabled). Each start is an occurrence in the
history, kept for :data:`HISTORY_S`; an alert that starts again within its rule's cool-down of the
previous start reopens that occurrence instead, so a flapping condition notifies once per cool-down.
An operator can acknowledge an occurrence; acknowledged alerts still fire but no longer count for
the badges.

The tracker is plain data: the window keeps one in memory and saves it in the per-user data folder,
``check`` loads and saves the same file (see :mod:`thesis_console.core.alerts.history`), so the
history never lives in Redis and reading never writes there.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from thesis_console.core.alerts.conditions import Condition
from thesis_console.core.alerts.rules import AlertRules, RuleKind, Severity

HISTORY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class AlertRecord:
    """One occurrence of an alert: when it started and ended, and whether someone acknowledged it."""

    id: str
    key: str
    rule: RuleKind
    queue: str
    subject: str
    severity: Severity
    message: str
    started_at: float
    ended_at: float | None = None
    acknowledged_at: float | None = None

    @property
    def firing(self) -> bool:
        return self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rule"] = self.rule.value
        data["severity"] = self.severity.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlertRecord:
        """Raises ValueError, KeyError or TypeError for a damaged entry."""
        return cls(
            id=str(data["id"]),
            key=str(data["key"]),
            rule=RuleKind(data["rule"]),
            queue=str(data["queue"]),
            subject=str(data["subject"]),
            severity=Severity(data["severity"]),
            message=str(data["message"]),
            started_at=float(data["started_at"]),
            ended_at=None if data.get("ended_at") is None else float(data["ended_at"]),
            acknowledged_at=None if data.get("acknowledged_at") is None else float(data["acknowledged_at"]),
        )


@dataclass(frozen=True)
class Alert:
    """A firing alert: its current condition and its occurrence."""

    condition: Condition
    record: AlertRecord

    @property
    def severity(self) -> Severity:
        return self.condition.severity

    @property
    def acknowledged(self) -> bool:
        return self.record.acknowledged_at is not None


@dataclass(frozen=True)
class AlertUpdate:
    """What one evaluation found.

    Attributes:
        firing: every alert firing now.
        started: alerts that started and should be notified (once per cool-down).
        ended: occurrences that ended with this evaluation.
        pending: conditions that hold but not yet for long enough.
    """

    firing: tuple[Alert, ...] = ()
    started: tuple[Alert, ...] = ()
    ended: tuple[AlertRecord, ...] = ()
    pending: tuple[Condition, ...] = ()


@dataclass
class AlertTracker:
    """Pending conditions and the occurrence history of one profile's alerts."""

    pending: dict[str, float] = field(default_factory=dict)
    records: list[AlertRecord] = field(default_factory=list)

    def update(self, conditions: list[Condition], rules: AlertRules, now: float) -> AlertUpdate:
        """Apply one evaluation's conditions at time ``now``."""
        holding = {c.key: c for c in conditions if rules.get(c.rule).enabled}
        self.pending = {
            key: min(self.pending.get(key, now), c.since if c.since is not None else now)
            for key, c in holding.items()
        }
        open_records = {r.key: i for i, r in enumerate(self.records) if r.ended_at is None}
        # Each key is handled once below, and records are only replaced in place or appended
        # under other keys, so each key's latest occurrence stays where it is found here.
        latest = {r.key: i for i, r in enumerate(self.records)}
        firing, started, waiting = [], [], []
        for key, condition in holding.items():
            settings = rules.get(condition.rule)
            if now - self.pending[key] < settings.for_s:
                waiting.append(condition)
                continue
            index = open_records.pop(key, None)
            if index is not None:  # still firing: keep the occurrence, refresh its text
                record = self.records[index]
                if (record.message, record.severity) != (condition.message, condition.severity):
                    record = replace(record, message=condition.message, severity=condition.severity)
                    self.records[index] = record
                firing.append(Alert(condition, record))
                continue
            previous = latest.get(key)
            if previous is not None and now - self.records[previous].started_at < settings.cooldown_s:
                record = replace(
                    self.records[previous], ended_at=None, message=condition.message, severity=condition.severity
                )
                self.records[previous] = record
                firing.append(Alert(condition, record))
                continue
            record = AlertRecord(
                id=uuid.uuid4().hex[:12],
                key=key,
                rule=condition.rule,
                queue=condition.queue,
                subject=condition.subject,
                severity=condition.severity,
                message=condition.message,
                started_at=now,
            )
            self.records.append(record)
            alert = Alert(condition, record)
            firing.append(alert)
            started.append(alert)
        ended = []
        for index in open_records.values():
            record = replace(self.records[index], ended_at=now)
            self.records[index] = record
            ended.append(record)
        self.records = [r for r in self.records if r.ended_at is None or r.ended_at >= now - HISTORY_S]
        return AlertUpdate(tuple(firing), tuple(started), tuple(ended), tuple(waiting))

    def acknowledge(self, record_id: str, now: float) -> AlertRecord:
        """Mark an occurrence acknowledged.

        Raises:
            KeyError: no occurrence has this id (it may have left the 7-day history).
        """
        for index, record in enumerate(self.records):
            if record.id == record_id:
                if record.acknowledged_at is None:
                    record = replace(record, acknowledged_at=now)
                    self.records[index] = record
                return record
        raise KeyError(record_id)

    def history(self, since: float) -> list[AlertRecord]:
        """Occurrences that were firing at some time after ``since``, newest start first."""
        return sorted(
            (r for r in self.records if r.ended_at is None or r.ended_at >= since),
            key=lambda r: r.started_at,
            reverse=True,
        )

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "pending": dict(self.pending), "records": [r.to_json() for r in self.records]}

    @classmethod
    def from_json(cls, data: Any) -> AlertTracker:
        """A tracker from its saved form; damaged entries are dropped, not fatal."""
        tracker = cls()
        if not isinstance(data, dict):
            return tracker
        pending = data.get("pending")
        if isinstance(pending, dict):
            for key, since in pending.items():
                if isinstance(since, (int, float)) and not isinstance(since, bool):
                    tracker.pending[str(key)] = float(since)
        for raw in data.get("records") or ():
            try:
                tracker.records.append(AlertRecord.from_json(raw))
            except (KeyError, TypeError, ValueError):
                continue
        return tracker
