"""Pause and resume a queue from the window: the queue list's menu and the Overview's button, what
shows a pause (queue list, Overview, who and when), read-only, and workers that ignore pauses.
Real Redis; each test pauses a queue of its own (the pause hash is shared by the session's server)."""

from __future__ import annotations

import uuid

from rq import Queue, Worker

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.queue_pause import PAUSED_KEY
from thesis_console.ui.main_window import MainWindow
from thesis_console.ui.models import roles


def _queue(redis_conn) -> str:
    name = f"pause-{uuid.uuid4().hex[:8]}"
    Queue(name, connection=redis_conn, serializer=contract.SERIALIZER).enqueue("tests.jobs.boom")
    return name


def _summary(window: MainWindow, name: str) -> str:
    return str(window.queue_model.index(window.queue_model.row_of(name), 0).data(roles.COUNT_ROLE))


def test_pause_and_resume_from_the_queue_menu_and_the_overview(loop, window_factory, redis_conn, redis_url) -> None:
    name = _queue(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.queue_model.row_of(name) >= 0, what="the queue listed")
        menu = window.queue_menu(name)
        (pause,) = menu.actions()
        assert pause.text() == "Pause queue" and pause.isEnabled()
        pause.trigger()
        await wait_until(lambda: redis_conn.hexists(PAUSED_KEY, name), what="the pause stored")
        await wait_until(lambda: _summary(window, name).startswith("paused"), what="paused in the queue list")
        tooltip = window.queue_model.data(window.queue_model.index(window.queue_model.row_of(name), 0), 3)
        assert "paused by " in str(tooltip) and " at " in str(tooltip), tooltip
        # The Overview of that queue says so, with who and when, and offers Resume.
        window.controller.select_queue(name)
        overview = window.overview
        await wait_until(lambda: overview.paused_label.text().startswith("paused by"), what="paused in the Overview")
        assert overview.pause_button.text() == "Resume queue" and overview.pause_button.isEnabled()
        overview.pause_button.click()
        await wait_until(lambda: not redis_conn.hexists(PAUSED_KEY, name), what="resumed")
        await wait_until(lambda: not _summary(window, name).startswith("paused"), what="running in the queue list")
        await wait_until(lambda: overview.pause_button.text() == "Pause queue", what="Pause offered again")
        assert not overview.paused_label.isVisible()
        assert window.queue_menu(name).actions()[0].text() == "Pause queue"

    try:
        run(loop, scenario(), 60)
    finally:
        redis_conn.hdel(PAUSED_KEY, name)


def test_a_read_only_profile_cannot_pause_and_says_why(loop, window_factory, redis_conn, redis_url) -> None:
    name = _queue(redis_conn)

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url, read_only=True))
        await wait_until(lambda: window.queue_model.row_of(name) >= 0, what="the queue listed")
        (pause,) = window.queue_menu(name).actions()
        assert not pause.isEnabled() and "read-only" in pause.text(), pause.text()
        window.controller.select_queue(name)
        await wait_until(lambda: "read-only" in window.overview.pause_button.toolTip(), what="the reason")
        assert not window.overview.pause_button.isEnabled()
        assert not redis_conn.hexists(PAUSED_KEY, name)

    run(loop, scenario(), 60)


def test_the_workers_tab_marks_workers_that_ignore_pauses(loop, window_factory, redis_conn, redis_url) -> None:
    name = _queue(redis_conn)
    worker = Worker([Queue(name, connection=redis_conn)], connection=redis_conn, name=f"plain-{uuid.uuid4().hex[:8]}")
    worker.register_birth()

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        model = window.workers_view.workers_model
        await wait_until(lambda: model.row_of(worker.name) >= 0, what="the plain worker listed")
        row = model.row_of(worker.name)
        column = [c.title for c in model.columns].index("Supervisor")
        assert model.index(row, column).data() == "none: ignores pauses"
        assert "paused queues" in str(model.data(model.index(row, column), 3))

    try:
        run(loop, scenario(), 60)
    finally:
        worker.register_death()
