"""``thesis-console screenshot``: render the real window offscreen against the current Redis and save a PNG.

The window connects as usual, waits for its first snapshot and for the chosen view's data, then is
grabbed with ``QWidget.grab()``. Views: ``overview``, ``jobs`` (the busiest of active / waiting),
``failed`` (the Failed tab with the first job's traceback in the detail panel), ``workers``, and
``local``: the Local workers dock with a supervisor started through the panel (Start, with the
slider at 3), grabbed once its workers are live and the log view shows a worker's output; the
supervisor is then stopped warmly and the command waits until it is gone. The other views keep the
dock hidden.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

VIEWS = ("overview", "jobs", "failed", "workers", "local")
DEFAULT_SIZE = (1280, 800)
"""The smallest screen the window is laid out for."""
LOCAL_WORKERS = 3
LOCAL_START_S = 60.0
"""Starting a supervisor and its worker interpreters can take a while on a busy machine."""
LOCAL_STOP_S = 60.0
"""A warm stop gives running jobs 20 s; the panel sends SIGTERM after 35 s and SIGKILL after 40 s."""
LOCAL_JOB_WAIT_S = 15.0
"""When jobs are waiting, how long the ``local`` view waits for a local worker to finish one (for its log)."""
JOB_DONE_MARK = "Job OK"
"""What RQ's worker logs when a job succeeded."""
LOCAL_DOCK_SHARE = 0.46
"""Part of the window's height the Local workers dock gets in the ``local`` view (room for the log)."""


