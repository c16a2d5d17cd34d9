"""``thesis-console screenshot``: render the real window offscreen against the current Redis and save a PNG.

The window connects as usual, waits for its first snapshot and for the chosen view's data, then is
grabbed with ``QWidget.grab()``. Views: ``overview``, ``jobs`` (the busiest of active / waiting),
``failed`` (the Failed tab with the first job's traceback in the detail panel), ``workers``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

VIEWS = ("overview", "jobs", "failed", "workers")
DEFAULT_SIZE = (1440, 900)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesis-console screenshot", description="Render the console window offscreen and save it as a PNG."
    )
    parser.add_argument("--out", required=True, help="the PNG file to write")
    parser.add_argument("--view", choices=VIEWS, default="overview", help="which view to show (default: overview)")
    parser.add_argument("--url", default=None, help="Redis URL (env REDIS_URL; default: the embedded local Redis)")
    parser.add_argument("--profile", default=None, help="saved connection profile to use")
    parser.add_argument("--queue", default=None, help="queue to show (default: THESIS_QUEUE or 'thesis')")
    parser.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", help="window size WxH (default 1440x900)")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for data (default 20)")
    return parser


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x", 1))
    except ValueError:
        raise SystemExit(f"thesis-console screenshot: --size must look like 1440x900, got {text!r}") from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise SystemExit(f"thesis-console screenshot: --size {text} is out of range (320x240 to 8000x8000)")
    return w, h


async def _until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())


async def prepare_view(window: Any, view: str, timeout: float, queue_given: bool = False) -> None:
    """Show ``view`` and wait until its data arrived (best effort within ``timeout``)."""
    from thesis_console.core.types import JobState
    from thesis_console.ui.main_window import VIEW_JOBS, VIEW_OVERVIEW, VIEW_WORKERS

    jobs = window.jobs_view
    snapshot = window.controller.snapshot
    if view == "failed" and not queue_given and snapshot is not None and not snapshot.queue(window.controller.current_queue).failed:
        # Show the failures where there are some, when the default queue has none.
        busiest = max(snapshot.queues, key=lambda q: q.failed, default=None)
        if busiest is not None and busiest.failed:
            window.controller.select_queue(busiest.name)
            await window.controller.refresh_now()
            snapshot = window.controller.snapshot
    if view == "overview":
        window.views.setCurrentIndex(VIEW_OVERVIEW)
        # Live charts need a few snapshots; stored metrics are read when the view is shown.
        await asyncio.sleep(3.0)
    elif view == "workers":
        window.views.setCurrentIndex(VIEW_WORKERS)
        await asyncio.sleep(0.3)
    else:
        window.views.setCurrentIndex(VIEW_JOBS)
        if view == "failed":
            state = JobState.FAILED
        else:
            counts = snapshot.queue(window.controller.current_queue) if snapshot else None
            state = JobState.ACTIVE if counts is not None and counts.active else JobState.WAITING
            if counts is not None and not counts.active and not counts.waiting and counts.completed:
                state = JobState.COMPLETED
        jobs.select_state(state)
        model = jobs.models[state]
        await _until(lambda: model.rowCount() > 0 or (not model.busy and model.total == 0), timeout)
        if model.rowCount():
            jobs.select_job(model.rows[0].id)
            await _until(lambda: window.detail.detail is not None, min(timeout, 5.0))
            if view == "failed":
                window.detail.tabs.setCurrentIndex(window.detail.tabs.indexOf(window.detail.sections["traceback"]))

            def detail_matches() -> bool:
                # The panel must show the row the table has selected, fully read.
                row, detail = jobs.current_row(), window.detail.detail
                return row is not None and detail is not None and detail.row.id == row.id

            await _until(detail_matches, min(timeout, 5.0))
    await asyncio.sleep(0.2)


async def capture(window: Any, args: argparse.Namespace) -> int:
    from thesis_console.core.types import ConnectionPhase

    url = args.url or (None if args.profile else os.environ.get("REDIS_URL")) or None
    ok = await window.connect_initial(url, args.profile)
    if not ok:
        state = window.controller.connection_state
        reason = state.reason if state is not None else "unknown"
        print(f"thesis-console screenshot: cannot connect: {reason}", file=sys.stderr)
        return 3
    got = await _until(lambda: window.controller.snapshot is not None, args.timeout)
    if not got:
        state = window.controller.connection_state
        phase = state.phase.value if state else "?"
        print(f"thesis-console screenshot: no data from Redis within {args.timeout:g} s ({phase})", file=sys.stderr)
        return 3
    if args.queue:
        window.controller.select_queue(args.queue)
        await window.controller.refresh_now()
    await prepare_view(window, args.view, args.timeout, queue_given=bool(args.queue))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        print(f"thesis-console screenshot: cannot write {out}", file=sys.stderr)
        return 1
    state = window.controller.connection_state
    if state is not None and state.phase != ConnectionPhase.CONNECTED:
        print(f"thesis-console screenshot: note: connection is {state.phase.value}", file=sys.stderr)
    print(str(out))
    return 0


def run_screenshot(argv: list[str]) -> int:
    """Entry of ``thesis-console screenshot`` (argv after the subcommand)."""
    args = build_parser().parse_args(argv)
    size = parse_size(args.size)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from thesis_console.ui.app import build_window, create_application
    from thesis_console.ui.event_loop import ConsoleEventLoop
    from thesis_console.ui.settings import ConsoleSettings

    app = create_application()
    # A screenshot must not depend on, or change, the user's saved layout and profile choice.
    settings = ConsoleSettings(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "thesis-console", "screenshot"))
    settings.store.clear()
    settings.theme = args.theme
    loop = ConsoleEventLoop(app)
    asyncio.set_event_loop(loop)
    settings.refresh_interval_s = 0.5
    window = build_window(app, settings)
    window.local_dock.hide()
    window.resize(*size)
    window.show()
    async def capture_then_close() -> int:
        # One run of the loop: stopping it while replies are in flight would strand them.
        try:
            return await capture(window, args)
        finally:
            await window.shutdown()

    with loop:
        code = loop.run_until_complete(capture_then_close())
        window.close()
    return code
