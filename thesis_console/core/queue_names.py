"""The one rule for a queue name this project accepts as input.

The CLI's ``--queue`` options, enqueueing (from the CLI, the window or Python), the worker's
``--queue`` and the window's forms all check names here: 1 to 64 characters, each a letter, a digit,
``.``, ``_`` or ``-``. RQ itself takes any text, so reading still lists every queue that exists in
Redis, whatever its name.
"""

from __future__ import annotations

import re

from thesis_console.core.terminal_text import escape_controls
from thesis_console.core.types import CoreError

QUEUE_NAME_MAX = 64
QUEUE_NAME_RULE = f"1 to {QUEUE_NAME_MAX} characters, each a letter, a digit, '.', '_' or '-'"
_PATTERN = re.compile(rf"[A-Za-z0-9._-]{{1,{QUEUE_NAME_MAX}}}")


class InvalidQueueName(CoreError, ValueError):
    """A queue name that breaks the rule; the message shows it escaped and states the rule."""


def queue_name_problem(name: object) -> str | None:
    """Why ``name`` is not an acceptable queue name, or None when it is."""
    if not isinstance(name, str):
        return f"a queue name must be text, got {type(name).__name__}"
    if _PATTERN.fullmatch(name):
        return None
    shown = escape_controls(name if len(name) <= 80 else name[:80] + "…")
    return f"queue name {shown!r} is not allowed: use {QUEUE_NAME_RULE}"


def check_queue_name(name: object) -> str:
    """``name`` when it follows the rule.

    Raises:
        InvalidQueueName: it does not; the message says why.
    """
    problem = queue_name_problem(name)
    if problem:
        raise InvalidQueueName(problem)
    assert isinstance(name, str)
    return name
