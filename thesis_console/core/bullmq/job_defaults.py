"""What a thesis job added to a BullMQ queue looks like: its job name and its default job options.

The Next.js producer adds ``generate-thesis`` jobs with the options of its ``lib/queue.ts``
(:data:`SEED_OPTIONS`). A profile may give a queue another job name or other options
(:attr:`ConnectionProfile.bullmq_jobs`); both are checked here, so the profile file, the CLI and the
Enqueue dialog refuse the same bad values with the same words. Qt-free and free of the ``bullmq``
package, so loading a profile stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thesis_console.core.types import CoreError

SEED_JOB_NAME = "generate-thesis"
SEED_OPTIONS: Mapping[str, Any] = {
    "attempts": 3,
    "backoff": {"type": "exponential", "delay": 2000},
    "removeOnComplete": {"age": 24 * 3600, "count": 100},
    "removeOnFail": {"count": 500},
}
"""The Node thesis system's default job options: 3 attempts, back-off 2, 4, 8 s, the newest 100
completed jobs kept for 24 h, the newest 500 failed ones."""

EDITABLE = ("attempts", "backoff", "removeOnComplete", "removeOnFail")
"""The options a profile may set per queue (the ones the seed sets); others are refused by name."""
BACKOFF_TYPES = ("fixed", "exponential")
JOB_NAME_MAX = 100


@dataclass(frozen=True, eq=True)
class BullJobDefaults:
    """The job name and default options of the thesis jobs the console adds to one BullMQ queue."""

    job_name: str = SEED_JOB_NAME
    options: Mapping[str, Any] = field(default_factory=lambda: dict(SEED_OPTIONS))

    def __post_init__(self) -> None:
        problem = job_name_problem(self.job_name) or options_problem(self.options)
        if problem:
            raise CoreError(problem)

    def __hash__(self) -> int:  # the options are a mapping; hash their canonical JSON
        return hash((self.job_name, json.dumps(self.options, sort_keys=True)))

    def to_json(self) -> dict[str, Any]:
        return {"job_name": self.job_name, "options": json.loads(json.dumps(self.options))}

    @classmethod
    def from_json(cls, data: Any) -> BullJobDefaults:
        """From :meth:`to_json` output; a missing field takes the seed's value.

        Raises:
            CoreError: the value is not an object, or a field is wrong (the message names it).
        """
        if not isinstance(data, dict):
            raise CoreError(f"BullMQ job defaults must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"job_name", "options"})
        if unknown:
            raise CoreError(f"BullMQ job defaults: unknown keys {unknown}; known: job_name, options")
        return cls(job_name=data.get("job_name", SEED_JOB_NAME), options=data.get("options", dict(SEED_OPTIONS)))


def job_name_problem(name: Any) -> str | None:
    """What is wrong with a BullMQ job name, or None."""
    if not isinstance(name, str) or not name.strip():
        return "job_name must be a non-empty text"
    if len(name) > JOB_NAME_MAX or any(ch < " " for ch in name):
        return f"job_name must be at most {JOB_NAME_MAX} characters, without control characters"
    return None


def options_problem(options: Any) -> str | None:
    """What is wrong with default job options (a sentence naming the option), or None."""
    if not isinstance(options, Mapping):
        return f"options must be an object, got {type(options).__name__}"
    unknown = sorted(set(options) - set(EDITABLE))
    if unknown:
        return f"options: unknown {', '.join(unknown)}; the options a queue may set are {', '.join(EDITABLE)}"
    attempts = options.get("attempts", 1)
    if not _whole(attempts) or not 1 <= attempts <= 1000:
        return f"options.attempts must be a whole number from 1 to 1000, got {attempts!r}"
    if "backoff" in options:
        problem = _backoff_problem(options["backoff"])
        if problem:
            return problem
    for key in ("removeOnComplete", "removeOnFail"):
        if key in options:
            problem = _keep_problem(key, options[key])
            if problem:
                return problem
    return None


def parse_options(text: str) -> dict[str, Any]:
    """Default job options typed as JSON (the CLI, the Enqueue dialog).

    Raises:
        CoreError: it is not JSON, or an option is wrong (the message names it).
    """
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise CoreError(f"options are not valid JSON: {exc}") from None
    problem = options_problem(options)
    if problem:
        raise CoreError(problem)
    return dict(options)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _backoff_problem(backoff: Any) -> str | None:
    if _whole(backoff) and backoff >= 0:  # BullMQ's shorthand: a fixed delay in ms
        return None
    if not isinstance(backoff, Mapping) or set(backoff) - {"type", "delay"}:
        return 'options.backoff must be {"type": "fixed" or "exponential", "delay": milliseconds}'
    if backoff.get("type") not in BACKOFF_TYPES:
        return f"options.backoff.type must be fixed or exponential, got {backoff.get('type')!r}"
    delay = backoff.get("delay", 0)
    if not _whole(delay) or delay < 0:
        return f"options.backoff.delay must be a whole number of milliseconds, got {delay!r}"
    return None


def _keep_problem(key: str, keep: Any) -> str | None:
    """``removeOnComplete``/``removeOnFail``: true (remove at once), false (keep), a count, or {age, count}."""
    if isinstance(keep, bool) or (_whole(keep) and keep >= 0):
        return None
    by_age_or_count = isinstance(keep, Mapping) and keep and not set(keep) - {"age", "count"}
    if by_age_or_count and all(_whole(v) and v >= 0 for v in keep.values()):
        return None
    return f'options.{key} must be true, false, a count of jobs, or {{"age": seconds, "count": jobs}}, got {keep!r}'
