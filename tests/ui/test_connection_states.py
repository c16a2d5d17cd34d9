"""Connection states in the window: every start reconnects, and no view shows another server's data
as current. Real redis-servers on their own free ports (xdist-safe), real widgets."""

from __future__ import annotations

import re

import redis
from rq import Queue, Worker

from tests.ui.qt_helpers import run, wait_until
from tests.ui.window_helpers import QUEUE, failed_job
from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.profiles import ConnectionProfile, ad_hoc_profile
from thesis_console.core.types import ConnectionPhase, JobState
from thesis_console.ui.main_window import MainWindow
from thesis_console.ui.widgets.jobs_view import STATE_ORDER

FAST = {"ping_interval_s": 0.2, "backoff_max_s": 1.0}


def test_a_first_connection_that_fails_is_retried_until_the_server_comes(tmp_path, loop, window_factory) -> None:
    """Start on a port where nothing listens: the window counts down and retries by itself, and
    connects once a redis-server starts there; F5 retries at once."""
    port = free_port()
    servers = []

    async def scenario() -> None:
        window: MainWindow = await window_factory(None, connect=False, session_options={"ping_interval_s": 0.2, "backoff_max_s": 30.0})
        profile = ad_hoc_profile(f"redis://127.0.0.1:{port}/0")
        assert not await window.connect_profile(profile)
        await wait_until(lambda: window.controller.connection_state.phase == ConnectionPhase.RECONNECTING, what="a retry")
        await wait_until(lambda: "retrying in" in window.status_area.text(), 10, what="a countdown in the status bar")
        assert window.status_area.badge.text() == "reconnecting"
        await wait_until(lambda: "reconnecting in" in window.data_banner.text(), 10, what="a countdown in the banner")
        assert window.data_banner.isVisible()
        assert window.act_refresh.isEnabled(), "F5 retries now"
        servers.append(start_server(tmp_path / "late-redis", port))
        # The back-off has grown past the test's patience by now (up to 30 s): F5 connects at once.
        await wait_until(lambda: window.controller.connection_state.retry_at is not None, what="a countdown")
        window.act_refresh.trigger()
        await wait_until(lambda: window.controller.is_connected(), 10, what="connected by the retry")
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        assert window.status_area.badge.text() == "connected"
        assert not window.data_banner.isVisible()
        assert all(view.isEnabled() for view in window.data_views())

    try:
        run(loop, scenario(), 60)
    finally:
        for server in servers:
            server.stop()


def test_the_window_connects_by_itself_when_the_server_starts_later(tmp_path, loop, window_factory) -> None:
    port = free_port()
    servers = []

    async def scenario() -> None:
        window: MainWindow = await window_factory(None, connect=False, session_options=FAST)
        assert not await window.connect_profile(ad_hoc_profile(f"redis://127.0.0.1:{port}/0"))
        await wait_until(lambda: window.controller.retrying, what="retrying")
        servers.append(start_server(tmp_path / "late-redis", port))
        await wait_until(lambda: window.controller.is_connected(), 15, what="connected without any click")

    try:
        run(loop, scenario(), 60)
    finally:
        for server in servers:
            server.stop()


def test_switching_profile_cancels_the_old_attempts(tmp_path, loop, window_factory, redis_url) -> None:
    port = free_port()

    async def scenario() -> None:
        window: MainWindow = await window_factory(None, connect=False, session_options=FAST)
        assert not await window.connect_profile(ad_hoc_profile(f"redis://127.0.0.1:{port}/0"))
        await wait_until(lambda: window.controller.retrying, what="retrying")
        assert await window.connect_profile(ConnectionProfile(name="live", url=redis_url))
        assert not window.controller.retrying
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        for _ in range(20):  # a stale attempt would turn the state back to reconnecting
            await wait_until(lambda: True)
            assert window.controller.connection_state.profile == "live"
            assert window.controller.is_connected()

    run(loop, scenario(), 60)


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+", text)


