"""The window's alert watcher: evaluates the core's alert rules every few seconds, off the GUI thread.

The whole evaluation runs in a worker thread: the read (one :meth:`QueueReader.watch`, two pipelined
round trips when the controller's snapshot is fresh, four otherwise; settled minute buckets are kept
between evaluations, so each asks only for the last minutes) on that thread's own event loop with its own client (:meth:`Session.side_client`), since
parsing the replies for a hundred queues would hold the GUI's loop for tens of milliseconds; then the
rules and the history file (a locked read-modify-write in the per-user data folder). Sessions without
``side_client`` (a test's stand-in) are read on the GUI's loop.
Results come back as an :class:`AlertView` through ``changed``; alerts that just started (once per
cool-down, the tracker decides) through ``started``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from thesis_console.core.alerts.conditions import minutes_needed
from thesis_console.core.alerts.history import AlertHistory
from thesis_console.core.alerts.rules import AlertRules, RuleKind, RulesStore
from thesis_console.core.alerts.tracker import HISTORY_S, Alert, AlertRecord, AlertTracker
from thesis_console.core.alerts.watch import evaluate_once
from thesis_console.core.alerts.watch_data import MinuteCache, WatchData
from thesis_console.core.bullmq.keys import DEFAULT_PREFIX
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import ConnectionPhase, ConnectionState, Snapshot
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.tasks import spawn

log = logging.getLogger("thesis_console.ui.alerts")

EVALUATE_EVERY_S = 10.0
CLOSE_WAIT_S = 8.0
"""The longest closing waits for an evaluation under way (its read has a 5 s deadline by default)."""


@dataclass(frozen=True)
class AlertView:
    """What the window shows of the alerts after one evaluation."""

    firing: tuple[Alert, ...] = ()
    history: tuple[AlertRecord, ...] = ()
    stuck: dict[str, float] = field(default_factory=dict)
    """Running job id to seconds without progress, for the stuck alerts firing now."""
    taken_at: float = 0.0

    @property
    def unacknowledged(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.firing if not a.acknowledged)

    def per_queue(self) -> dict[str, int]:
        """Unacknowledged firing alerts by queue (for the badges of the queue list)."""
        counts: dict[str, int] = {}
        for alert in self.unacknowledged:
            if alert.condition.queue:
                counts[alert.condition.queue] = counts.get(alert.condition.queue, 0) + 1
        return counts


def _view(tracker: AlertTracker, firing: tuple[Alert, ...], now: float) -> AlertView:
    by_id = {r.id: r for r in tracker.records}
    firing = tuple(Alert(a.condition, by_id.get(a.record.id, a.record)) for a in firing)
    stuck = {a.condition.subject: a.condition.value for a in firing if a.condition.rule is RuleKind.STUCK_JOB}
    return AlertView(firing, tuple(tracker.history(now - HISTORY_S)), stuck, now)


class AlertMonitor(QObject):
    """Evaluates the connected profile's alert rules on a timer and announces the outcome.

    Args:
        controller: the console controller (it reads the server; its profile names the rules).
        rules_store: where the rules are (the user's ``alerts.json`` by default).
        history_folder: where the history files are (the per-user data folder by default).
        interval_s: seconds between evaluations.

    Signals:
        changed(AlertView): after each evaluation and each acknowledgement.
        started(tuple[Alert, ...]): alerts that just started (notify these).
        failed(str): an evaluation or a save failed (a message for the status area).
    """

    changed = Signal(object)
    started = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        controller: ConsoleController,
        rules_store: RulesStore | None = None,
        history_folder: Path | None = None,
        interval_s: float = EVALUATE_EVERY_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.rules_store = rules_store or RulesStore()
        self.history_folder = history_folder
        self.rules = AlertRules()
        self.view = AlertView()
        self.profile_name: str | None = None
        self.server = ""
        self._minutes = MinuteCache()
        self._task: asyncio.Task[Any] | None = None
        self._pending_actions: set[asyncio.Task[Any]] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_s * 1000))
        self._timer.timeout.connect(self.evaluate_soon)
        controller.connectionChanged.connect(self._on_connection)
        controller.profileChanged.connect(self.forget)

    def set_interval_s(self, seconds: float) -> None:
        self._timer.setInterval(int(max(0.1, seconds) * 1000))

    # ----------------------------------------------------------------- connection
    def forget(self, _profile: str = "") -> None:
        """Drop the alerts shown (another server is being connected); the next connection loads its own."""
        self._timer.stop()
        self.profile_name, self.server = None, ""
        self._minutes = MinuteCache()
        self.view = AlertView()
        self.changed.emit(self.view)

    def _on_connection(self, state: ConnectionState) -> None:
        if state.phase != ConnectionPhase.CONNECTED:
            return
        name = state.profile
        if name != self.profile_name or state.server != self.server:
            self.profile_name, self.server = name, state.server
            self._minutes = MinuteCache()
            self.view = AlertView()
            self.changed.emit(self.view)
            self._spawn(self._load_rules(name), "load the alert rules")
        if not self._timer.isActive():
            self._timer.start()

    async def _load_rules(self, profile: str) -> None:
        try:
            self.rules = await asyncio.to_thread(self.rules_store.load, profile)
        except Exception as exc:  # a damaged rules file: say so, watch with the defaults
            self.rules = AlertRules()
            self.failed.emit(f"alert rules: {exc}; using the defaults")
        self.evaluate_soon()

    def _history(self) -> AlertHistory | None:
        return AlertHistory(self.profile_name, self.server, self.history_folder) if self.profile_name else None

    # ----------------------------------------------------------------- evaluation
    def evaluate_soon(self) -> None:
        """Start one evaluation unless one is running (they never pile up)."""
        if self._task is not None and not self._task.done():
            return
        if not self.controller.attached or not self.controller.is_connected() or self.profile_name is None:
            return
        self._task = self._spawn(self.evaluate(), "evaluate the alert rules")

    async def evaluate(self) -> AlertView | None:
        """Read, apply the rules in a worker thread, announce. Never raises (failures go to ``failed``)."""
        rules, history = self.rules, self._history()
        if history is None:
            return None
        minutes, cache, snapshot = minutes_needed(rules), self._minutes, self._fresh_snapshot()
        generation = self.controller.generation
        try:
            source = self.controller.read_source()
            if source is not None:
                view, started = await asyncio.to_thread(
                    evaluate_apart, source.side_client, source.queues, source.timeout_s, minutes, cache, history, rules,
                    snapshot, source.bullmq_prefix,
                )
            else:
                data = await self.controller.watch(minutes, cache=cache, snapshot=snapshot)
                view, started = await asyncio.to_thread(_apply, history, data, rules)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("alert evaluation failed: %s", exc)
            self.controller.note_read_failure(exc)
            self.failed.emit(f"alerts: {exc}")
            return None
        if generation != self.controller.generation or history.path != getattr(self._history(), "path", None):
            return None  # the connection changed meanwhile
        self.view = view
        self.changed.emit(view)
        if started:
            self.started.emit(started)
        return view

    def _fresh_snapshot(self) -> Snapshot | None:
        """The controller's latest snapshot when it is recent (two refreshes at most): the evaluation
        then reads only what the snapshot lacks, half the commands for many queues."""
        snapshot = self.controller.snapshot
        limit = 2 * self.controller.refresh_interval_s() + 1.0
        if snapshot is None or time.time() - snapshot.taken_at > limit:
            return None
        return snapshot

    async def acknowledge(self, record_ids: list[str]) -> None:
        """Mark occurrences acknowledged (in the history file; Redis is not touched)."""
        history = self._history()
        if history is None or not record_ids:
            return
        try:
            self.view = await asyncio.to_thread(_acknowledge, history, record_ids, self.view.firing)
        except Exception as exc:
            self.failed.emit(f"acknowledge: {exc}")
            return
        self.changed.emit(self.view)

    async def save_rules(self, rules: AlertRules) -> bool:
        """Store the profile's rules in the rules file and evaluate with them."""
        if self.profile_name is None:
            return False
        try:
            await asyncio.to_thread(self.rules_store.save, self.profile_name, rules)
        except Exception as exc:
            self.failed.emit(f"alert rules: {exc}")
            return False
        self.rules = rules
        self.evaluate_soon()
        return True

    async def close(self) -> None:
        """Stop evaluating, and wait for an evaluation under way: its worker thread cannot be
        cancelled, and Qt must not destroy the executor's thread while it runs. Bounded by the
        read's own deadline."""
        self._timer.stop()
        running = [t for t in (self._task, *self._pending_actions) if t is not None and not t.done()]
        if running:
            await asyncio.wait(running, timeout=CLOSE_WAIT_S)
        for task in running:
            if not task.done():
                task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        """:func:`spawn`, remembered so that :meth:`close` can wait for it."""
        task = spawn(coro, name)
        if task is not None:
            self._pending_actions.add(task)
            task.add_done_callback(self._pending_actions.discard)
        return task


def evaluate_apart(
    side_client: Callable[[], Any],
    queues: Sequence[str] | None,
    timeout_s: float,
    minutes: int,
    cache: MinuteCache,
    history: AlertHistory,
    rules: AlertRules,
    snapshot: Snapshot | None = None,
    bullmq_prefix: str = DEFAULT_PREFIX,
) -> tuple[AlertView, tuple[Alert, ...]]:
    """In a worker thread: read on a private event loop with a private client, then apply the rules."""

    async def read() -> WatchData:
        async with side_client() as client:
            reader = QueueReader(client, queues=queues, timeout_s=timeout_s, bullmq_prefix=bullmq_prefix)
            return await reader.watch(minutes, cache=cache, snapshot=snapshot)

    # A plain selector loop: qasync's policy (set while the GUI runs) would make a Qt loop here.
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        data = runner.run(read())
    return _apply(history, data, rules)


def _apply(history: AlertHistory, data: WatchData, rules: AlertRules) -> tuple[AlertView, tuple[Alert, ...]]:
    """In a worker thread: the rules on ``data``, the tracker loaded and saved under the history's lock."""
    with history.editing() as tracker:
        report = evaluate_once(data, rules, tracker)
        return _view(tracker, report.update.firing, data.taken_at), report.update.started


def _acknowledge(history: AlertHistory, record_ids: list[str], firing: tuple[Alert, ...]) -> AlertView:
    now = time.time()
    with history.editing() as tracker:
        for record_id in record_ids:
            try:
                tracker.acknowledge(record_id, now)
            except KeyError:
                continue  # it left the history meanwhile
        return _view(tracker, firing, now)
