"""Fixtures for GUI tests: a qasync event loop on the pytest-qt application, and async polling.

``qtbot.waitUntil`` spins Qt but does not run asyncio tasks, and calling it from inside a running
task fails (re-entrancy); tests that drive async code run ``loop.run_until_complete(wait_until(predicate))``
(``tests/ui/qt_helpers.py``) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from thesis_console.ui.event_loop import ConsoleEventLoop


@pytest.fixture
def loop(qapp) -> Iterator[ConsoleEventLoop]:
    """The GUI's event loop (qasync's, see ui/event_loop.py) installed as the current asyncio loop, closed afterwards."""
    qapp.setQuitOnLastWindowClosed(False)  # closing a window in a test must not stop the loop
    event_loop = ConsoleEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    # Let cancelled tasks unwind before closing, so no "Task was destroyed but it is pending" warning.
    pending = [t for t in asyncio.all_tasks(event_loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        event_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    event_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def window_factory(loop, tmp_path, monkeypatch):
    """An async factory of main windows with settings and profiles in ``tmp_path``.

    ``await make(profile)`` returns a shown :class:`MainWindow`, connected to ``profile`` (unless
    ``connect=False``), that refreshes every 0.5 s. Call it inside the test's one
    ``run(loop, scenario())``: between two runs the window's reads are paused (qasync used to run
    their steps outside the running loop; ``ui/event_loop.py`` keeps what falls due between runs for
    the next one), so a test keeps the loop running for its whole scenario.
    Every window is shut down (session closed) at teardown.
    """
    from PySide6.QtCore import QSettings

    from tests.ui.qt_helpers import run
    from thesis_console.core.profiles import ProfileStore
    from thesis_console.ui.main_window import MainWindow
    from thesis_console.ui.settings import ConsoleSettings

    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "profiles.json"))
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path / "data"))
    windows: list[MainWindow] = []

    async def make(profile, connect: bool = True, session_options: dict | None = None) -> MainWindow:
        settings = ConsoleSettings(QSettings(str(tmp_path / f"settings-{len(windows)}.ini"), QSettings.Format.IniFormat))
        settings.refresh_interval_s = 0.5
        window = MainWindow(settings=settings, store=ProfileStore(tmp_path / "profiles.json"))
        window.controller.session_options = dict(session_options or {})
        window.resize(1280, 800)
        window.show()
        windows.append(window)
        if connect:
            assert await window.connect_profile(profile), window.status_area.text()
        return window

    yield make
    for window in windows:
        # Close the session while the window exists, then the window itself.
        window._close_confirmed = True
        run(loop, window.shutdown())
        window.close()
        window.deleteLater()
