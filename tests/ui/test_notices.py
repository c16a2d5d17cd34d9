"""How outcomes read (ui/notices.py): plurals, where, and the core's skip reasons grouped."""

from __future__ import annotations

from thesis_console.core.types import ActionResult
from thesis_console.ui.notices import Level, result_notice


def test_plurals_and_place() -> None:
    assert result_notice(ActionResult("retry", ("a",))).text == "Retried 1 job"
    assert result_notice(ActionResult("cancel", ("a", "b")), where="thesis").text == "Canceled 2 jobs of thesis"


def test_skips_are_grouped_by_reason_with_an_example() -> None:
    result = ActionResult("retry", ("a",), {"b": "broken job hash", "c": "broken job hash", "d": "already queued"})
    notice = result_notice(result)
    assert notice.text == "Retried 1 job; 3 skipped: 2 broken job hash (b, …); 1 already queued (d)"
    assert notice.level is Level.INFO
    nothing = result_notice(ActionResult("retry", (), {"d": "already queued"}), undo=lambda: None)
    assert nothing.level is Level.WARNING and nothing.undo is None  # nothing to undo
