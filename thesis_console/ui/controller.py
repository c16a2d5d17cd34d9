"""The console's single point of contact with the core: one session, one refresh timer, Qt signals.

This is the only module of the GUI that holds the core's :class:`Session`. Views read through it
(:meth:`ConsoleController.page`, :meth:`~ConsoleController.detail`, :meth:`~ConsoleController.search`,
:meth:`~ConsoleController.metric_series`) and every change goes through :meth:`~ConsoleController.act`,
which runs the action, reports its outcome as a :class:`Notice` (``noticePosted``) and refreshes.
Refreshes run as asyncio tasks on the qasync loop, so the GUI thread never waits on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from thesis_console.core import session as _session  # noqa: F401  (imported before the loop runs, not on first connect)
from thesis_console.core.bullmq.job_defaults import BullJobDefaults
from thesis_console.core.bullmq.keys import DEFAULT_PREFIX
from thesis_console.core.profiles import ConnectionProfile, ProfileStore
from thesis_console.core.types import (
    ActionResult,
    Backend,
    ConnectionPhase,
    ConnectionState,
    CoreError,
    JobDetail,
    JobPage,
    JobRow,
    JobState,
    MetricSeries,
    Snapshot,
)
from thesis_console.ui.new_failures import NewFailures
from thesis_console.ui.notices import Level, Notice, result_notice
from thesis_console.ui.tasks import spawn

if TYPE_CHECKING:
    from thesis_console.core.alerts.watch_data import MinuteCache, WatchData
    from thesis_console.core.console_actions import ConsoleActions
    from thesis_console.core.reader import ThroughputTracker
    from thesis_console.core.session import Session

log = logging.getLogger("thesis_console.ui.controller")

DEFAULT_REFRESH_S = 2.0
MIN_REFRESH_S = 0.5
MAX_REFRESH_S = 10.0

_kind = _session.FailureKind
RETRIED_FAILURES = frozenset({_kind.REFUSED, _kind.TIMEOUT, _kind.DNS, _kind.SENTINEL, _kind.EMBEDDED, _kind.OTHER})
"""The ``FailureKind`` values a first connection is retried after (the server may come up); a wrong
password, missing rights, a TLS mismatch or a bad URL need the user and are not retried."""


T = TypeVar("T")


class NotConnectedError(CoreError):
    """A read or an action was asked for while no session is open."""

    def __init__(self) -> None:
        super().__init__("not connected")


@dataclass(frozen=True)
class ReadSource:
    """What a reader on another thread's event loop needs: a way to open its own client on the
    session's server (an async context manager), and the session reader's queue filter, timeout and
    BullMQ prefix."""

    side_client: Callable[[], AbstractAsyncContextManager[Any]]
    queues: Sequence[str] | None
    timeout_s: float
    bullmq_prefix: str = DEFAULT_PREFIX


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What :meth:`ConsoleController.act` got: the action's value, or the error text (already reported)."""

    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def probe_profile(profile: ConnectionProfile, password: str | None) -> tuple[ConnectionState, str | None]:
    """Connect as the window would and read one snapshot, then disconnect.

    A PING alone is not enough: an ACL user may connect and PING yet lack the commands RQ needs.

    Returns:
        The connection state (FAILED with the reason, or CONNECTED with version and round trip),
        and what went wrong reading the queues (None when the read worked or the connection failed).
    """
    from thesis_console.core.session import Session, SessionError

    try:
        session = await Session.open(profile, password)
    except SessionError as exc:
        return exc.state, None
    try:
        await session.reader.snapshot()
    except CoreError as exc:
        return session.state, str(exc)
    finally:
        await session.close()
    return session.state, None


