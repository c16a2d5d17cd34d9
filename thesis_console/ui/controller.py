"""The console's single point of contact with the core: one session, one refresh timer, Qt signals.

Every view reads through this controller (or through ``controller.session.reader`` in an awaited
coroutine); nothing in the GUI talks to Redis directly. Refreshes run as asyncio tasks on the qasync
loop, so the GUI thread never waits on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from thesis_console.core.types import ConnectionPhase, ConnectionState, MetricSeries, Snapshot

log = logging.getLogger("thesis_console.ui.controller")

DEFAULT_REFRESH_S = 2.0
MIN_REFRESH_S = 0.5
MAX_REFRESH_S = 10.0


async def resolve(value: Any) -> Any:
    """Await ``value`` when the core returned an awaitable, so the controller accepts both styles."""
    if inspect.isawaitable(value):
        return await value
    return value


class ConsoleController(QObject):
    """Owns the current :class:`Session`, refreshes the snapshot on a timer and announces changes.

    Signals:
        snapshotChanged(Snapshot): after every successful refresh.
        connectionChanged(ConnectionState): whenever the session reports a new state.
        throughputChanged(float, float): completed/s and failed/s over all RQ workers.
        errorRaised(str): a message meant for the status area.
        queueSelected(str): the queue the user selected in the side list.
    """

    snapshotChanged = Signal(object)
    connectionChanged = Signal(object)
    throughputChanged = Signal(float, float)
    errorRaised = Signal(str)
    queueSelected = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Any | None = None
        self.snapshot: Snapshot | None = None
        self.current_queue: str = "thesis"
        self.read_only: bool = False
        self.url: str = ""
        self.connection_state: ConnectionState | None = None
        self.profile: Any | None = None
        self.session_options: dict[str, Any] = {}
        """Extra keyword arguments for ``Session.open`` (``ping_interval_s``, ``backoff_max_s``)."""
        self._worker_url: str | None = None
        self._refresh_s = DEFAULT_REFRESH_S
        self._throughput: Any | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(int(self._refresh_s * 1000))
        self._timer.timeout.connect(self.request_refresh)

    # ----------------------------------------------------------------- the public API of GUI_PLAN.md
    def worker_url(self) -> str | None:
        """The real URL for starting a local worker on this connection; None unless the profile has no password."""
        return self._worker_url

    async def metric_series(self, queue: str, range_s: int) -> MetricSeries | None:
        """Per-minute metrics of ``queue`` over the last ``range_s`` seconds; None when disconnected. Never raises."""
        session = self.session
        if session is None or not self.is_connected():
            return None
        try:
            return await resolve(session.reader.metric_series(queue, range_s))
        except Exception as exc:  # the charts simply keep their last data
            log.debug("metric_series(%s) failed: %s", queue, exc)
            return None

    async def resize_supervisor(self, supervisor_id: str, concurrency: int) -> None:
        """Ask a supervisor to run ``concurrency`` workers; failures go to ``errorRaised``."""
        await self._act("resize", lambda actions: actions.resize_supervisor(supervisor_id, concurrency))

    async def autoscale_supervisor(self, supervisor_id: str, minimum: int, maximum: int) -> None:
        """Ask a supervisor to scale between ``minimum`` and ``maximum`` workers; failures go to ``errorRaised``."""
        await self._act("autoscale", lambda actions: actions.autoscale_supervisor(supervisor_id, minimum, maximum))

    def refresh_interval_s(self) -> float:
        return self._refresh_s

    # ----------------------------------------------------------------- used by the window
    def set_refresh_interval_s(self, seconds: float) -> None:
        self._refresh_s = min(MAX_REFRESH_S, max(MIN_REFRESH_S, float(seconds)))
        self._timer.setInterval(int(self._refresh_s * 1000))

    def select_queue(self, name: str) -> None:
        if name and name != self.current_queue:
            self.current_queue = name
            self.queueSelected.emit(name)

    def is_connected(self) -> bool:
        state = self.connection_state
        return state is not None and state.phase == ConnectionPhase.CONNECTED

    async def connect(self, profile: Any, password_source: Any | None = None) -> bool:
        """Open ``profile`` (asking ``password_source`` only when the server wants a password) and adopt it.

        The keyring is imported and read in a worker thread: the import takes tens of milliseconds,
        and a keyring backend may start processes or wait on D-Bus, which the GUI thread must never do.

        Returns:
            True when connected; on failure the FAILED state was announced and ``errorRaised`` says why.
        """
        from thesis_console.core.session import FailureKind, Session, SessionError, stored_password

        self.detach()
        self.profile = profile
        try:
            password = await stored_password(profile)
            try:
                session = await Session.open(profile, password, self.on_state, **self.session_options)
            except SessionError as exc:
                if exc.kind != FailureKind.AUTH_MISSING or password_source is None:
                    raise
                asked = await resolve(password_source(profile))
                if not asked:
                    raise
                session = await Session.open(profile, str(asked), self.on_state, **self.session_options)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errorRaised.emit(str(exc))
            return False
        if self.profile is not profile:  # another connect started meanwhile
            await session.close()
            return False
        self.attach(session)
        return True

    def attach(self, session: Any, *, worker_url: str | None = None, throughput: Any | None = None) -> None:
        """Adopt an opened session: start refreshing it. The previous session (if any) is closed.

        Args:
            worker_url: the URL local workers should use; by default the session's own URL when it
                needs no password (a password must never appear on a command line).
            throughput: a ``ThroughputTracker``; a new one by default.
        """
        from thesis_console.core.reader import ThroughputTracker

        if session is not self.session:
            self.detach()
        self.session = session
        if worker_url is None and not getattr(session, "password_given", True):
            worker_url = getattr(session, "url", None)
        self._worker_url = worker_url
        self._throughput = throughput if throughput is not None else ThroughputTracker()
        self.profile = getattr(session, "profile", getattr(self, "profile", None))
        state = getattr(session, "state", None)
        if state is not None:
            self.on_state(state)
        self._timer.start()
        self.request_refresh()

    def detach(self) -> None:
        """Stop refreshing and close the current session."""
        self._timer.stop()
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_task.cancel()
        self._refresh_task = None
        session, self.session = self.session, None
        self.snapshot = None
        if session is not None:
            close = getattr(session, "close", None)
            if close is not None:
                try:
                    result = close()
                    if inspect.isawaitable(result):
                        asyncio.ensure_future(result)
                except Exception as exc:
                    log.debug("closing session failed: %s", exc)

    async def close(self) -> None:
        """Stop refreshing and close the session, waiting for it (at shutdown)."""
        session = self.session
        self._timer.stop()
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh_task
        self._refresh_task = None
        self.session = None
        self.snapshot = None
        if session is not None:
            with contextlib.suppress(Exception):
                await resolve(session.close())

    def on_state(self, state: ConnectionState) -> None:
        """The session's ``on_state`` callback: remember and announce the connection state."""
        previous = self.connection_state
        self.connection_state = state
        self.read_only = bool(state.read_only)
        self.url = state.server
        self.connectionChanged.emit(state)
        if state.phase == ConnectionPhase.CONNECTED and (previous is None or previous.phase != ConnectionPhase.CONNECTED):
            if self._throughput is not None and previous is not None and previous.phase == ConnectionPhase.RECONNECTING:
                self._throughput.reset()  # the gap would read as a burst
            self.request_refresh()

    def request_refresh(self) -> None:
        """Start one refresh unless one is already running (refreshes never pile up)."""
        if self.session is None:
            return
        state = self.connection_state
        if state is not None and state.phase not in (ConnectionPhase.CONNECTED, ConnectionPhase.CONNECTING):
            return  # the session's watchdog reconnects; a refresh would only fail
        if self._refresh_task is not None and not self._refresh_task.done():
            return
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            return
        self._refresh_task = loop.create_task(self._refresh())

    async def refresh_now(self) -> Snapshot | None:
        """Refresh and return the new snapshot (awaits a refresh already running)."""
        self.request_refresh()
        task = self._refresh_task
        if task is not None:
            await asyncio.shield(task)
        return self.snapshot

    async def _refresh(self) -> None:
        session = self.session
        if session is None:
            return
        try:
            snapshot = await resolve(session.reader.snapshot())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The session's watchdog notices lost connections and reports them through on_state; a
            # failure while it still says "connected" is worth a line in the status area.
            log.debug("refresh failed: %s", exc)
            if self.is_connected():
                self.errorRaised.emit(f"refresh failed: {exc}")
            return
        if session is not self.session:
            return
        self.snapshot = snapshot
        self.snapshotChanged.emit(snapshot)
        if self._throughput is not None:
            rates = self._throughput.update(snapshot)
            if rates is not None:
                self.throughputChanged.emit(float(rates[0]), float(rates[1]))

    async def _act(self, name: str, call: Any) -> None:
        session = self.session
        if session is None:
            self.errorRaised.emit(f"{name}: not connected")
            return
        try:
            await resolve(call(session.actions))
        except Exception as exc:
            self.errorRaised.emit(f"{name}: {exc}")
        else:
            self.request_refresh()
