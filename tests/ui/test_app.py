"""The application around the window: the demo, closing with local workers, the screenshot command,
connection profiles, settings, themes and failure notices."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox
from rq import SimpleWorker

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.profiles import ConnectionProfile, ProfileStore, ad_hoc_profile
from thesis_console.core.supervisor_protocol import record_key
from thesis_console.ui import theme
from thesis_console.ui.demo import SAMPLES
from thesis_console.ui.main_window import MainWindow
from thesis_console.ui.settings import ConsoleSettings

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


def test_screenshot_command_writes_a_png(tmp_path, redis_conn, redis_url) -> None:
    queue = contract.thesis_queue(redis_conn, QUEUE)
    queue.enqueue("tests.jobs.boom", description="boom")
    SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
    out = tmp_path / "failed.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "THESIS_DATA_DIR": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "failed", "--url", redis_url,
         "--size", "1200x800"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    bad = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "nope"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def _processes_mentioning(text: str) -> list[int]:
    """Pids of running processes (not zombies) whose command line contains ``text``."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(process.info["cmdline"] or ()):
                found.append(process.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_screenshot_of_local_workers_starts_then_stops_a_supervisor(tmp_path, redis_conn, redis_url) -> None:
    """``--view local``: the dock with a supervisor started through the panel (slider at 3), its workers
    live and a worker's log shown; after the grab the supervisor is stopped warmly and nothing is left."""
    import json

    import psutil

    queue = "shot-local"  # its own queue: the workers take nothing from other tests
    data = tmp_path / "data"
    out = tmp_path / "local.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "THESIS_DATA_DIR": str(data),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "local", "--url", redis_url,
         "--queue", queue, "--size", "1280x900"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "did not stop" not in proc.stderr, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 900)
    # Non-trivial: the dock's part of the picture (controls and log text) has many colours.
    colours = {image.pixel(x, y) for x in range(0, 1280, 3) for y in range(560, 880, 3)}
    assert len(colours) > 40, len(colours)

    # The supervisor the panel started: its status lines say it ran 3 workers on our queue and stopped.
    runs = sorted((data / "console-supervisors").glob("*.out"))
    assert len(runs) == 1
    lines = [json.loads(line) for line in runs[0].read_text().splitlines() if line.startswith("{")]
    assert any(line.get("live") == 3 and line.get("queues") == [queue] for line in lines), lines[-3:]
    assert lines[-1]["event"] == "stopped", lines[-1]
    pid = lines[-1]["pid"]
    workers = [name for line in lines for name in line.get("workers", [])]
    assert workers, "the status lines name the workers"
    # Nothing left behind: not the supervisor, not a worker, not its record or workers in Redis.
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _processes_mentioning(str(data)) == [] and _processes_mentioning(f"--queue {queue}") == []
    assert not redis_conn.exists(record_key(lines[-1]["id"]))
    registered = {w.decode() for w in redis_conn.smembers("rq:workers")}
    assert not {f"rq:worker:{name}" for name in workers} & registered


def test_screenshot_reports_an_unreachable_redis(tmp_path) -> None:
    from thesis_console.core.embedded_redis import free_port

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(tmp_path / "x.png"),
         "--url", f"redis://127.0.0.1:{free_port()}/0"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3
    assert "refused" in proc.stderr and "Traceback" not in proc.stderr


def test_connection_dialog_saves_tests_and_connects(qtbot, loop, window_factory, redis_url, tmp_path) -> None:
    from thesis_console.ui.widgets.dialogs.connection import ConnectionDialog

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url), connect=False)
        dialog = ConnectionDialog(window.store, parent=window)
        dialog.show()
        assert dialog.list.count() == 1 and "embedded" in dialog.list.item(0).text().lower()
        dialog._show(None)
        dialog.name.setText("Test server")
        dialog.url.setText("redis://:secret@127.0.0.1:1/0")
        assert dialog.save_current() is None
        assert "password" in dialog.result_label.text()
        dialog.url.setText(redis_url)
        dialog.read_only.setChecked(True)
        dialog.trust_pickle.setChecked(True)
        assert dialog.pickle_warning.isVisible()
        dialog.test_connection()
        await wait_until(lambda: dialog.result_label.text().startswith("Connected"), what="the test result")
        assert "Redis" in dialog.result_label.text()
        dialog.connect_current()
        assert dialog.chosen is not None and dialog.chosen.read_only and dialog.chosen.trust_pickle
        saved = ProfileStore(tmp_path / "profiles.json").get("Test server")
        assert saved.url == redis_url and saved.read_only
        ok = await window.connect_profile(dialog.chosen, dialog.password)
        assert ok and window.controller.read_only
        assert window.settings.last_profile == "Test server"
        # A server that is not there: a readable reason, no traceback.
        dialog2 = ConnectionDialog(window.store, current="Test server", parent=window)
        dialog2.url.setText("redis://127.0.0.1:1/0")
        dialog2.test_connection()
        await wait_until(lambda: dialog2.result_label.text().startswith("Cannot connect"), what="the failure")
        assert "refused" in dialog2.result_label.text()
        dialog2.close()
        dialog.close()

    run(loop, scenario())


