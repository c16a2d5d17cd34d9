"""Alert rule settings: defaults, the per-profile file, and errors that name the bad setting."""

from __future__ import annotations

import json

import pytest

from thesis_console.core.alerts.rules import (
    DEFAULTS,
    AlertRules,
    RuleKind,
    RuleSettings,
    RulesStore,
    Severity,
)
from thesis_console.core.types import CoreError


def test_defaults_for_thesis_generation():
    rules = AlertRules()
    failure = rules.get(RuleKind.FAILURE_RATE)
    assert (failure.threshold, failure.window_s, failure.min_ended) == (0.2, 900, 10)
    assert rules.get(RuleKind.STUCK_JOB).threshold == 15 * 60
    assert rules.get(RuleKind.NO_WORKER).for_s == 60
    assert all(rules.get(kind).enabled for kind in RuleKind)
    assert rules.to_json() == {}


def test_file_keeps_only_changes_per_profile_and_merges_defaults(tmp_path):
    store = RulesStore(tmp_path / "alerts.json")
    assert store.load("local") == AlertRules()  # no file: the defaults
    changed = AlertRules().with_rule(RuleKind.STUCK_JOB, RuleSettings(threshold=600, cooldown_s=60))
    changed = changed.with_rule(RuleKind.WAITING_DEPTH, DEFAULTS[RuleKind.WAITING_DEPTH].__class__(enabled=False))
    store.save("local", changed)
    store.save("other", AlertRules())
    data = json.loads((tmp_path / "alerts.json").read_text())
    assert data["profiles"]["local"]["stuck_job"] == {"threshold": 600, "cooldown_s": 60}
    assert data["profiles"]["other"] == {}
    loaded = store.load("local")
    assert loaded.get(RuleKind.STUCK_JOB).threshold == 600
    assert loaded.get(RuleKind.WAITING_DEPTH).enabled is False
    assert loaded.get(RuleKind.FAILURE_RATE) == DEFAULTS[RuleKind.FAILURE_RATE]
    assert store.load("never-saved") == AlertRules()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ({"no_such_rule": {}}, "unknown rule 'no_such_rule'"),
        ({"stuck_job": {"treshold": 5}}, "unknown setting 'treshold'"),
        ({"stuck_job": {"threshold": "ten"}}, "threshold must be a number"),
        ({"stuck_job": {"threshold": -1}}, "threshold must not be negative"),
        ({"failure_rate": {"threshold": 20}}, "threshold is a share of ended jobs"),
        ({"failure_rate": {"window_s": 10}}, "window_s must be 60 to"),
        ({"no_worker": {"severity": "fatal"}}, "severity must be warning or critical"),
        ({"no_worker": {"enabled": "yes"}}, "enabled must be true or false"),
        ({"no_worker": 5}, "expected an object of settings"),
    ],
)
def test_bad_rules_name_the_problem(tmp_path, content, named):
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps({"profiles": {"p": content}}))
    with pytest.raises(CoreError, match=named) as info:
        RulesStore(path).load("p")
    assert str(path) in str(info.value)


def test_damaged_file_is_named(tmp_path):
    path = tmp_path / "alerts.json"
    path.write_text("{not json")
    with pytest.raises(CoreError, match="not valid JSON"):
        RulesStore(path).load("p")
    path.write_text("[]")
    with pytest.raises(CoreError, match="expected"):
        RulesStore(path).load("p")


def test_severity_round_trips(tmp_path):
    store = RulesStore(tmp_path / "a.json")
    store.save("p", AlertRules().with_rule(RuleKind.STUCK_JOB, RuleSettings(severity=Severity.CRITICAL, threshold=900, cooldown_s=3600)))
    assert store.load("p").get(RuleKind.STUCK_JOB).severity is Severity.CRITICAL
