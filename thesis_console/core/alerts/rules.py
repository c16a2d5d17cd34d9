"""The alert rules: what each watches, its settings, the defaults, and the plain file that stores them.

Six rules, each with an on/off switch, a severity, thresholds and a cool-down:

==================== ====================================================================== ==========
rule                 fires when                                                             default
==================== ====================================================================== ==========
failure_rate         failed / (completed + failed) over ``window_s`` > ``threshold``,         20 %, 15 min,
                     with at least ``min_ended`` ended jobs in the window                     10 jobs
waiting_depth        waiting jobs > ``threshold`` for ``for_s``                               50, 20 min
oldest_waiting       the job at the head of the queue has waited > ``threshold`` seconds     30 min
no_worker            waiting jobs > ``threshold`` and no live worker serves the queue,        0, 60 s
                     for ``for_s``
stuck_job            an active job's progress has not changed for > ``threshold`` seconds     15 min
                     while its worker is alive
supervisor_silent    a supervisor's last heartbeat is > ``threshold`` seconds old             30 s
==================== ====================================================================== ==========

The defaults suit thesis generation: a thesis takes minutes, a chapter's LLM call can take a few of
them, and RQ's 2 h job timeout is far too late a guard for a hung call.

Rules are stored per connection profile in a JSON file (``THESIS_ALERTS``, else ``alerts.json`` in
the per-user config folder) that the CLI reads and the window writes; anything not in the file keeps
its default::

    {"profiles": {"local": {"stuck_job": {"threshold": 600}, "waiting_depth": {"enabled": false}}}}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from thesis_console.core.paths import user_config_root
from thesis_console.core.types import CoreError

ALERTS_ENV = "THESIS_ALERTS"


class RuleKind(StrEnum):
    FAILURE_RATE = "failure_rate"
    WAITING_DEPTH = "waiting_depth"
    OLDEST_WAITING = "oldest_waiting"
    NO_WORKER = "no_worker"
    STUCK_JOB = "stuck_job"
    SUPERVISOR_SILENT = "supervisor_silent"


class Severity(StrEnum):
    """Nagios-style severities; ``check`` exits 1 for a warning and 2 for a critical alert."""

    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class RuleSettings:
    """One rule's settings. ``threshold`` means what :data:`THRESHOLD_MEANING` says for the rule.

    Attributes:
        enabled: evaluate the rule at all.
        severity: warning or critical.
        threshold: the limit the rule compares with (a fraction, a count or seconds).
        for_s: how long the condition must hold before the alert fires.
        cooldown_s: an alert that starts again within this time of its previous start does not
            notify again: it reopens the previous occurrence in the history.
        window_s: the failure rate's window (only failure_rate).
        min_ended: the fewest ended jobs in the window for a failure rate to count (only failure_rate).
    """

    enabled: bool = True
    severity: Severity = Severity.WARNING
    threshold: float = 0.0
    for_s: float = 0.0
    cooldown_s: float = 1800.0
    window_s: float = 0.0
    min_ended: int = 0


THRESHOLD_MEANING: dict[RuleKind, str] = {
    RuleKind.FAILURE_RATE: "failed share of ended jobs (0 to 1)",
    RuleKind.WAITING_DEPTH: "waiting jobs",
    RuleKind.OLDEST_WAITING: "seconds the oldest waiting job has waited",
    RuleKind.NO_WORKER: "waiting jobs (more than this with no live worker)",
    RuleKind.STUCK_JOB: "seconds without a change of progress",
    RuleKind.SUPERVISOR_SILENT: "seconds since the supervisor's last heartbeat",
}

DEFAULTS: dict[RuleKind, RuleSettings] = {
    RuleKind.FAILURE_RATE: RuleSettings(
        severity=Severity.CRITICAL, threshold=0.2, window_s=900, min_ended=10, cooldown_s=1800
    ),
    RuleKind.WAITING_DEPTH: RuleSettings(threshold=50, for_s=1200, cooldown_s=1800),
    RuleKind.OLDEST_WAITING: RuleSettings(threshold=1800, cooldown_s=1800),
    RuleKind.NO_WORKER: RuleSettings(severity=Severity.CRITICAL, threshold=0, for_s=60, cooldown_s=600),
    RuleKind.STUCK_JOB: RuleSettings(threshold=900, cooldown_s=3600),
    RuleKind.SUPERVISOR_SILENT: RuleSettings(severity=Severity.CRITICAL, threshold=30, cooldown_s=600),
}

MAX_FAILURE_WINDOW_S = 6 * 3600
"""The failure rate's window is read from minute buckets: at most 360 of them per queue."""


