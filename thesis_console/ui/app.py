"""Start the desktop console: a Qt application on a qasync event loop."""

from __future__ import annotations

import argparse
import asyncio
import sys

import qasync
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow


def run_gui(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("thesis-console")
    app.setApplicationName("Thesis Queue Console")
    window = QMainWindow()
    window.setWindowTitle("Thesis Queue Console")
    window.setCentralWidget(QLabel("Thesis Queue Console"))
    window.resize(1200, 800)
    window.show()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    with loop:
        loop.run_until_complete(closed.wait())
    return 0
