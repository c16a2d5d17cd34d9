"""The job actions of the window: retry, cancel, stop, delete, enqueue now, retry all, empty, copy ids.

Each is a :class:`QAction` whose enabling and tooltip come from the core's policy table
(:mod:`thesis_console.core.policy`): an action is enabled when it applies to at least one selected
job, and its tooltip says why not otherwise. The target is always explicit: the jobs the user
selected in the table, or the job shown in the detail panel; never the row that happens to be next.
Destructive actions ask first, naming their jobs (:mod:`thesis_console.ui.confirmations`), with the
safe button as the default; retrying selected jobs asks nothing and offers Undo instead. Every
action runs through :meth:`ConsoleController.act`, which reports and refreshes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDialog, QMenu, QWidget

from thesis_console.core.policy import JobAction, confirmation_needed, empty_verdict, verdict
from thesis_console.core.types import ActionResult, Backend, JobRow, JobState
from thesis_console.ui import confirmations, theme
from thesis_console.ui.confirmations import (
    Question,
    matches_question,
    matches_words,
    retry_all_question,
    selected_jobs_question,
)
from thesis_console.ui.controller import ConsoleController, Outcome
from thesis_console.ui.models.formatting import fmt_count, plural
from thesis_console.ui.notices import Level, Notice, result_notice
from thesis_console.ui.tasks import spawn
from thesis_console.ui.widgets.dialogs.bulk_action import BulkActionDialog
from thesis_console.ui.widgets.jobs_view import JobsView

if TYPE_CHECKING:
    from thesis_console.core.console_actions import ConsoleActions

T = TypeVar("T")
log = logging.getLogger("thesis_console.ui.job_actions")

Ask = Callable[[QDialog], Coroutine[Any, Any, int]]
"""Shows a dialog window-modally and waits for its result (the window's ``ask``)."""

MANY = 100
"""Acting on more jobs than this asks first, even for an action that otherwise asks nothing."""



def applicable(action: JobAction, rows: Sequence[JobRow]) -> list[JobRow]:
    """The rows ``action`` applies to, by the policy table of each row's backend."""
    return [r for r in rows if verdict(action, r.state, r.backend).allowed]


def why_not(action: JobAction, rows: Sequence[JobRow]) -> str:
    """Why ``action`` applies to none of ``rows`` (the policy's reason for the first one)."""
    if not rows:
        return "select jobs in the Jobs view"
    return verdict(action, rows[0].state, rows[0].backend).reason


def _per_queue(rows: Sequence[JobRow]) -> dict[str, list[str]]:
    """The rows' ids per queue."""
    by_queue: dict[str, list[str]] = {}
    for row in rows:
        by_queue.setdefault(row.queue, []).append(row.id)
    return by_queue


async def _act_per_queue(actions: ConsoleActions, action: JobAction, rows: Sequence[JobRow]) -> ActionResult:
    """``action`` on ``rows`` through the core, once per queue (a BullMQ id names a job only in its queue)."""
    results = [await actions.act_on_jobs(action, ids, queue=queue) for queue, ids in _per_queue(rows).items()]
    if len(results) == 1:
        return results[0]
    return ActionResult(
        action.value,
        tuple(i for r in results for i in r.done),
        {i: why for r in results for i, why in r.skipped.items()},
        tuple(u for r in results for u in r.undo),
    )


def set_enabled(action: QAction, usable: bool, why: str, *, connected: bool, read_only: bool, busy: bool) -> None:
    """Enable ``action`` and write its tooltip: the base tip, the shortcut, or why it is disabled."""
    base = str(action.property("baseTip"))
    mutating = bool(action.property("mutating"))
    if not connected:
        enabled, tip = False, f"{base} — not connected"
    elif read_only and mutating:
        enabled, tip = False, f"{base} — disabled: this connection profile is read-only"
    elif busy and mutating:
        enabled, tip = False, f"{base} — another action is running"
    else:
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        enabled = usable
        tip = base + (f" ({shortcut})" if shortcut and usable else "") + ("" if usable else f" — {why}")
    # Only real changes: each one makes the toolbar and menus repaint.
    if action.isEnabled() != enabled:
        action.setEnabled(enabled)
    if action.toolTip() != tip:
        action.setToolTip(tip)


def make_action(parent: QObject, name: str, text: str, icon: str | None, tip: str, *, mutating: bool,
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None) -> QAction:  # fmt: skip
    action = QAction(text, parent)
    action.setObjectName(name)
    if icon:
        action.setIcon(theme.themed_icon(icon))
        action.setProperty("iconName", icon)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setProperty("baseTip", tip)
    action.setProperty("mutating", mutating)
    action.setToolTip(tip)
    return action


class JobActions(QObject):
    """The window's job actions over ``jobs_view``'s selection.

    Args:
        controller: runs the actions (:meth:`ConsoleController.act`).
        jobs_view: whose selection the actions target.
        ask: shows a dialog and waits for its result.
        window: the parent of dialogs and menus.
        jobs_shown: whether the Jobs view is the one on screen (the selection counts only then).
    """

    def __init__(self, controller: ConsoleController, jobs_view: JobsView, ask: Ask, window: QWidget,
                 jobs_shown: Callable[[], bool]) -> None:  # fmt: skip
        super().__init__(window)
        self.controller = controller
        self.jobs_view = jobs_view
        self.window = window
        self._ask = ask
        self._jobs_shown = jobs_shown
        self.menu: QMenu | None = None
        self.stuck_jobs: Callable[[], Container[str]] = frozenset
        """The ids of running jobs that made no progress for too long (Stop is suggested for them)."""

        def a(name: str, text: str, icon: str | None, tip: str, slot: Callable[[], None], mutating: bool = True,
              shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None) -> QAction:  # fmt: skip
            action = make_action(window, name, text, icon, tip, mutating=mutating, shortcut=shortcut)
            action.triggered.connect(lambda _checked=False: slot())
            return action

        self.act_retry = a("retry", "Retry", "retry", "Retry the selected failed or canceled jobs",
                           lambda: self.run(JobAction.RETRY), shortcut="Ctrl+R")  # fmt: skip
        self.act_cancel = a("cancel", "Cancel", "cancel", "Cancel the selected waiting, scheduled or deferred jobs",
                            lambda: self.run(JobAction.CANCEL))  # fmt: skip
        self.act_stop = a("stop", "Stop", "stop", "Stop the selected running jobs", lambda: self.run(JobAction.STOP))
        self.act_delete = a("delete", "Delete", "delete", "Delete the selected jobs", lambda: self.run(JobAction.DELETE))
        self.act_promote = a("promote", "Enqueue now", "enqueue", "Queue the selected scheduled jobs now",
                             lambda: self.run(JobAction.PROMOTE))  # fmt: skip
        self.act_remove_key = a("removeKey", "Cancel or delete", None,
                                "Cancel waiting jobs, delete finished ones (after a confirmation)", self.delete_key,
                                shortcut=QKeySequence.StandardKey.Delete)  # fmt: skip
        self.act_retry_all = a("retryAll", "Retry all failed…", "retry-all", "Retry every failed job of this queue",
                               self.retry_all_failed)  # fmt: skip
        self.act_empty = a("empty", "Empty…", "empty", "Delete every job in the visible state of this queue",
                           self.empty_state)  # fmt: skip
        self.act_copy_ids = a("copyIds", "Copy ids", "copy", "Copy the selected job ids", self.copy_ids,
                              mutating=False, shortcut=QKeySequence.StandardKey.Copy)  # fmt: skip
        self.on_matches = {
            JobAction.RETRY: a("retryMatches", "Retry all matches…", "retry", "Retry every match of this search",
                               lambda: self.act_on_matches(JobAction.RETRY)),
            JobAction.CANCEL: a("cancelMatches", "Cancel all matches…", "cancel", "Cancel every match of this search",
                                lambda: self.act_on_matches(JobAction.CANCEL)),
            JobAction.DELETE: a("deleteMatches", "Delete all matches…", "delete", "Delete every match of this search",
                                lambda: self.act_on_matches(JobAction.DELETE)),
        }  # fmt: skip
        matches_menu = jobs_view.matches_button.menu()
        for action in self.on_matches.values():
            matches_menu.addAction(action)
        jobs_view.matchesChanged.connect(self.update)
        # The Delete and Copy keys act on the table, not on a text the user is editing elsewhere.
        for action in (self.act_remove_key, self.act_copy_ids):
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            jobs_view.addAction(action)
        self.per_job = {
            JobAction.RETRY: self.act_retry,
            JobAction.CANCEL: self.act_cancel,
            JobAction.STOP: self.act_stop,
            JobAction.DELETE: self.act_delete,
            JobAction.PROMOTE: self.act_promote,
        }
        self.toolbar_actions = [self.act_retry, self.act_cancel, self.act_stop, self.act_delete]
        self.menu_actions = [*self.toolbar_actions, self.act_promote]
        self.bulk_actions = [self.act_retry_all, self.act_empty]
        self.mutating = [*self.per_job.values(), self.act_remove_key, *self.bulk_actions, *self.on_matches.values()]
        jobs_view.contextMenuWanted.connect(self.show_context_menu)

    # ----------------------------------------------------------------- state
    def selected_rows(self) -> list[JobRow]:
        return self.jobs_view.selected_rows() if self._jobs_shown() else []

    def whole_state(self) -> bool:
        """All rows of a big state are selected: Retry and Delete mean the whole state (see :meth:`run`)."""
        return self._jobs_shown() and self.jobs_view.whole_state_selected()

    def update(self) -> None:
        """Enable what applies to the selection; say in each tooltip why an action is disabled."""
        c = self.controller
        flags = {"connected": c.is_connected(), "read_only": c.read_only, "busy": c.busy}
        rows = self.selected_rows()
        for job_action, action in self.per_job.items():
            targets = applicable(job_action, rows)
            set_enabled(action, bool(targets), why_not(job_action, rows), **flags)
        removable = applicable(JobAction.CANCEL, rows) or applicable(JobAction.DELETE, rows)
        set_enabled(self.act_remove_key, bool(removable), why_not(JobAction.DELETE, rows), **flags)
        self._update_matches(flags)
        queue = c.current_queue
        counts = c.snapshot.queue(queue) if c.snapshot else None
        set_enabled(self.act_retry_all, bool(counts and counts.failed), f"no failed jobs in {queue}", **flags)
        state = self.jobs_view.current_state()
        can_empty = empty_verdict(state, counts.backend if counts else Backend.RQ)
        empty_why = can_empty.reason or f"no {state.value} jobs in {queue}"
        if not self._jobs_shown():
            empty_why = "show a state of this queue in the Jobs view"
        emptyable = self._jobs_shown() and can_empty.allowed and bool(counts and counts.count(state))
        set_enabled(self.act_empty, emptyable, empty_why, **flags)
        set_enabled(self.act_copy_ids, bool(rows), "select jobs", **flags)
        if self.whole_state():
            self._update_whole_state(state, flags)

    def _update_whole_state(self, state: JobState, flags: dict[str, bool]) -> None:
        """All rows of a state selected, most not read: Retry is "retry all failed", Delete and the
        Delete key are "empty"; the others would act on the read rows only, so they say so instead."""
        total = fmt_count(self.jobs_view.state_count())
        fewer = f"all {total} {state.value} jobs are selected; select fewer rows, or search and act on the matches"
        retry_all = state is JobState.FAILED and self.act_retry_all.isEnabled()
        set_enabled(self.act_retry, retry_all, fewer, **flags)
        for action in (self.act_delete, self.act_remove_key):
            set_enabled(action, self.act_empty.isEnabled(), self.act_empty.toolTip(), **flags)
        for action in (self.act_cancel, self.act_stop, self.act_promote, self.act_copy_ids):
            set_enabled(action, False, fewer, **flags)

    def _update_matches(self, flags: dict[str, bool]) -> None:
        query = self.jobs_view.search_query()
        found = len(self.jobs_view.search_model.rows) if query is not None else 0
        for job_action, action in self.on_matches.items():
            if query is None:
                usable, why = False, "search first"
            elif not found:
                usable, why = False, "no matches (yet)"
            else:
                backend = self.jobs_view.search_model.rows[0].backend
                verdict_ = verdict(job_action, query.state, backend)
                usable, why = verdict_.allowed, verdict_.reason
            set_enabled(action, usable, why, **flags)
        button = self.jobs_view.matches_button
        enabled = any(a.isEnabled() for a in self.on_matches.values())
        if button.isEnabled() != enabled:
            button.setEnabled(enabled)

    # ----------------------------------------------------------------- running
    def run(self, action: JobAction, rows: Sequence[JobRow] | None = None) -> None:
        """Run ``action`` on ``rows`` (the selection by default), asking first when it destroys.

        When all rows of a big state are selected (Ctrl+A), the selection means the state: Retry runs
        "retry all failed" and Delete "empty", each asking first with the count.
        """
        if rows is None and self.whole_state() and action in (JobAction.RETRY, JobAction.DELETE):
            self.update()
            if self.per_job[action].isEnabled():
                self.retry_all_failed() if action is JobAction.RETRY else self.empty_state()
            return
        chosen = self.selected_rows() if rows is None else list(rows)
        targets = applicable(action, chosen)
        if not targets or (rows is None and not self.per_job[action].isEnabled()):
            return
        if self.controller.read_only or self.controller.busy:
            return
        spawn(self._run(action, targets), f"{action.value} jobs")

    async def _run(self, action: JobAction, rows: list[JobRow]) -> ActionResult | None:
        if (confirmation_needed(action) or len(rows) > MANY) and not await self.confirm(selected_jobs_question(action, rows)):
            return None
        # A stopped job goes to Failed: the operator's doing, not a new failure to announce.
        to_failed = _per_queue(rows) if action is JobAction.STOP else {}
        outcome = await self._putting_in_failed(
            to_failed,
            self.controller.act(
                action.value, lambda actions: _act_per_queue(actions, action, rows), notice=lambda r: self._notice(r, rows)
            ),
        )
        return outcome.value

    async def _putting_in_failed(self, jobs: Mapping[str, Sequence[str]], acting: Awaitable[Outcome[T]]) -> Outcome[T]:
        """Run ``acting``, an action that may put ``jobs`` (ids per queue) in Failed, so that the window
        does not announce them as new failures."""
        own = self.controller.failures.expect({queue: len(ids) for queue, ids in jobs.items()})
        outcome = await acting
        done = set(outcome.value.done) if isinstance(outcome.value, ActionResult) else set()
        self.controller.failures.ended(own, {queue: len(done.intersection(ids)) for queue, ids in jobs.items()})
        return outcome

    def _notice(self, result: ActionResult, rows: Sequence[JobRow]) -> Notice:
        """The outcome, with Undo when the core can undo it (a retry, while no worker took the jobs)."""
        retried = result.undo
        if not retried:
            return result_notice(result)
        undone = {job.id for job in retried}
        back = _per_queue([row for row in rows if row.id in undone])

        def undo() -> None:
            undoing = self.controller.act("undo retry", lambda actions: actions.undo_retry(retried))
            spawn(self._putting_in_failed(back, undoing), "undo a retry")

        return result_notice(result, undo=undo)

    def delete_key(self) -> None:
        """The Delete key: cancel waiting, scheduled and deferred jobs, delete finished ones, after a confirmation."""
        if self.whole_state():
            self.run(JobAction.DELETE)
            return
        rows = self.selected_rows()
        if not rows or not self.act_remove_key.isEnabled():
            return
        cancel = applicable(JobAction.CANCEL, rows)
        finished = [r for r in applicable(JobAction.DELETE, rows) if r not in cancel]
        if finished:
            self.run(JobAction.DELETE, finished)
        elif cancel:
            self.run(JobAction.CANCEL, cancel)

    async def confirm(self, question: Question, destructive: bool = True) -> bool:
        """Ask ``question``; True when the user chose to act. The safe button is the default (Enter keeps)."""
        return await confirmations.confirm(self._ask, self.window, question, destructive)

    def retry_all_failed(self) -> None:
        if self.act_retry_all.isEnabled():
            spawn(self._retry_all(), "retry all failed")

    async def _retry_all(self) -> None:
        from thesis_console.ui.widgets.dialogs.retry_all import RetryAllDialog

        queue = self.controller.current_queue
        snapshot = self.controller.snapshot
        counts = snapshot.queue(queue) if snapshot else None
        count = counts.failed if counts else 0
        backend = counts.backend if counts else Backend.RQ
        if not await self.confirm(retry_all_question(queue, count, backend), destructive=False):
            return
        dialog = RetryAllDialog(queue, self.window)
        self._show(dialog)
        outcome = await self.controller.act(
            "retry all failed",
            lambda actions: actions.retry_all_failed(queue, progress=dialog.progress, cancel=dialog.cancel_event),
            notice=lambda result: result_notice(result, where=queue),
        )
        dialog.finish(outcome.value, outcome.error)

    def act_on_matches(self, action: JobAction) -> None:
        """Retry, cancel or delete every match of the search shown, after a confirmation with the count and query."""
        if self.on_matches[action].isEnabled():
            spawn(self._act_on_matches(action), f"{action.value} matches")

    async def _act_on_matches(self, action: JobAction) -> ActionResult | None:
        view = self.jobs_view
        query = view.search_query()
        rows = view.matches()
        if query is None or not rows:
            return None
        running = view.search_running()
        if not await self.confirm(matches_question(action, query, rows, still_searching=running),
                                  destructive=action is not JobAction.RETRY):  # fmt: skip
            return None
        if view.search_query() != query:
            return None  # another search replaced this one while the question was open
        if view.search_running():
            view.cancel_search()  # the matches named in the question are the ones acted on
        ids = [r.id for r in rows]
        where = query.queue
        dialog = BulkActionDialog(matches_words(action, query, len(ids)), self.window)
        self._show(dialog)
        outcome = await self.controller.act(
            f"{action.value} matches",
            lambda actions: actions.act_on_matches(action, query.queue, query.state, ids,
                                                   progress=dialog.progress, cancel=dialog.cancel_event),
            notice=lambda result: result_notice(result, where=where),
        )  # fmt: skip
        dialog.finish(outcome.value, outcome.error)
        if view.search_query() == query:
            view.refresh()  # search again: what is left of the matches
        return outcome.value

    def empty_state(self) -> None:
        if self.act_empty.isEnabled():
            spawn(self._empty(), "empty a state")

    async def _empty(self) -> None:
        from thesis_console.ui.widgets.dialogs.confirm_empty import ConfirmEmptyDialog

        queue = self.controller.current_queue
        state: JobState = self.jobs_view.current_state()
        snapshot = self.controller.snapshot
        count = snapshot.queue(queue).count(state) if snapshot else 0
        dialog = ConfirmEmptyDialog(queue, state, count, self.window)
        if await self._ask(dialog) == QDialog.DialogCode.Accepted:
            await self.controller.act("empty", lambda actions: actions.empty(queue, state),
                                      notice=lambda result: result_notice(result, where=f"{state.value} of {queue}"))  # fmt: skip

    def _show(self, dialog: QDialog) -> None:
        """Show a dialog that needs no answer (its own buttons close it), tracked like the others."""
        spawn(self._ask(dialog), "show a dialog")

    def copy_ids(self) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText("\n".join(r.id for r in rows))
        self.controller.post(Notice(f"copied {plural(len(rows), 'id')}", Level.INFO))

    def show_context_menu(self, pos: QPoint) -> None:
        self.update()
        menu = QMenu(self.window)
        menu.setObjectName("jobContextMenu")
        for action in [*self.menu_actions, None, self.act_copy_ids]:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)
        stuck = self.stuck_jobs()
        if any(r.id in stuck for r in self.selected_rows()) and self.act_stop.isEnabled():
            menu.setDefaultAction(self.act_stop)  # a stuck job: Stop is the suggested action
        self.menu = menu
        menu.popup(pos)
