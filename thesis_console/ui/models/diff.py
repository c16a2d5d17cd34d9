"""A pure diff of two keyed row lists, so a Qt model can update in place and keep its selection.

``diff(old, new)`` returns the smallest practical list of remove / insert / change operations that
turn ``old`` into ``new``: rows keep their identity (their key) whenever their relative order is
unchanged, so ``QPersistentModelIndex``-based selections and current indexes survive a refresh.
Rows whose relative order did change (a move) are removed and inserted again; the rows that stay are
the longest increasing subsequence of old positions, so as few rows as possible move.

No Qt here: the operations are plain values that :func:`apply` (and the models) replay.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Row = TypeVar("Row")


@dataclass(frozen=True)
class Remove:
    """Remove ``count`` rows starting at ``start`` (positions in the list as it is at that moment)."""

    start: int
    count: int


@dataclass(frozen=True)
class Insert(Generic[Row]):
    """Insert ``rows`` so that the first one lands at ``start``."""

    start: int
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Change(Generic[Row]):
    """Replace the row at ``index`` (same key, new content)."""

    index: int
    row: Row


Op = Remove | Insert[Any] | Change[Any]


def _default_key(row: Any) -> Hashable:
    return row.id


def _stable_positions(old_positions: Sequence[int]) -> set[int]:
    """Indexes (into ``old_positions``) of a longest strictly increasing subsequence."""
    tails: list[int] = []  # tails[k] = smallest tail value of an increasing run of length k+1
    tails_at: list[int] = []  # index in old_positions of that tail
    parent: list[int] = [-1] * len(old_positions)
    for i, value in enumerate(old_positions):
        k = bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tails_at.append(i)
        else:
            tails[k] = value
            tails_at[k] = i
        parent[i] = tails_at[k - 1] if k else -1
    keep: set[int] = set()
    i = tails_at[-1] if tails_at else -1
    while i != -1:
        keep.add(i)
        i = parent[i]
    return keep


def diff(old: Sequence[Row], new: Sequence[Row], key: Callable[[Row], Hashable] = _default_key) -> list[Op]:
    """Operations that turn ``old`` into ``new``, to be applied in order.

    Removals come first (from the bottom up, in contiguous runs), then insertions (top down, in
    contiguous runs), then changes at their final positions. Keys must be unique within each list.

    Args:
        old: the rows the model holds now.
        new: the rows it should hold.
        key: the identity of a row (a job id by default).

    Returns:
        A list of :class:`Remove`, :class:`Insert` and :class:`Change` values.
    """
    old_index = {key(row): i for i, row in enumerate(old)}
    # Rows present in both lists, in new order, with their old position.
    common_new: list[int] = []
    common_old_pos: list[int] = []
    for j, row in enumerate(new):
        i = old_index.get(key(row))
        if i is not None:
            common_new.append(j)
            common_old_pos.append(i)
    stable = _stable_positions(common_old_pos)
    kept_old = {common_old_pos[k] for k in stable}
    kept_new = {common_new[k] for k in stable}

    ops: list[Op] = []
    # Removals, bottom up, so earlier positions stay valid.
    i = len(old) - 1
    while i >= 0:
        if i in kept_old:
            i -= 1
            continue
        end = i
        while i >= 0 and i not in kept_old:
            i -= 1
        ops.append(Remove(i + 1, end - i))
    # Insertions, top down: after the removals the list is exactly the kept rows in order.
    j = 0
    while j < len(new):
        if j in kept_new:
            j += 1
            continue
        start = j
        while j < len(new) and j not in kept_new:
            j += 1
        ops.append(Insert(start, tuple(new[start:j])))
    # Changes: kept rows whose content differs.
    for k in sorted(stable):
        j = common_new[k]
        if new[j] != old[common_old_pos[k]]:
            ops.append(Change(j, new[j]))
    return ops


def apply(rows: list[Row], ops: Sequence[Op]) -> list[Row]:
    """Replay ``ops`` on a copy of ``rows`` (the reference the models follow, used by the tests)."""
    result = list(rows)
    for op in ops:
        if isinstance(op, Remove):
            del result[op.start : op.start + op.count]
        elif isinstance(op, Insert):
            result[op.start : op.start] = list(op.rows)
        else:
            result[op.index] = op.row
    return result