def test_password_is_asked_when_the_server_needs_one(loop, window_factory, tmp_path) -> None:
    from PySide6.QtWidgets import QInputDialog

    from thesis_console.core.embedded_redis import free_port, start_server

    server = start_server(tmp_path / "auth-redis", free_port())
    try:
        import redis

        redis.Redis.from_url(server.url).config_set("requirepass", "s3cret")

        async def scenario() -> None:
            window = await window_factory(ad_hoc_profile(server.url), connect=False)
            task = window.connect_profile(ConnectionProfile(name="auth", url=server.url))
            await wait_until(lambda: isinstance(window.active_dialog, QInputDialog), what="the password dialog")
            assert "needs a password" in window.active_dialog.labelText()
            window.active_dialog.setTextValue("s3cret")
            window.active_dialog.accept()
            assert await task
            assert window.controller.worker_url() is None  # never put a password on a command line

        run(loop, scenario())
    finally:
        # Without the password gone, the server refuses a plain SHUTDOWN and stop() waits 10 s to kill it.
        with contextlib.suppress(Exception):
            redis.Redis.from_url(server.url, password="s3cret").config_set("requirepass", "")
        server.stop()


def test_settings_persist_layout_and_interval(qtbot, tmp_path) -> None:
    path = str(tmp_path / "settings.ini")
    settings = ConsoleSettings(QSettings(path, QSettings.Format.IniFormat))
    settings.refresh_interval_s = 99
    assert settings.refresh_interval_s == 10.0
    settings.refresh_interval_s = 0.1
    assert settings.refresh_interval_s == 0.5
    settings.refresh_interval_s = 1.5
    window = MainWindow(settings=settings, store=ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(window)
    assert window.controller.refresh_interval_s() == 1.5
    window.resize(720, 520)  # within the offscreen screen (800x600), where restoreGeometry clamps
    window.local_dock.hide()
    window.settings.save_window(window, window.splitter_states())
    again = MainWindow(settings=ConsoleSettings(QSettings(path, QSettings.Format.IniFormat)), store=ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (720, 520)
    assert not again.local_dock.isVisibleTo(again)


def test_themes_fill_the_style_sheets(qapp) -> None:
    manager = theme.ThemeManager(qapp, "dark")
    try:
        assert theme.current() is theme.DARK
        sheet = qapp.styleSheet()
        assert theme.DARK.accent in sheet and "{{" not in sheet
        manager.set_choice("light")
        assert theme.LIGHT.base in qapp.styleSheet()
        assert theme.themed_icon("retry").availableSizes()
    finally:
        manager.set_choice("light")
        qapp.setStyleSheet("")


def test_new_failures_are_noticed(loop, window_factory, redis_conn, redis_url) -> None:
    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        queue = contract.thesis_queue(redis_conn, QUEUE)
        for _ in range(2):
            queue.enqueue("tests.jobs.boom")
        SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
        await wait_until(lambda: "2 new failed jobs in thesis" in window.status_area.text(), what="the notice")

    run(loop, scenario())




def test_chart_range_is_kept_in_the_settings(qtbot, loop, tmp_path) -> None:
    from thesis_console.ui.widgets.overview import RANGES

    path = str(tmp_path / "settings.ini")
    settings = ConsoleSettings(QSettings(path, QSettings.Format.IniFormat))
    settings.chart_range_s = 24 * 3600
    window = MainWindow(settings=settings, store=ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(window)
    assert window.overview.range.seconds == 24 * 3600
    window.overview.range_buttons.button(RANGES.index(next(r for r in RANGES if r.seconds == 3600))).click()
    assert ConsoleSettings(QSettings(path, QSettings.Format.IniFormat)).chart_range_s == 3600
