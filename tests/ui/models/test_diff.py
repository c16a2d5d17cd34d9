"""The pure diff: applying its operations to the old rows always gives the new rows, keeping what stays."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from thesis_console.ui.models.diff import Change, Insert, Remove, apply, diff


@dataclass(frozen=True)
class R:
    id: str
    v: int = 0


def rows(ids: str, v: int = 0) -> list[R]:
    return [R(c, v) for c in ids]


def test_identical_lists_give_no_operations() -> None:
    assert diff(rows("abc"), rows("abc")) == []


def test_changed_content_is_a_change_at_the_new_position() -> None:
    old = rows("abc")
    new = [R("a"), R("b", 1), R("c")]
    assert diff(old, new) == [Change(1, R("b", 1))]


def test_head_removed_and_tail_appended() -> None:
    ops = diff(rows("abcd"), rows("cdef"))
    assert ops == [Remove(0, 2), Insert(2, (R("e"), R("f")))]


def test_a_move_keeps_the_longest_stable_run() -> None:
    old, new = rows("abcde"), rows("bcdea")
    ops = diff(old, new)
    # Only "a" moves: one removal and one insertion.
    assert ops == [Remove(0, 1), Insert(4, (R("a"),))]
    assert apply(old, ops) == new


def test_custom_key() -> None:
    ops = diff([("x", 1)], [("x", 2)], key=lambda t: t[0])
    assert ops == [Change(0, ("x", 2))]


@given(
    st.lists(st.sampled_from("abcdefghij"), unique=True),
    st.lists(st.tuples(st.sampled_from("abcdefghij"), st.integers(0, 2)), unique_by=lambda t: t[0]),
)
def test_apply_diff_gives_new(old_ids: list[str], new_spec: list[tuple[str, int]]) -> None:
    old = [R(i) for i in old_ids]
    new = [R(i, v) for i, v in new_spec]
    ops = diff(old, new)
    assert apply(old, ops) == new
    # Rows that are in both lists in the same relative order are never removed: count the removals.
    removed = sum(op.count for op in ops if isinstance(op, Remove))
    assert removed <= len(old)
    assert removed >= len(set(old_ids) - {i for i, _ in new_spec})