class ScreenshotError(Exception):
    """The chosen view could not be shown as asked (the message says why)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesis-console screenshot", description="Render the console window offscreen and save it as a PNG."
    )
    parser.add_argument("--out", required=True, help="the PNG file to write")
    parser.add_argument("--view", choices=VIEWS, default="overview", help="which view to show (default: overview)")
    parser.add_argument("--url", default=None, help="Redis URL (env REDIS_URL; default: the embedded local Redis)")
    parser.add_argument("--profile", default=None, help="saved connection profile to use")
    parser.add_argument("--queue", default=None, help="queue to show (default: THESIS_QUEUE or 'thesis')")
    parser.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", help="window size WxH (default 1280x800)")
    parser.add_argument("--state", default=None, help="Jobs views: the state's tab to show (waiting, failed, …)")
    parser.add_argument("--position", type=int, default=None, help="Jobs views: the row to show at the top, from 1")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for data (default 20)")
    return parser


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x", 1))
    except ValueError:
        raise SystemExit(f"thesis-console screenshot: --size must look like 1280x800, got {text!r}") from None
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


def parse_state(text: str | None) -> Any:
    """``--state`` as a JobState, or an exit naming the states there are."""
    from thesis_console.core.types import JobState

    if text is None:
        return None
    try:
        return JobState(text.lower())
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise SystemExit(f"thesis-console screenshot: --state must be one of {names}, got {text!r}") from None


async def prepare_view(
    window: Any,
    view: str,
    timeout: float,
    queue_given: bool = False,
    state: Any = None,
    position: int | None = None,
) -> None:
    """Show ``view`` and wait until its data arrived (best effort within ``timeout``); for the Jobs
    views, ``state`` picks the tab and ``position`` (from 1) the row shown at the top and selected."""
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
    if view == "local":
        await prepare_local_workers(window, timeout)
    elif view == "overview":
        window.views.setCurrentIndex(VIEW_OVERVIEW)
        # Live charts need a few snapshots; stored metrics are read when the view is shown.
        await asyncio.sleep(3.0)
    elif view == "workers":
        window.views.setCurrentIndex(VIEW_WORKERS)
        await asyncio.sleep(0.3)
    else:
        window.views.setCurrentIndex(VIEW_JOBS)
        if state is not None:
            pass
        elif view == "failed":
            state = JobState.FAILED
        else:
            counts = snapshot.queue(window.controller.current_queue) if snapshot else None
            state = JobState.ACTIVE if counts is not None and counts.active else JobState.WAITING
            if counts is not None and not counts.active and not counts.waiting and counts.completed:
                state = JobState.COMPLETED
        jobs.select_state(state)
        model = jobs.models[state]
        await _until(lambda: model.row_at(0) is not None or (not model.busy and model.total == 0), timeout)
        if position is not None:
            if not 1 <= position <= model.total:
                raise ScreenshotError(f"--position {position} is outside the {model.total:,} {state.value} jobs")
            jobs.go_to_position(position, state)
            await _until(lambda: model.row_at(position - 1) is not None, timeout)
        first = model.row_at(0 if position is None else position - 1)
        if first is not None:
            jobs.select_job(first.id)
            await _until(lambda: window.detail.detail is not None, min(timeout, 5.0))
            if view == "failed":
                window.detail.tabs.setCurrentIndex(window.detail.tabs.indexOf(window.detail.sections["traceback"]))

            def detail_matches() -> bool:
                # The panel must show the row the table has selected, fully read.
                row, detail = jobs.current_row(), window.detail.detail
                return row is not None and detail is not None and detail.row.id == row.id

            await _until(detail_matches, min(timeout, 5.0))
    await asyncio.sleep(0.2)


def _has_local_panel(window: Any) -> bool:
    return callable(getattr(window.local_workers, "is_running", None))


async def prepare_local_workers(window: Any, timeout: float) -> None:
    """Show the Local workers dock and start a supervisor through it as a person would (slider at
    3, click Start); return once its workers are live, the Workers tab lists it and the log view
    shows a worker's output.

    Raises:
        ScreenshotError: the panel is unavailable, Start is disabled, or the workers did not come up.
    """
    from PySide6.QtCore import Qt

    from thesis_console.ui.main_window import VIEW_WORKERS

    if not _has_local_panel(window):
        raise ScreenshotError("the local workers panel is not available in this window")
    panel = window.local_workers
    window.local_dock.show()
    window.local_dock.raise_()
    panel.set_log_shown(True)  # the dock starts compact; the picture shows the log
    # Room for the controls and a readable log under the Workers tab, but never more than the window
    # can give without growing past the requested size (the Overview's charts need their height).
    height = window.height()
    dock_min = window.local_dock.minimumSizeHint().height()
    others_min = window.minimumSizeHint().height() - dock_min
    dock_height = max(dock_min, min(int(height * LOCAL_DOCK_SHARE), height - others_min))
    window.resizeDocks([window.local_dock], [dock_height], Qt.Orientation.Vertical)
    window.views.setCurrentIndex(VIEW_WORKERS)
    panel.slider.setValue(LOCAL_WORKERS)
    if not panel.start_button.isEnabled():
        raise ScreenshotError(f"cannot start local workers: {panel.state_label.text()}")
    panel.start_button.click()
    wait_s = max(timeout, LOCAL_START_S)
    if not await _until(lambda: panel.is_running() and panel.status.get("live") == LOCAL_WORKERS, wait_s, 0.1):
        raise ScreenshotError(
            f"the local workers were not live within {wait_s:g} s: {panel.state_label.text() or 'no status'}"
        )
    pid = panel.process.pid

    def own_record() -> Any:
        snapshot = window.controller.snapshot
        records = snapshot.supervisors if snapshot is not None else ()
        return next((r for r in records if r.pid == pid and r.live == LOCAL_WORKERS), None)

    if await _until(lambda: own_record() is not None, wait_s, 0.1):
        window.workers_view.select_supervisor(own_record().id)

    def worker_logs() -> dict[str, str]:
        texts: dict[str, str] = {}
        for label, path in panel.log_view.sources().items():
            if label.startswith("worker "):
                try:
                    texts[label] = path.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
        return {label: text for label, text in texts.items() if text.strip()}

    def best_worker_log() -> str | None:
        # A log that shows a finished job beats one with only the start-up lines; then the longest.
        logs = worker_logs()
        return max(logs, key=lambda label: (JOB_DONE_MARK in logs[label], len(logs[label])), default=None)

    if not await _until(lambda: best_worker_log() is not None, wait_s, 0.1):
        raise ScreenshotError(f"the local workers wrote no log output within {wait_s:g} s")
    counts = window.controller.snapshot.queue(window.controller.current_queue) if window.controller.snapshot else None
    if counts is not None and (counts.waiting or counts.active):
        # There is work: give a local worker the time to finish a job, so the log shows one (best effort).
        await _until(lambda: any(JOB_DONE_MARK in text for text in worker_logs().values()), LOCAL_JOB_WAIT_S, 0.2)
    panel.log_view.select_source(best_worker_log())
    await _until(lambda: panel.log_view.text.toPlainText().strip() != "", 5.0)


async def stop_local_workers(window: Any, timeout: float) -> bool:
    """Stop the panel's supervisor warmly (``stop`` on its stdin) and wait until it is gone.

    The panel escalates by itself (SIGTERM, then SIGKILL of the process group) when the supervisor
    hangs; if even that is not seen in time, the process group is killed here. Returns True when
    the supervisor ended as asked (warm stop).
    """
    if not _has_local_panel(window) or not window.local_workers.is_running():
        return True
    panel = window.local_workers
    panel.stop()
    if await _until(lambda: not panel.is_running(), timeout, 0.1):
        outcome = panel.last_outcome
        return outcome is not None and outcome.clean
    if panel.process is not None:
        panel.process.shutdown()
    return False


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
    try:
        await prepare_view(
            window, args.view, args.timeout, queue_given=bool(args.queue), state=parse_state(args.state), position=args.position
        )
    except ScreenshotError as exc:
        print(f"thesis-console screenshot: {exc}", file=sys.stderr)
        return 3
    wanted = parse_size(args.size)
    if (window.width(), window.height()) != wanted:
        # The window cannot be smaller than its minimum (the Overview's charts, the dock's controls).
        print(f"thesis-console screenshot: note: the window needs {window.width()}x{window.height()} "
              f"for this view; the picture has that size instead of {args.size}", file=sys.stderr)  # fmt: skip
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


async def _end_pending_tasks(timeout: float = 5.0) -> None:
    """Cancel what the views still run (page, detail and metric reads) and let it end in the running loop.

    Left pending, qasync would run their last steps after the loop stopped, outside any running loop
    (redis-py then fails with "no running event loop" and prints a traceback).
    """
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def run_screenshot(argv: list[str]) -> int:
    """Entry of ``thesis-console screenshot`` (argv after the subcommand)."""
    args = build_parser().parse_args(argv)
    size = parse_size(args.size)
    parse_state(args.state)
    if args.position is not None and args.position < 1:
        raise SystemExit(f"thesis-console screenshot: --position counts from 1, got {args.position}")
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
    if args.view != "local":
        window.local_dock.hide()
    window.resize(*size)
    window.show()

    async def capture_then_close() -> int:
        # One run of the loop: stopping it while replies are in flight would strand them.
        try:
            return await capture(window, args)
        finally:
            # Local workers started for the picture end with it: warm stop, then wait until gone.
            if not await stop_local_workers(window, LOCAL_STOP_S):
                print("thesis-console screenshot: the local supervisor did not stop as asked", file=sys.stderr)
            await window.shutdown()
            await _end_pending_tasks()

    with loop:
        code = loop.run_until_complete(capture_then_close())
        window.close()
    return code
