"""What the window tells the user: one :class:`Notice` value for the status area, the tray and Undo.

Every message (an action's outcome, an error, new failures, a lost connection) is a ``Notice`` posted
through :meth:`ConsoleController.post`; the window shows each one in the status area and, when it
has a ``title``, as a desktop notification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from thesis_console.core.types import ActionResult
from thesis_console.ui.models.formatting import fmt_count, plural

UNDO_SECONDS = 10
"""How long a notice offers its Undo."""


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Notice:
    """One message for the user.

    Attributes:
        text: the sentence shown in the status area.
        level: how it is styled.
        title: set for a desktop notification with this title (shown when notifications are on).
        undo: called once when the user presses Undo (offered for :data:`UNDO_SECONDS`).
    """

    text: str
    level: Level = Level.INFO
    title: str = ""
    undo: Callable[[], None] | None = None


OUTCOME = {
    "retry": "Retried {jobs}",
    "cancel": "Canceled {jobs}",
    "stop": "Stopped {jobs}",
    "delete": "Deleted {jobs}",
    "empty": "Deleted {jobs}",
    "promote": "Enqueued {jobs} now",
    "undo retry": "Undid the retry of {jobs}",
}
"""How an action's outcome reads, by the action's name."""


def group_by_reason(skipped: dict[str, str]) -> dict[str, list[str]]:
    """Skipped ids by the head of the core's reason ("broken job hash" of "broken job hash: no data")."""
    by_reason: dict[str, list[str]] = {}
    for job_id, why in skipped.items():
        by_reason.setdefault(why.split(":", 1)[0], []).append(job_id)
    return by_reason


def skip_summary(skipped: dict[str, str], limit: int = 2) -> str:
    """``2 skipped: 1 broken job hash (f-3), 1 already queued (w-1)``: the core's reasons, grouped."""
    by_reason = group_by_reason(skipped)
    parts = []
    for why, ids in sorted(by_reason.items(), key=lambda item: -len(item[1]))[:limit]:
        parts.append(f"{fmt_count(len(ids))} {why} ({ids[0]}{', …' if len(ids) > 1 else ''})")
    if len(by_reason) > limit:
        parts.append(f"{len(by_reason) - limit} other reasons")
    return f"{fmt_count(len(skipped))} skipped: " + "; ".join(parts)


def result_notice(result: ActionResult, where: str = "", undo: Callable[[], None] | None = None) -> Notice:
    """How an action's result reads: ``Retried 1 job of thesis; 2 skipped: …``."""
    template = OUTCOME.get(result.action, result.action.capitalize() + ": {jobs}")
    text = template.format(jobs=plural(len(result.done), "job")) + (f" of {where}" if where else "")
    if result.skipped:
        text += f"; {skip_summary(result.skipped)}"
    level = Level.WARNING if result.skipped and not result.done else Level.INFO
    return Notice(text, level, undo=undo if result.done else None)
