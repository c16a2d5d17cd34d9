"""Start the desktop console: a Qt application on a qasync event loop, themed, with the main window."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from typing import Any

from PySide6.QtWidgets import QApplication

from thesis_console.ui import resources
from thesis_console.ui.event_loop import ConsoleEventLoop
from thesis_console.ui.settings import ConsoleSettings, configure_application
from thesis_console.ui.tasks import spawn

log = logging.getLogger("thesis_console.ui.app")


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), with names for QSettings, the icon and the desktop file name."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication((argv or sys.argv)[:1])
    configure_application(app)
    app.setDesktopFileName("thesis-console")
    try:
        app.setWindowIcon(resources.app_icon())
    except FileNotFoundError as exc:
        log.warning("%s", exc)
    return app


def build_window(app: QApplication, settings: ConsoleSettings | None = None, store: Any | None = None) -> Any:
    """The main window with the theme manager attached (no connection yet)."""
    from thesis_console.ui.main_window import MainWindow
    from thesis_console.ui.theme import ThemeManager

    settings = settings or ConsoleSettings()
    theme_manager = ThemeManager(app, settings.theme)
    window = MainWindow(settings=settings, store=store, theme_manager=theme_manager)
    # Modules and widgets live as long as the process: keep the collector from walking them again
    # and again (see MainWindow._on_snapshot, which freezes once more after the first snapshot).
    gc.freeze()
    return window


def _close_on_signals(window: Any) -> None:
    """Ctrl+C or SIGTERM closes the window the normal way (settings saved, session closed).

    Python runs signal handlers only between bytecodes, and Qt's loop runs in C++: a slow no-op timer
    gives Python that chance.
    """
    from PySide6.QtCore import QTimer

    def request_close(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_close)
    wake = QTimer(window)
    wake.setInterval(250)
    wake.timeout.connect(lambda: None)
    wake.start()


def run_gui(args: argparse.Namespace, demo: bool = False) -> int:
    """Open the window, connect (``--url``, ``REDIS_URL`` or the embedded Redis) and run until it closes."""
    app = create_application()
    loop = ConsoleEventLoop(app)
    asyncio.set_event_loop(loop)
    window = build_window(app)
    window.show()
    profile_name = getattr(args, "profile", None)
    url = getattr(args, "url", None) or (None if profile_name else os.environ.get("REDIS_URL")) or None
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    _close_on_signals(window)

    async def start() -> None:
        ok = await window.connect_initial(url, profile_name)
        if ok and demo:
            await window.controller.refresh_now()
            window.start_demo()

    with loop:
        spawn(start(), "connect at start")
        loop.run_until_complete(closed.wait())
        loop.run_until_complete(window.shutdown())
    return 0
