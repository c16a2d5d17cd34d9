"""Which functions a thesis worker runs: the rule the workers enforce and the console flags.

A JSON job names its function and callbacks by dotted path, and RQ imports whatever path it is
given (and falls back to Python's built-ins, so ``eval`` needs no import at all). Anyone who can
write to Redis could therefore run code on every worker host. A thesis worker runs only the
functions on its allowlist: the contract's job function, plus the exact ``module.func`` names the
operator adds (``thesis-worker --allow`` or :data:`ALLOW_ENV`, comma-separated). Wildcards are
refused: each name is one function.

Everything here is pure: it decides from names, and never imports one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from thesis_console.core import contract

log = logging.getLogger(__name__)

ALLOW_ENV = "THESIS_WORKER_ALLOW"
"""Extra functions a worker may run (and the console does not flag), comma-separated."""
DEFAULT_ALLOWED: tuple[str, ...] = (contract.JOB_FUNCTION,)
"""The contract's job function(s): always allowed."""
MAX_NAME = 200


class CallbackKind(Enum):
    """RQ's three callbacks, each stored by name in a field of the job hash."""

    SUCCESS = "success_callback_name"
    FAILURE = "failure_callback_name"
    STOPPED = "stopped_callback_name"

    @property
    def label(self) -> str:
        return f"{self.name.lower()} callback"


CALLBACK_KINDS: tuple[CallbackKind, ...] = tuple(CallbackKind)
CALLBACK_FIELDS: tuple[str, ...] = tuple(kind.value for kind in CALLBACK_KINDS)


def parse_name(raw: str) -> str:
    """One allowlist entry, checked: ``module.func`` made of Python identifiers.

    Raises:
        ValueError: a wildcard, a bare built-in name, or not a dotted path of identifiers.
    """
    name = raw.strip()
    if not name:
        raise ValueError("an empty function name")
    if any(c in name for c in "*?[]"):
        raise ValueError(f"{name!r} is a wildcard; name each function as module.func")
    parts = name.split(".")
    if len(name) > MAX_NAME or len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"{name!r} is not module.func (a dotted path of Python names)")
    return name


def parse_names(raw: str) -> tuple[str, ...]:
    """Comma-separated names (the form of :data:`ALLOW_ENV`), each checked by :func:`parse_name`."""
    return tuple(dict.fromkeys(parse_name(item) for item in raw.split(",") if item.strip()))


@dataclass(frozen=True)
class Allowlist:
    """The exact function names a worker may run; :data:`DEFAULT_ALLOWED` is always among them."""

    names: frozenset[str]

    @classmethod
    def of(cls, extra: Iterable[str] = ()) -> Allowlist:
        return cls(frozenset((*DEFAULT_ALLOWED, *extra)))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Allowlist:
        """The defaults plus :data:`ALLOW_ENV`.

        Raises:
            ValueError: the variable names a wildcard or something that is not ``module.func``.
        """
        raw = (os.environ if environ is None else environ).get(ALLOW_ENV, "")
        try:
            return cls.of(parse_names(raw))
        except ValueError as exc:
            raise ValueError(f"{ALLOW_ENV}: {exc}") from None

    @property
    def extra(self) -> tuple[str, ...]:
        """The names beyond the defaults, sorted."""
        return tuple(sorted(self.names - set(DEFAULT_ALLOWED)))

    def refusal(self, function: object, has_instance: bool, callbacks: Mapping[CallbackKind, object]) -> str | None:
        """Why a job with this call may not run, or None when it may.

        Args:
            function: the decoded function name (anything: it comes from Redis).
            has_instance: the job calls a method of a stored instance instead of a function.
            callbacks: the callback names the job hash holds (empty ones are ignored).
        """
        reason = self.function_refusal(function, has_instance)
        for kind, name in callbacks.items():
            reason = reason or self.callback_refusal(kind, name)
        return reason

    def function_refusal(self, function: object, has_instance: bool) -> str | None:
        """Why the job's function may not run, or None."""
        if not isinstance(function, str):
            return "function name is missing or not text"
        if has_instance:
            return f"method of a stored instance not allowed: {_shown(function)}"
        if function not in self.names:
            return f"function not allowed: {_shown(function)}"
        return None

    def callback_refusal(self, kind: CallbackKind, name: object) -> str | None:
        """Why the job's ``kind`` callback may not run, or None (also when it has none)."""
        if name is None or name == "":
            return None
        if not isinstance(name, str) or name not in self.names:
            return f"{kind.label} not allowed: {_shown(name)}"
        return None


def for_console() -> Allowlist:
    """What the console flags against: the defaults plus :data:`ALLOW_ENV` when it is sound (a bad
    value is logged once and ignored: reading must not fail over it)."""
    return _console_allowlist(os.environ.get(ALLOW_ENV, ""))


@lru_cache(maxsize=4)
def _console_allowlist(raw: str) -> Allowlist:
    try:
        return Allowlist.from_environment({ALLOW_ENV: raw})
    except ValueError as exc:
        log.warning("%s; flagging jobs against the contract's job function only", exc)
        return Allowlist.of()


def _shown(name: object) -> str:
    """A name for a message: printable, one line, cut when long (it comes from whoever wrote Redis)."""
    text = name if isinstance(name, str) else repr(name)
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= MAX_NAME else text[:MAX_NAME] + "…"
