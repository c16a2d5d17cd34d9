"""The tracker: "for" durations, firing and ending, cool-down, disabled rules, acknowledgement, history file."""

from __future__ import annotations

import json
import threading

from thesis_console.core.alerts.conditions import Condition, describe_duration
from thesis_console.core.alerts.history import AlertHistory
from thesis_console.core.alerts.rules import AlertRules, RuleKind, RuleSettings, Severity
from thesis_console.core.alerts.tracker import HISTORY_S, AlertTracker

T0 = 1_800_000_000.0


def _no_worker(since: float | None = None) -> Condition:
    return Condition(RuleKind.NO_WORKER, "thesis", "thesis", Severity.CRITICAL, "thesis: 3 jobs waiting", 3, since)


def _rules(**settings) -> AlertRules:
    return AlertRules().with_rule(RuleKind.NO_WORKER, RuleSettings(severity=Severity.CRITICAL, **settings))


def test_fires_after_for_duration_then_ends():
    rules, tracker = _rules(for_s=60, cooldown_s=600), AlertTracker()
    first = tracker.update([_no_worker()], rules, T0)
    assert first.firing == () and [c.rule for c in first.pending] == [RuleKind.NO_WORKER]
    assert tracker.update([_no_worker()], rules, T0 + 59).firing == ()
    fired = tracker.update([_no_worker()], rules, T0 + 60)
    assert [a.condition.rule for a in fired.firing] == [RuleKind.NO_WORKER] and len(fired.started) == 1
    again = tracker.update([_no_worker()], rules, T0 + 70)
    assert len(again.firing) == 1 and again.started == ()  # still the same occurrence: no new notification
    ended = tracker.update([], rules, T0 + 80)
    assert ended.firing == () and ended.ended[0].ended_at == T0 + 80
    assert [(r.started_at, r.ended_at) for r in tracker.history(T0)] == [(T0 + 60, T0 + 80)]


def test_since_from_the_data_fires_at_once():
    tracker = AlertTracker()
    update = tracker.update([_no_worker(since=T0 - 120)], _rules(for_s=60), T0)
    assert len(update.started) == 1


def test_cool_down_reopens_instead_of_notifying_again():
    rules, tracker = _rules(for_s=0, cooldown_s=600), AlertTracker()
    assert len(tracker.update([_no_worker()], rules, T0).started) == 1
    tracker.update([], rules, T0 + 10)
    within = tracker.update([_no_worker()], rules, T0 + 300)
    assert within.started == () and len(within.firing) == 1  # fires, but no second notification
    assert len(tracker.records) == 1 and tracker.records[0].ended_at is None
    tracker.update([], rules, T0 + 310)
    after = tracker.update([_no_worker()], rules, T0 + 700)
    assert len(after.started) == 1 and len(tracker.records) == 2


def test_disabled_rule_ends_its_alert_and_never_fires():
    tracker = AlertTracker()
    tracker.update([_no_worker()], _rules(), T0)
    update = tracker.update([_no_worker()], _rules(enabled=False), T0 + 5)
    assert update.firing == () and len(update.ended) == 1 and tracker.pending == {}


def test_acknowledge_and_prune_after_seven_days():
    rules, tracker = _rules(), AlertTracker()
    record = tracker.update([_no_worker()], rules, T0).started[0].record
    acked = tracker.acknowledge(record.id, T0 + 1)
    assert acked.acknowledged_at == T0 + 1
    assert tracker.update([_no_worker()], rules, T0 + 2).firing[0].acknowledged
    tracker.update([], rules, T0 + 3)
    tracker.update([], rules, T0 + 3 + HISTORY_S + 1)
    assert tracker.records == []


def test_history_file_round_trip_and_concurrent_edits(tmp_path):
    history = AlertHistory("work: prod/1", "redis://prod:6379/1", tmp_path)
    assert history.path.parent == tmp_path and "/" not in history.path.name[:-5]
    assert AlertHistory("work: prod/1", "redis://other:6379/1", tmp_path).path != history.path
    with history.editing() as tracker:
        tracker.update([_no_worker()], _rules(for_s=60), T0)

    def bump(n: int) -> None:
        with history.editing() as tracker:
            tracker.pending[f"extra|{n}|x"] = float(n)

    threads = [threading.Thread(target=bump, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loaded = history.load()
    assert loaded.pending[_no_worker().key] == T0 and len(loaded.pending) == 9  # no edit lost under the lock
    history.path.write_text("{damaged")
    assert history.load().records == []
    assert json.loads(json.dumps(loaded.to_json()))["version"] == 1


def test_describe_duration():
    assert [describe_duration(s) for s in (45, 17 * 60 + 5, 7500, 3 * 86400 + 7200)] == ["45 s", "17 min", "2 h 5 min", "3 d 2 h"]
