"""GUI benchmark: the real window on a Redis holding a million RQ jobs.

Starts its own ``redis-server`` (the embedded launcher, persistence off), writes a million jobs the way
RQ 3 stores them (pipelined job hashes plus queue list and registry entries: 400,000 waiting, 300,000
failed, 300,000 completed in the queue ``thesis``), then measures, offscreen:

* launch to first painted counts: a fresh ``python`` process (imports included) that opens the
  window on that Redis, until the queue list has been painted with the first snapshot's counts
  (goal: under 2 s);
* the event loop's largest stall, with a 5 ms QTimer heartbeat (goal: under 50 ms), while the
  window shows the million jobs and refreshes every 0.5 s; while the mouse sweeps over the Overview's
  charts (each move redraws the hover read-out; 6 h of stored metrics behind them); while the user scrolls the Waiting table
  through 10,000 rows (lazy pages of 200); while a search walks the completed jobs; while
  "Retry all failed" requeues 300,000 jobs with its progress dialog; while the server does not
  answer (frozen with SIGSTOP until the window shows "reconnecting", and a few seconds more) and
  until the window has fresh counts after it answers again; and while the server is gone (killed:
  every reconnection attempt is refused);
* the process's resident memory after each phase (goal: under 300 MB).

Run: ``.venv/bin/python -m benchmarks.gui_bench [--jobs 1000000] [--rows 10000] [--no-retry] [--trace]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STALL_GOAL_MS = 50.0
RSS_GOAL_MB = 300.0
LAUNCH_GOAL_S = 2.0
HEARTBEAT_MS = 5
HOVER_S = 6.0
HOVER_MOVE_MS = 16
"""The chart phase moves the mouse this often (pyqtgraph handles at most one move per 10 ms)."""
UNREACHABLE_EXTRA_S = 4.0
"""How long the server stays frozen (or gone) after the window says it is reconnecting."""


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    gaps_ms: list[float] = field(default_factory=list)
    gap_at: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    """GUI-thread CPU time spent in each gap: the part of a stall that is the loop's own work (on a
    shared machine the rest of a gap can be time the process was not scheduled at all)."""
    gc_ms: list[tuple[float, int, float]] = field(default_factory=list)  # (at, generation, ms)
    rss_mb: float = 0.0
    note: str = ""

    def worst(self, n: int = 3) -> list[tuple[float, float]]:
        """The ``n`` largest gaps as (seconds into the phase, stall ms)."""
        pairs = sorted(zip(self.gap_at, self.gaps_ms, strict=True), key=lambda p: -p[1])[:n]
        return [(at, gap - HEARTBEAT_MS) for at, gap in pairs]

    @property
    def stall_ms(self) -> float:
        return max((g - HEARTBEAT_MS for g in self.gaps_ms), default=0.0)

    @property
    def busy_ms(self) -> float:
        return max(self.cpu_ms, default=0.0)

    @property
    def p99_ms(self) -> float:
        if len(self.gaps_ms) < 2:
            return 0.0
        return statistics.quantiles(self.gaps_ms, n=100)[98] - HEARTBEAT_MS


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------- the launch child
def launch_child(url: str, spawned_at: float) -> None:
    """Open the window on ``url`` and print the seconds from ``spawned_at`` to the first painted counts."""
    from PySide6.QtCore import QEvent, QObject, QSettings

    from thesis_console.ui.app import build_window, create_application
    from thesis_console.ui.event_loop import ConsoleEventLoop
    from thesis_console.ui.settings import ConsoleSettings

    app = create_application()
    settings = ConsoleSettings(QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat))
    loop = ConsoleEventLoop(app)
    asyncio.set_event_loop(loop)
    window = build_window(app, settings)
    window.resize(1440, 900)
    window.show()
    result: dict[str, float] = {}

    class PaintWatch(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
            painted_counts = window.controller.snapshot is not None and window.queue_model.rowCount()
            if event.type() == QEvent.Type.Paint and painted_counts and "painted" not in result:
                result["painted"] = time.time() - spawned_at
            return False

    watch = PaintWatch()
    window.queue_list.viewport().installEventFilter(watch)

    async def run() -> None:
        result["window_shown"] = time.time() - spawned_at
        await window.connect_initial(url)
        deadline = time.monotonic() + 30
        while "painted" not in result and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await window.shutdown()

    with loop:
        loop.run_until_complete(run())
    print(json.dumps(result), flush=True)


def measure_launch(url: str) -> dict[str, float]:
    spawned_at = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.gui_bench", "--launch-child", url, "--spawned-at", repr(spawned_at)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"launch child failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- in-process phases
async def measure_window(
    url: str, rows: int, retry: bool, trace: bool = False, server_pid: int | None = None
) -> list[Phase]:
    """The in-process phases; with ``server_pid``, the server is frozen, then killed, at the end."""
    from PySide6.QtCore import QSettings, QTimer

    from thesis_console.core.profiles import ad_hoc_profile
    from thesis_console.core.types import ConnectionPhase, JobState
    from thesis_console.ui.app import build_window, create_application
    from thesis_console.ui.main_window import VIEW_JOBS, VIEW_OVERVIEW
    from thesis_console.ui.settings import ConsoleSettings

    app = create_application()
    settings = ConsoleSettings(QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat))
    settings.refresh_interval_s = 0.5
    window = build_window(app, settings)
    window.resize(1440, 900)
    window.show()
    phases: list[Phase] = []
    current: list[Phase] = []
    last = [time.perf_counter()]

    phase_started = [time.perf_counter()]

    last_cpu = [time.thread_time()]

    def beat() -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if current:
            current[0].gaps_ms.append((now - last[0]) * 1000)
            current[0].gap_at.append(now - phase_started[0])
            current[0].cpu_ms.append((cpu - last_cpu[0]) * 1000)
        last[0], last_cpu[0] = now, cpu

    gc_started = [0.0]

    def on_gc(stage: str, info: dict) -> None:
        if stage == "start":
            gc_started[0] = time.perf_counter()
        elif current:
            now = time.perf_counter()
            current[0].gc_ms.append((now - phase_started[0], info["generation"], (now - gc_started[0]) * 1000))

    import gc

    gc.callbacks.append(on_gc)

    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    heartbeat.start()

    async def phase(name: str, body) -> Phase:
        p = Phase(name)
        last[0] = phase_started[0] = time.perf_counter()
        last_cpu[0] = time.thread_time()
        current[:] = [p]
        started = time.perf_counter()
        p.note = await body() or ""
        p.seconds = time.perf_counter() - started
        current.clear()
        p.rss_mb = rss_mb()
        phases.append(p)
        print(f"  {name}: {p.seconds:.1f} s, largest stall {p.stall_ms:.1f} ms (busy {p.busy_ms:.1f} ms), "
              f"RSS {p.rss_mb:.0f} MB {p.note}", flush=True)  # fmt: skip
        if trace:
            worst = ", ".join(f"{ms:.0f} ms at {at:.2f} s" for at, ms in p.worst())
            slow_gc = ", ".join(f"gen{g} {ms:.0f} ms at {at:.2f} s" for at, g, ms in p.gc_ms if ms > 10)
            print(f"    worst gaps: {worst}; collector pauses over 10 ms: {slow_gc or 'none'}", flush=True)
        return p

    async def connect() -> str:
        ok = await window.connect_profile(ad_hoc_profile(url))
        if not ok:
            raise RuntimeError(window.status_area.text())
        while window.controller.snapshot is None:
            await asyncio.sleep(0.01)
        return ""

    async def idle() -> str:
        window.views.setCurrentIndex(VIEW_OVERVIEW)
        await asyncio.sleep(6.0)
        counts = window.controller.snapshot.queue("thesis")
        return f"({counts.total:,} jobs shown)"

    async def hover_charts() -> str:
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        window.views.setCurrentIndex(VIEW_OVERVIEW)
        overview = window.overview
        readings = 0
        started = time.perf_counter()
        for i in range(int(HOVER_S * 1000 / HOVER_MOVE_MS)):  # a sweep across each chart in turn
            chart = overview.charts()[int((time.perf_counter() - started) / HOVER_S * 4) % 4]
            view = chart.getPlotItem().getViewBox()
            rect = view.sceneBoundingRect()
            frac = (i % 60) / 60
            scene = QPointF(rect.left() + 2 + frac * (rect.width() - 4), rect.center().y())
            at = QPointF(chart.mapFromScene(scene))
            viewport = chart.viewport()
            move = QMouseEvent(QEvent.Type.MouseMove, at, QPointF(viewport.mapToGlobal(at)),
                               Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
            QApplication.sendEvent(viewport, move)
            readings += bool(chart.hover_text())
            await asyncio.sleep(HOVER_MOVE_MS / 1000)
        return f"({readings} of {i + 1} moves showed a read-out)"

    async def scroll() -> str:
        window.views.setCurrentIndex(VIEW_JOBS)
        window.jobs_view.select_state(JobState.WAITING)
        table = window.jobs_view.tables[JobState.WAITING]
        model = window.jobs_view.models[JobState.WAITING]
        bar = table.verticalScrollBar()
        while model.row_at(0) is None:
            await asyncio.sleep(0.01)
        row_height = table.verticalHeader().defaultSectionSize()
        while True:
            top = table.rowAt(0)
            if top >= rows:
                break
            bar.setValue(bar.value() + row_height * 25)  # about a wheel flick every 20 ms
            await asyncio.sleep(0.02)
        return f"({len(model.rows):,} rows held, top row {table.rowAt(0):,})"

    def waiting_table() -> tuple[Any, Any]:
        window.views.setCurrentIndex(VIEW_JOBS)
        window.jobs_view.select_state(JobState.WAITING)
        return window.jobs_view.tables[JobState.WAITING], window.jobs_view.models[JobState.WAITING]

    async def rows_shown(table: Any, model: Any) -> float:
        """Seconds until the rows in view are real rows (no placeholder left)."""
        started = time.perf_counter()
        while True:
            top, bottom = table.rowAt(0), table.rowAt(table.viewport().height() - 1)
            bottom = model.rowCount() - 1 if bottom < 0 else bottom
            if top >= 0 and model.row_at(top) is not None and model.row_at(bottom) is not None:
                return time.perf_counter() - started
            await asyncio.sleep(0.002)

    async def thumb() -> str:
        table, model = waiting_table()
        bar = table.verticalScrollBar()
        shown = []
        for target in (bar.maximum() // 2, bar.maximum()):
            for step in range(1, 11):  # the drag: ten moves on the way, then the release
                bar.setValue(bar.value() + (target - bar.value()) * step // 10)
                await asyncio.sleep(0.016)
            shown.append(await rows_shown(table, model))
        return f"(real rows {shown[0] * 1000:.0f} ms after reaching the middle, {shown[1] * 1000:.0f} ms at the end)"

    async def go_to() -> str:
        table, model = waiting_table()
        shown = []
        for position in (1, model.rowCount() // 3, model.rowCount()):
            window.jobs_view.go_to_position(max(1, position))
            shown.append(await rows_shown(table, model))
        return f"(rows shown within {max(shown) * 1000:.0f} ms of each Ctrl+G)"

    async def random_positions() -> str:
        import random

        table, model = waiting_table()
        picker = random.Random(11)
        for _ in range(20):
            window.jobs_view.go_to_position(picker.randint(1, model.rowCount()))
            await rows_shown(table, model)
        return f"({len(model.loaded_pages)} pages held after 20 positions)"

    async def search() -> str:
        jobs = window.jobs_view
        jobs.select_state(JobState.COMPLETED)
        total = window.controller.snapshot.queue("thesis").completed
        jobs.filter_edit.setText("no such text anywhere")
        started = time.perf_counter()
        jobs._start_search_now()
        await asyncio.sleep(0.1)
        deadline = time.monotonic() + 120
        while jobs.search_model.searching and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        took = time.perf_counter() - started
        finished = not jobs.search_model.searching
        jobs.clear_search()
        if not finished:
            return f"(stopped after {took:.0f} s, unfinished)"
        return f"(walked all {total:,} completed jobs in {took:.1f} s, {total / took:,.0f} jobs/s)"

    async def retry_all() -> str:
        window.jobs_view.select_state(JobState.FAILED)
        window.update_actions()
        from PySide6.QtWidgets import QMessageBox

        from thesis_console.ui.widgets.dialogs.retry_all import RetryAllDialog

        failed_before = window.controller.snapshot.queue("thesis").failed
        window.job_actions.retry_all_failed()
        while not isinstance(window.active_dialog, QMessageBox):  # the question first
            await asyncio.sleep(0.02)
        question = window.active_dialog
        next(b for b in question.buttons() if b.text().startswith("Retry ")).click()
        while not isinstance(window.active_dialog, RetryAllDialog):
            await asyncio.sleep(0.02)
        dialog = window.active_dialog
        while dialog.running:
            await asyncio.sleep(0.05)
        dialog.accept()
        await window.controller.refresh_now()  # a refresh already running may have started before the retry
        snapshot = await window.controller.refresh_now()
        done = failed_before - (snapshot.queue("thesis").failed if snapshot else 0)
        return f"({done:,} jobs retried)"

    async def wait_for(predicate, timeout_s: float, what: str) -> float:
        started = time.perf_counter()
        while not predicate():
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"gave up after {timeout_s:.0f} s waiting for {what}")
            await asyncio.sleep(0.02)
        return time.perf_counter() - started

    def reconnecting() -> bool:
        state = window.controller.connection_state
        return state is not None and state.phase == ConnectionPhase.RECONNECTING

    async def unreachable() -> str:
        assert server_pid is not None
        window.views.setCurrentIndex(VIEW_JOBS)
        window.jobs_view.select_state(JobState.WAITING)
        os.kill(server_pid, signal.SIGSTOP)  # connections stay open; nothing answers
        try:
            noticed = await wait_for(reconnecting, 60, "the reconnecting state")
            await asyncio.sleep(UNREACHABLE_EXTRA_S)  # reconnection attempts time out meanwhile
        finally:
            os.kill(server_pid, signal.SIGCONT)
        before = window.controller.snapshot
        back = await wait_for(
            lambda: window.controller.is_connected() and window.controller.snapshot is not before, 60, "fresh counts"
        )
        return f"(reconnecting shown after {noticed:.1f} s; fresh counts {back:.2f} s after the server answered again)"

    async def gone() -> str:
        assert server_pid is not None
        window.views.setCurrentIndex(VIEW_OVERVIEW)
        os.kill(server_pid, signal.SIGKILL)
        noticed = await wait_for(reconnecting, 60, "the reconnecting state")
        await asyncio.sleep(UNREACHABLE_EXTRA_S)  # reconnection attempts are refused meanwhile
        return f"(reconnecting shown after {noticed:.1f} s)"

    await phase("connect and first snapshot", connect)
    await phase("showing a million jobs (overview, 0.5 s refresh)", idle)
    await phase("hovering the Overview's charts (a move every 16 ms)", hover_charts)
    await phase(f"scrolling the Waiting table through {rows:,} rows", scroll)
    await phase("dragging the Waiting thumb to the middle, then the end", thumb)
    await phase("Ctrl+G to the first, a third and the last position", go_to)
    await phase("visiting 20 random positions of the Waiting table", random_positions)
    await phase("search walking every completed job (no match)", search)
    if retry:
        await phase("Retry all failed (300,000 jobs) with progress", retry_all)
    if server_pid is not None:
        await phase("Redis not answering (frozen), then back", unreachable)
        await phase("Redis gone (killed; reconnection refused)", gone)
    heartbeat.stop()
    await window.shutdown()
    window.close()
    return phases


def write_metrics(conn: Any, queue: str, hours: int = 6) -> None:
    """Stored metrics for the last ``hours``, as workers record them: 5-15 ended jobs and a depth sample
    per minute, so the Overview's charts have points to hover."""
    import random

    from thesis_console.core import metrics_store

    picker = random.Random(7)
    now = time.time()
    pipe = conn.pipeline(transaction=False)
    for minute in range(hours * 60, 0, -1):
        at = now - minute * 60
        for _ in range(picker.randint(5, 15)):
            metrics_store.record_job(pipe, queue, ok=picker.random() > 0.1, duration_s=picker.uniform(0.2, 5.0), now=at)
        metrics_store.record_depth(pipe, queue, picker.randint(0, 400_000), now=at)
    pipe.execute()


