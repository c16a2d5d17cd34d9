"""The demo (ui/demo.py): sample theses and local workers on an empty Redis, and closing with them running."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.ui.demo import SAMPLES

QUEUE = "thesis"


def test_demo_then_close_asks_about_local_workers(loop, window_factory, redis_conn, redis_url, isolated_env) -> None:
    """The demo button on an empty local Redis queues the samples and starts local workers; jobs run;
    closing the window asks whether to stop them, and Stop stops them."""

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.banner.isVisible(), what="the demo banner on an empty Redis")
        window.local_workers._stop_grace_s = 1.0  # a short warm stop for the test
        window.demo_button.click()
        await wait_until(lambda: window.local_workers.is_running(), 20, what="local workers running")
        snapshot_total = lambda: window.controller.snapshot.queue(QUEUE).total  # noqa: E731
        await wait_until(lambda: snapshot_total() == len(SAMPLES), what="the samples queued")
        assert "demo: queued 9 sample theses" in window.status_area.text()
        assert not window.banner.isVisible()
        counts = lambda: window.controller.snapshot.queue(QUEUE)  # noqa: E731
        await wait_until(lambda: counts().active > 0, 30, what="a demo job running")
        await wait_until(lambda: counts().completed > 0, 40, what="a demo job completed")
        window.close()
        await wait_until(lambda: isinstance(window.active_dialog, QMessageBox), what="the close question")
        box = window.active_dialog
        assert "still running" in box.text()
        next(b for b in box.buttons() if b.text() == "Stop workers").click()
        await wait_until(lambda: not window.local_workers.is_running(), 40, what="workers stopped")
        await wait_until(lambda: not window.isVisible(), 10, what="the window closed")

    run(loop, scenario(), 150)