class ConsoleController(QObject):
    """Owns the current :class:`Session`, refreshes the snapshot on a timer and announces changes.

    Signals:
        snapshotChanged(Snapshot): after every successful refresh.
        connectionChanged(ConnectionState): whenever the session reports a new state.
        throughputChanged(float, float): completed/s and failed/s over all RQ workers.
        noticePosted(Notice): a message for the user (status area, desktop notification, Undo).
        queueSelected(str): the queue the user selected in the side list.
        busyChanged(bool): an action started or ended (the window disables the other mutations).
        profileChanged(str): a profile is being opened: every view forgets the previous server's data.
        rightsLimited(str): a read was refused for want of ACL rights (the reason), or "" once reads work.
    """

    snapshotChanged = Signal(object)
    connectionChanged = Signal(object)
    throughputChanged = Signal(float, float)
    noticePosted = Signal(object)
    queueSelected = Signal(str)
    busyChanged = Signal(bool)
    profileChanged = Signal(str)
    rightsLimited = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.snapshot: Snapshot | None = None
        self.failures = NewFailures()
        """What is new in Failed between snapshots, less what the operator's own actions put there."""
        self.current_queue: str = "thesis"
        self.read_only: bool = False
        self.url: str = ""
        self.connection_state: ConnectionState | None = None
        self.profile: ConnectionProfile | None = None
        self.session_options: dict[str, Any] = {}
        """Extra keyword arguments for ``Session.open`` (``ping_interval_s``, ``backoff_max_s``)."""
        self._worker_url: str | None = None
        self._refresh_s = DEFAULT_REFRESH_S
        self._throughput: ThroughputTracker | None = None
        self._acting = 0
        self.generation = 0
        """Counts the sessions adopted and dropped: a read started under another generation is stale."""
        self._refresh_task: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._retry_event: asyncio.Event | None = None
        self.limited_rights = ""
        """Why the last read was refused for want of ACL rights; empty when reads work."""
        self.data_read_at: float | None = None
        """When the data on screen was read (Unix time; None before the first snapshot of a session)."""
        self._timer = QTimer(self)
        self._timer.setInterval(int(self._refresh_s * 1000))
        self._timer.timeout.connect(self.request_refresh)

    # ----------------------------------------------------------------- messages
    def post(self, notice: Notice) -> None:
        """Tell the user something (the one message path: status area, desktop notification, Undo)."""
        self.noticePosted.emit(notice)

    def notify(self, text: str, level: str | Level = Level.INFO) -> None:
        """:meth:`post` a plain notice."""
        self.post(Notice(text, Level(level)))

    # ----------------------------------------------------------------- reads
    @property
    def attached(self) -> bool:
        """A session is open (it may be reconnecting)."""
        return self.session is not None

    def _session(self) -> Session:
        session = self.session
        if session is None:
            raise NotConnectedError()
        return session

    async def page(self, queue: str, state: JobState, offset: int, limit: int, reverse: bool = False) -> JobPage:
        """One page of the jobs of ``queue`` in ``state`` (``reverse``: from the other end of the state's
        order). Raises :class:`NotConnectedError` or a core error."""
        return await self._session().reader.page(queue, state, offset, limit, reverse)

    async def position(self, queue: str, state: JobState, job_id: str, reverse: bool = False) -> int | None:
        """The 0-based row of ``job_id`` in the ``state`` table of ``queue``; None when it is not there."""
        return await self._session().reader.position(queue, state, job_id, reverse)

    async def detail(self, row: JobRow) -> JobDetail:
        """Everything about the job of a listed row, read from the row's own queue and backend (a
        BullMQ id is only unique in its queue). Raises :class:`NotConnectedError` or a core error."""
        return await self._session().reader.detail(row.id, row.queue, row.backend)

    async def search(
        self, queue: str, state: JobState, text: str, *, batch_size: int, scan_chunk: int
    ) -> AsyncIterator[list[JobRow]]:
        """Batches of the rows of ``queue`` in ``state`` that match ``text``, as the core finds them."""
        rows = self._session().reader.search(queue, state, text, batch_size=batch_size, scan_chunk=scan_chunk)
        async for batch in rows:
            yield batch

    async def watch(self, minutes: int, *, cache: MinuteCache | None = None, snapshot: Snapshot | None = None) -> WatchData:
        """What the alert rules need (``QueueReader.watch``). Raises :class:`NotConnectedError` or a core error."""
        return await self._session().reader.watch(minutes, cache=cache, snapshot=snapshot)

    def read_source(self) -> ReadSource | None:
        """How to read this server from another thread (None when the session offers no side client)."""
        session = self.session
        side_client = getattr(session, "side_client", None)
        if session is None or side_client is None:
            return None
        reader = session.reader
        return ReadSource(side_client, reader.queues, reader.timeout_s, reader.bullmq_prefix)

    def worker_url(self) -> str | None:
        """The real URL for starting a local worker on this connection; None unless the profile has no password."""
        return self._worker_url

    async def metric_series(self, queue: str, range_s: int) -> MetricSeries | None:
        """Per-minute metrics of ``queue`` over the last ``range_s`` seconds; None when disconnected. Never raises."""
        session = self.session
        if session is None or not self.is_connected():
            return None
        try:
            return await session.reader.metric_series(queue, range_s)
        except Exception as exc:  # the charts simply keep their last data
            log.debug("metric_series(%s) failed: %s", queue, exc)
            return None

    # ----------------------------------------------------------------- actions
    @property
    def busy(self) -> bool:
        """An action started through :meth:`act` is running."""
        return self._acting > 0

    async def act(
        self,
        name: str,
        call: Callable[[ConsoleActions], Awaitable[T]],
        *,
        notice: Callable[[T], Notice | None] | None = None,
        refresh: bool = True,
    ) -> Outcome[T]:
        """Run one action of the core and tell the user how it went: the one path for every change.

        Args:
            name: what the action is called in an error message ("cancel", "resize").
            call: given the session's actions (:class:`ConsoleActions`, which send each call to the
                backend of the queue it names), starts the action.
            notice: how its result reads (None: nothing to say); by default an :class:`ActionResult`
                reads as :func:`result_notice` and other values say nothing.
            refresh: refresh the snapshot afterwards.

        Returns:
            The value, or the error text (which has been posted already).
        """
        session = self.session
        if session is None:
            self.post(Notice(f"{name}: not connected", Level.ERROR))
            return Outcome(error="not connected")
        self._acting += 1
        if self._acting == 1:
            self.busyChanged.emit(True)
        try:
            value = await call(session.actions)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("%s failed: %s", name, exc)
            self.post(Notice(f"{name}: {exc}", Level.ERROR))
            return Outcome(error=str(exc))
        finally:
            self._acting -= 1
            if self._acting == 0:
                self.busyChanged.emit(False)
        said = notice(value) if notice is not None else (result_notice(value) if isinstance(value, ActionResult) else None)
        if said is not None:
            self.post(said)
        if refresh:
            self.request_refresh()
        return Outcome(value=value)

    async def resize_supervisor(self, supervisor_id: str, concurrency: int) -> Outcome[None]:
        """Ask a supervisor to run ``concurrency`` workers; a failure is posted and returned."""
        return await self.act("resize", lambda actions: actions.resize_supervisor(supervisor_id, concurrency))

    async def autoscale_supervisor(self, supervisor_id: str, minimum: int, maximum: int) -> Outcome[None]:
        """Ask a supervisor to scale between ``minimum`` and ``maximum`` workers; a failure is posted and returned."""
        return await self.act("autoscale", lambda actions: actions.autoscale_supervisor(supervisor_id, minimum, maximum))

    def job_defaults(self, queue: str) -> BullJobDefaults | None:
        """The job name and default options of a thesis added to ``queue`` when it is a BullMQ queue (as
        the last snapshot shows it, or as the profile declares it); None for an RQ queue."""
        session = self.session
        if session is None:
            return None
        actions = session.actions
        counts = self.snapshot.queue(queue) if self.snapshot is not None else None
        if actions.declares_bullmq(queue) or (counts is not None and counts.backend is Backend.BULLMQ):
            return actions.job_defaults(queue)
        return None

    async def remember_job_defaults(self, queue: str, defaults: BullJobDefaults, store: ProfileStore | None) -> None:
        """Use ``defaults`` for theses added to the BullMQ queue ``queue`` in this session and, when the
        profile is a saved one, save them with it (the file is written in a worker thread)."""
        session = self._session()
        session.actions.set_job_defaults(queue, defaults)
        profile = self.profile
        if profile is None or store is None:
            return
        updated = profile.with_job_defaults(queue, defaults)
        self.profile = updated

        def save() -> None:
            if any(p.name == updated.name for p in store.load()):  # a URL given at start is not saved
                store.put(updated)

        await asyncio.to_thread(save)

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

    async def open_profile(
        self, profile: ConnectionProfile, password_source: Callable[[ConnectionProfile], Awaitable[str | None]] | None = None
    ) -> bool:
        """Open ``profile`` (asking ``password_source`` only when the server wants a password) and adopt it.

        Every view forgets the previous server's data first (``profileChanged``). When the first
        attempt fails for a reason that may pass (refused, timeout, DNS...), the controller keeps
        trying in the background with the dropped connection's back-off and countdown (RECONNECTING
        states with ``retry_at``) until it connects or another profile is opened.

        The keyring is imported and read in a worker thread: the import takes tens of milliseconds,
        and a keyring backend may start processes or wait on D-Bus, which the GUI thread must never do.

        Returns:
            True when connected; on failure the FAILED state was announced and a notice says why.
        """
        from thesis_console.core.session import FailureKind, Session, SessionError, stored_password

        self.detach()
        self.profile = profile
        self.connection_state = None
        self.limited_rights = ""
        self.profileChanged.emit(profile.name)
        password: str | None = None
        try:
            password = await stored_password(profile)
            try:
                session = await Session.open(profile, password, self.on_state, **self.session_options)
            except SessionError as exc:
                if exc.kind != FailureKind.AUTH_MISSING or password_source is None:
                    raise
                asked = await password_source(profile)
                if not asked:
                    raise
                password = str(asked)
                session = await Session.open(profile, password, self.on_state, **self.session_options)
        except asyncio.CancelledError:
            raise
        except SessionError as exc:  # the FAILED state says why (status area), no second message
            if exc.kind in RETRIED_FAILURES and self.profile is profile and self.session is None:
                self._retry_task = spawn(self._keep_trying(profile, password, exc.state), f"reconnect to {profile.name}")
            return False
        except Exception as exc:
            self.post(Notice(str(exc), Level.ERROR))
            return False
        if self.profile is not profile:  # another connect started meanwhile
            await session.close()
            return False
        self.attach(session)
        return True

    @property
    def retrying(self) -> bool:
        """A first connection failed and is being retried."""
        return self._retry_task is not None and not self._retry_task.done()

    def retry_now(self) -> None:
        """Make the next connection attempt now (F5 while reconnecting), not at the end of the back-off."""
        if self.session is not None:
            retry = getattr(self.session, "retry_now", None)
            if retry is not None:
                retry()
        elif self._retry_event is not None:
            self._retry_event.set()

    async def _keep_trying(self, profile: ConnectionProfile, password: str | None, failed: ConnectionState) -> None:
        """Retry opening ``profile`` with the back-off of a dropped connection until it opens."""
        from thesis_console.core.session import BACKOFF_MAX_S, Session, SessionError, reconnect_delay_s

        def on_state(state: ConnectionState) -> None:
            # Each attempt's CONNECTING and FAILED would only flicker between the countdowns.
            if state.phase not in (ConnectionPhase.CONNECTING, ConnectionPhase.FAILED):
                self.on_state(state)

        backoff_max_s = float(self.session_options.get("backoff_max_s", BACKOFF_MAX_S))
        event = self._retry_event = asyncio.Event()
        failures, state = 1, failed
        while self.profile is profile and self.session is None:
            delay = reconnect_delay_s(failures, backoff_max_s)
            self.on_state(replace(state, phase=ConnectionPhase.RECONNECTING, retry_at=time.time() + delay))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), delay)
            event.clear()
            try:
                session = await Session.open(profile, password, on_state, **self.session_options)
            except SessionError as exc:
                if exc.kind not in RETRIED_FAILURES:
                    self.on_state(exc.state)
                    return
                failures, state = failures + 1, exc.state
                continue
            if self.profile is not profile or self.session is not None:
                await session.close()
                return
            self._retry_task = None  # attach() must not cancel this task
            self.attach(session)
            return

    def attach(self, session: Session, *, worker_url: str | None = None, throughput: ThroughputTracker | None = None) -> None:
        """Adopt an opened session: start refreshing it. The previous session (if any) is closed.

        Args:
            worker_url: the URL local workers should use; by default the session's own URL when it
                needs no password (a password must never appear on a command line).
            throughput: a ``ThroughputTracker``; a new one by default.
        """
        from thesis_console.core.reader import ThroughputTracker

        if session is not self.session:
            self.detach()
            self.generation += 1
        self.session = session
        reader = getattr(session, "reader", None)
        if reader is not None:
            reader.discover_in_background = True  # refreshes do not wait for a key walk
        if worker_url is None and not getattr(session, "password_given", True):
            worker_url = getattr(session, "url", None)
        self._worker_url = worker_url
        self._throughput = throughput if throughput is not None else ThroughputTracker()
        self.profile = getattr(session, "profile", self.profile)
        state = getattr(session, "state", None)
        if state is not None:
            self.on_state(state)
        self._timer.start()
        self.request_refresh()

    def _stop_retrying(self) -> None:
        task, self._retry_task = self._retry_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        self._retry_event = None

    def detach(self) -> None:
        """Stop refreshing (and retrying a failed first connection) and close the current session."""
        self._stop_retrying()
        self.data_read_at = None
        self._timer.stop()
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_task.cancel()
        self._refresh_task = None
        session, self.session = self.session, None
        if session is not None:
            self.generation += 1
        self.snapshot = None
        if session is not None:
            close = getattr(session, "close", None)
            if close is not None:
                try:
                    result = close()
                    if inspect.iscoroutine(result):
                        spawn(result, "closing the previous session")
                except Exception as exc:
                    log.debug("closing session failed: %s", exc)

    async def close(self) -> None:
        """Stop refreshing and close the session, waiting for it (at shutdown)."""
        session = self.session
        self._stop_retrying()
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
                await session.close()

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
        self._refresh_task = spawn(self._refresh(), "refresh")

    async def refresh_now(self) -> Snapshot | None:
        """Refresh and return the new snapshot (awaits a refresh already running)."""
        self.request_refresh()
        task = self._refresh_task
        if task is not None:
            await asyncio.shield(task)
        return self.snapshot

    def note_read_failure(self, exc: BaseException) -> None:
        """A read failed: when for want of ACL rights, the connection is marked limited (whichever read
        was refused first: the snapshot, the alerts, a chart)."""
        from thesis_console.core.redis_target import is_rights_error

        if is_rights_error(exc) and self.limited_rights != str(exc):
            self.limited_rights = str(exc)
            self.rightsLimited.emit(self.limited_rights)

    async def _refresh(self) -> None:
        session = self.session
        if session is None:
            return
        try:
            snapshot = await session.reader.snapshot()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The session's watchdog notices lost connections and reports them through on_state; a
            # failure while it still says "connected" is worth a line in the status area.
            log.debug("refresh failed: %s", exc)
            if self.is_connected():
                self.note_read_failure(exc)
                self.post(Notice(f"refresh failed: {exc}", Level.ERROR))
            return
        if session is not self.session:
            return
        if self.limited_rights:
            self.limited_rights = ""
            self.rightsLimited.emit("")
        self.snapshot = snapshot
        self.data_read_at = time.time()
        self.snapshotChanged.emit(snapshot)
        if self._throughput is not None:
            rates = self._throughput.update(snapshot)
            if rates is not None:
                self.throughputChanged.emit(float(rates[0]), float(rates[1]))