def print_table(launch: dict[str, float], phases: list[Phase]) -> None:
    head = f"{'what':<52} {'time s':>7} {'stall ms':>9} {'busy ms':>8} {'p99 ms':>7} {'RSS MB':>7}"
    print("\n" + head)
    print("-" * len(head))
    painted = launch.get("painted", float("nan"))
    print(f"{'launch to first painted counts (fresh process)':<52} {painted:>7.2f}")
    for p in phases:
        print(f"{p.name:<52} {p.seconds:>7.1f} {p.stall_ms:>9.1f} {p.busy_ms:>8.1f} {p.p99_ms:>7.1f} {p.rss_mb:>7.0f}")
    print("stall: largest gap of a 5 ms heartbeat timer, wall clock; busy: GUI-thread CPU time within a gap")
    worst = max((p.stall_ms for p in phases), default=0.0)  # every phase, the first paint included
    busiest = max((p.busy_ms for p in phases), default=0.0)
    peak = max((p.rss_mb for p in phases), default=0.0)
    print("\n" + f"{'goal':<20} {'measured':>10} {'goal':>10} {'ratio':>8}")
    for name, value, goal in (
        ("largest stall ms", worst, STALL_GOAL_MS),
        ("largest busy ms", busiest, STALL_GOAL_MS),
        ("peak RSS MB", peak, RSS_GOAL_MB),
        ("first counts s", painted, LAUNCH_GOAL_S),
    ):
        print(f"{name:<20} {value:>10.2f} {goal:>10.2f} {goal / value if value else float('inf'):>7.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs to write (default 1,000,000)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows to scroll through (default 10,000)")
    parser.add_argument("--no-retry", action="store_true", help="skip the bulk retry phase")
    parser.add_argument("--trace", action="store_true", help="print each phase's worst gaps and collector pauses")
    parser.add_argument("--launch-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--spawned-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.launch_child:
        launch_child(args.launch_child, args.spawned_at)
        return 0

    import redis

    from tests.core.bulk_jobs import write_jobs
    from thesis_console.core.embedded_redis import free_port, start_server
    from thesis_console.core.types import JobState
    from thesis_console.ui.app import create_application
    from thesis_console.ui.event_loop import ConsoleEventLoop

    server = start_server(Path(tempfile.mkdtemp(prefix="gui-bench-")), free_port())
    try:
        conn = redis.Redis.from_url(server.url)
        conn.config_set("appendonly", "no")
        print(f"redis-server {conn.info('server')['redis_version']} on {server.url}; writing {args.jobs:,} jobs", flush=True)
        started = time.perf_counter()
        shares = {JobState.WAITING: 0.4, JobState.FAILED: 0.3, JobState.COMPLETED: 0.3}
        for state, share in shares.items():
            write_jobs(conn, "thesis", state, int(args.jobs * share), prefix=state.value[:4], batch=10_000)
        write_metrics(conn, "thesis")
        print(f"  written in {time.perf_counter() - started:.0f} s; Redis uses {conn.info('memory')['used_memory_human']}", flush=True)
        launch = measure_launch(server.url)
        print(f"  launch to first painted counts: {launch.get('painted', float('nan')):.2f} s "
              f"(window shown after {launch.get('window_shown', float('nan')):.2f} s)", flush=True)  # fmt: skip
        app = create_application()
        loop = ConsoleEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            phases = loop.run_until_complete(
                measure_window(server.url, args.rows, not args.no_retry, args.trace, server_pid=server.pid)
            )
        print_table(launch, phases)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