def test_a_switch_to_a_dead_profile_leaves_nothing_of_the_old_server(tmp_path, loop, window_factory, redis_conn, redis_url) -> None:
    """Every view clears at once: queue list, tab counts, tables, Overview counters, Workers tab,
    detail panel; the banner says whom the window is connecting to, and no action is enabled."""
    failed_job(redis_conn)

    async def scenario() -> None:
        window: MainWindow = await window_factory(ConnectionProfile(name="first", url=redis_url), session_options=FAST)
        window.show_jobs(JobState.FAILED)
        await wait_until(lambda: window.jobs_view.models[JobState.FAILED].rowCount() > 0, what="failed rows")
        assert window.queue_model.rowCount() > 0
        dead = ConnectionProfile(name="dead", url=f"redis://127.0.0.1:{free_port()}/0")
        task = window.connect_profile(dead)
        await wait_until(lambda: window.controller.profile is dead, what="the switch")
        # At once, before the attempt ends:
        assert window.queue_model.rowCount() == 0
        for state in STATE_ORDER:
            assert window.jobs_view.models[state].rowCount() == 0
            title = window.jobs_view.tabs.tabText(STATE_ORDER.index(state))
            assert not _numbers(title), title
        overview = window.overview
        assert all(counter.value.text() == "–" for counter in overview.counters.values())
        assert not _numbers(overview.title.text().replace(QUEUE, "")), overview.title.text()
        assert window.workers_view.supervisors_model.rowCount() == 0 and window.workers_view.workers_model.rowCount() == 0
        assert window.detail.row is None
        assert window.data_banner.isVisible() and "dead" in window.data_banner.text()
        assert "first" not in window.status_area.text()
        assert not any(view.isEnabled() for view in window.data_views())
        assert not any(a.isEnabled() for a in window.mutating)
        assert not await task
        await wait_until(lambda: "reconnecting in" in window.data_banner.text(), what="the countdown")
        assert window.queue_model.rowCount() == 0

    run(loop, scenario(), 60)


def test_a_dropped_connection_keeps_its_data_greyed_with_when_and_whence(tmp_path, loop, window_factory) -> None:
    """The server goes away: the last data stays, greyed and inert, under a banner saying when it was
    read and from where; it comes back live on reconnection."""
    port = free_port()
    servers = [start_server(tmp_path / "own-redis", port)]

    async def scenario() -> None:
        conn = redis.Redis.from_url(servers[0].url)
        worker = Worker([Queue("aging", connection=conn)], connection=conn, name="aging-worker")
        worker.register_birth()
        conn.close()
        window: MainWindow = await window_factory(ConnectionProfile(name="own", url=servers[0].url), session_options=FAST)
        model = window.workers_view.workers_model
        await wait_until(lambda: model.row_of("aging-worker") >= 0, what="the worker listed")
        assert not window.data_banner.isVisible()
        servers[0].stop()
        await wait_until(lambda: window.data_banner.isVisible(), 15, what="the stale banner")
        text = window.data_banner.text()
        assert re.search(r"Showing data read at \d\d:\d\d:\d\d from own; reconnecting", text), text
        assert not any(view.isEnabled() for view in window.data_views())
        assert not any(a.isEnabled() for a in window.mutating)
        # The worker stays listed, and its heartbeat keeps ageing from the last read.
        column = [c.title for c in model.columns].index("Heartbeat")
        age = lambda: model.index(model.row_of("aging-worker"), column).data()  # noqa: E731
        seconds = lambda: 0 if age() == "now" else int(age().split()[0])  # noqa: E731
        first = seconds()
        await wait_until(lambda: seconds() >= first + 2, 10, what="the heartbeat ageing")
        servers.append(start_server(tmp_path / "own-redis", port))
        await wait_until(lambda: window.controller.is_connected(), 20, what="connected again")
        assert not window.data_banner.isVisible()
        assert all(view.isEnabled() for view in window.data_views())

    try:
        run(loop, scenario(), 60)
    finally:
        servers[-1].stop()