@dataclass(frozen=True)
class AlertRules:
    """Every rule's settings for one profile."""

    rules: tuple[tuple[RuleKind, RuleSettings], ...] = tuple(DEFAULTS.items())

    def get(self, kind: RuleKind) -> RuleSettings:
        return self._by_kind.get(kind, DEFAULTS[kind])

    @cached_property
    def _by_kind(self) -> dict[RuleKind, RuleSettings]:
        return dict(self.rules)

    def with_rule(self, kind: RuleKind, settings: RuleSettings) -> AlertRules:
        check_settings(kind, settings)
        merged = dict(self.rules)
        merged[kind] = settings
        return AlertRules(tuple((k, merged.get(k, DEFAULTS[k])) for k in RuleKind))

    def to_json(self) -> dict[str, Any]:
        """Only what differs from the defaults, so later changes of a default reach untouched rules."""
        out: dict[str, Any] = {}
        for kind, settings in self.rules:
            default = asdict(DEFAULTS[kind])
            changed = {k: v for k, v in asdict(settings).items() if v != default[k]}
            if changed:
                out[kind.value] = {k: (v.value if isinstance(v, StrEnum) else v) for k, v in changed.items()}
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "alert rules") -> AlertRules:
        """Rules from a mapping of rule name to partial settings.

        Raises:
            CoreError: an unknown rule or field, or a bad value; the message names it.
        """
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise CoreError(f"{where}: expected an object of rule names, got {type(data).__name__}")
        rules = cls()
        for name, values in data.items():
            try:
                kind = RuleKind(name)
            except ValueError:
                known = ", ".join(k.value for k in RuleKind)
                raise CoreError(f"{where}: unknown rule {name!r} (rules: {known})") from None
            rules = rules.with_rule(kind, _settings(kind, values, f"{where}: {name}"))
        return rules


def _settings(kind: RuleKind, values: Any, where: str) -> RuleSettings:
    if not isinstance(values, dict):
        raise CoreError(f"{where}: expected an object of settings, got {type(values).__name__}")
    known = {f.name: f for f in fields(RuleSettings)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise CoreError(f"{where}: unknown setting {key!r} (settings: {', '.join(known)})")
        if key == "enabled":
            if not isinstance(value, bool):
                raise CoreError(f"{where}: enabled must be true or false, got {value!r}")
        elif key == "severity":
            try:
                value = Severity(value)
            except ValueError:
                raise CoreError(f"{where}: severity must be warning or critical, got {value!r}") from None
        elif key == "min_ended":
            if not isinstance(value, int) or isinstance(value, bool):
                raise CoreError(f"{where}: min_ended must be a whole number, got {value!r}")
        elif not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise CoreError(f"{where}: {key} must be a number, got {value!r}")
        changes[key] = value
    settings = replace(DEFAULTS[kind], **changes)
    check_settings(kind, settings, where)
    return settings


def check_settings(kind: RuleKind, settings: RuleSettings, where: str | None = None) -> None:
    """Raises CoreError naming the setting when a value is out of range."""
    where = where or kind.value
    for name in ("threshold", "for_s", "cooldown_s", "window_s"):
        if getattr(settings, name) < 0:
            raise CoreError(f"{where}: {name} must not be negative, got {getattr(settings, name)}")
    if settings.min_ended < 0:
        raise CoreError(f"{where}: min_ended must not be negative, got {settings.min_ended}")
    if kind is RuleKind.FAILURE_RATE:
        if not 0 <= settings.threshold <= 1:
            raise CoreError(f"{where}: threshold is a share of ended jobs, 0 to 1, got {settings.threshold}")
        if not 60 <= settings.window_s <= MAX_FAILURE_WINDOW_S:
            raise CoreError(f"{where}: window_s must be 60 to {MAX_FAILURE_WINDOW_S}, got {settings.window_s}")


# ---------------------------------------------------------------------- the file
def default_rules_path() -> Path:
    """``THESIS_ALERTS``, else ``alerts.json`` in the per-user config folder."""
    override = os.environ.get(ALERTS_ENV)
    return Path(override) if override else user_config_root() / "alerts.json"


class RulesStore:
    """The alert rules of every profile in one JSON file; a missing file means the defaults everywhere."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_rules_path()

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CoreError(f"alert rules file {self.path}: cannot read it: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CoreError(f"alert rules file {self.path}: not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
            raise CoreError(f'alert rules file {self.path}: expected {{"profiles": {{NAME: {{RULE: {{...}}}}}}}}')
        return data

    def load(self, profile: str) -> AlertRules:
        """The rules of ``profile`` (the defaults for what the file does not set).

        Raises:
            CoreError: the file is unreadable or holds a bad rule; the message names the file and the rule.
        """
        data = self._read()
        return AlertRules.from_json(data.get("profiles", {}).get(profile), f"{self.path}: profile {profile!r}")

    def save(self, profile: str, rules: AlertRules) -> None:
        """Store ``profile``'s rules, keeping the other profiles' (written atomically)."""
        data = self._read()
        profiles = data.setdefault("profiles", {})
        profiles[profile] = rules.to_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".alerts-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
