"""The local workers panel: start, scale, watch and stop a ``thesis-worker`` supervisor on this machine.

The supervisor is a child process (:class:`~thesis_console.ui.process.supervisor_process.SupervisorProcess`)
started as ``python -m worker_runner`` with the interpreter of the console, so it works from a venv
without the ``thesis-worker`` script on ``PATH``. The panel talks to it by line commands on its
stdin (``resize N``, ``autoscale MIN MAX``, ``autoscale off``, ``stop``: no signals, no restart) and
follows the JSON status lines it writes on stdout. The log view tails the supervisor's own log and
each worker's rotating log file in the folder the supervisor announces.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import platformdirs
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core import contract
from thesis_console.core.queue_names import queue_name_problem
from thesis_console.core.redis_url import redact
from thesis_console.core.supervisor_control import LocalSupervisor, local_supervisors
from thesis_console.core.types import Backend
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.process.supervisor_process import ProcessOutcome, RunEnd, SupervisorProcess
from thesis_console.ui.tasks import spawn
from thesis_console.ui.widgets.log_tail import FileTail, LogTailView
from thesis_console.ui.widgets.workers_view import keep_min_at_most_max

log = logging.getLogger("thesis_console.ui.local_workers")

MIN_WORKERS, MAX_WORKERS = 1, 16
DEFAULT_WORKERS = 3
STOP_GRACE_S = 20.0
"""Running jobs get this long to finish on Stop; then they go back to the front of their queue."""
SEND_DELAY_MS = 300
"""A slider drag or spin-box edit is sent once it rests this long (one command, not one per step)."""
KEEP_RUNS = 10
"""Output files of this many past supervisor runs are kept."""
OFFLINE_TEXT = (
    "Not connected to Redis: the status above is from before the connection dropped, and the workers "
    "cannot be started or scaled from here until it is back (Stop still works)."
)
READ_ONLY_TEXT = (
    "Local workers are off for this connection: its profile is read-only, and workers would take and "
    "change jobs in this Redis."
)
START_TIP = "Start a thesis-worker supervisor on this machine"
SUPERVISOR_LOG = "supervisor"
STATUS_LOG = "status lines"


def output_dir() -> Path:
    """Where the console keeps its supervisors' stdout and stderr: beside the workers' log folder."""
    override = os.environ.get("THESIS_DATA_DIR")
    base = Path(override) if override else Path(platformdirs.user_data_dir("thesis-console", appauthor=False))
    return base / "console-supervisors"


def supervisor_command(
    queues: list[str],
    concurrency: int,
    autoscale: tuple[int, int] | None,
    grace_s: float = STOP_GRACE_S,
    python: str = sys.executable,
    backend: Backend = Backend.RQ,
    bullmq_prefix: str = "bull",
) -> list[str]:
    """The ``thesis-worker`` command line (as ``python -m worker_runner``) for a local supervisor.

    On a BullMQ queue it supervises Python BullMQ workers (``--backend bullmq``) under the prefix.

    It names no Redis: the URL, which may hold a password, travels in the child's environment
    (``REDIS_URL``, see :func:`supervisor_environment`), never on a command line that ``ps`` shows.
    """
    command = [python, "-m", "worker_runner", "--concurrency", str(concurrency), "--grace", f"{grace_s:g}"]
    if backend is Backend.BULLMQ:
        command += ["--backend", "bullmq", "--bullmq-prefix", bullmq_prefix]
    for queue in queues:
        command += ["--queue", queue]
    if autoscale is not None:
        command += ["--autoscale", f"{autoscale[0]}:{autoscale[1]}"]
    return command


def supervisor_environment(url: str) -> dict[str, str]:
    """The variables a local supervisor gets on top of the console's: its Redis URL."""
    return {"REDIS_URL": url}


def _prune_old_runs(folder: Path, keep: int = KEEP_RUNS) -> None:
    try:
        runs = sorted({p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.suffix in (".out", ".err")})
    except OSError:
        return
    for stem in runs[:-keep] if keep else runs:
        for suffix in (".out", ".err"):
            try:
                (folder / f"{stem}{suffix}").unlink()
            except OSError:
                pass


class LocalWorkersPanel(QWidget):
    """Start/Stop, concurrency slider, autoscale switch and a log tail for one local supervisor.

    Signals:
        statusChanged(dict): the supervisor's last JSON status line (``desired``, ``live``, ``workers``...).
        runningChanged(bool): the supervisor started or ended (or was detached).

    Args:
        controller: the console controller (the Redis URL for workers, messages for the status area).
        stop_grace_s: seconds running jobs get on Stop before they are stopped and put back.
    """

    statusChanged = Signal(dict)
    runningChanged = Signal(bool)
    logShownChanged = Signal(bool)
    """The log view was shown or hidden (the window gives the dock room for it, or takes it back)."""

    def __init__(
        self, controller: ConsoleController, parent: QWidget | None = None, stop_grace_s: float = STOP_GRACE_S
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.process: SupervisorProcess | None = None
        self.status: dict[str, Any] = {}
        self.last_outcome: ProcessOutcome | None = None
        self._stop_grace_s = stop_grace_s
        self._status_tail: FileTail | None = None
        self._worker_logs: dict[str, Path] = {}
        self._server = ""
        self.adopted: LocalSupervisor | None = None
        """A supervisor on this host that an earlier console left running, attached to at start:
        it is read from its record in Redis and its files, and driven by control messages."""
        self._adopted_stopping = False
        self._left_running: int | None = None
        """The pid of the supervisor this panel left running (never adopted back by this panel)."""
        self._record_busy: int | None = None
        """Busy workers from the supervisor's record in Redis: its status lines are only written when
        the worker count or state changes, so their ``busy`` goes stale as jobs start and end."""

        self.start_button = QPushButton("Start", self)
        self.start_button.setToolTip(START_TIP)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip(
            f"Warm stop: running jobs get {stop_grace_s:g} s to finish, then go back to the front of their queue"
        )
        self.state_label = QLabel(self)
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.queues_edit = QLineEdit(self)
        self.queues_edit.setPlaceholderText(contract.DEFAULT_QUEUE_NAME)
        self.queues_edit.setToolTip("Queues the workers take jobs from, comma-separated (used at start)")
        self.queues_edit.setText(controller.current_queue)

        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(MIN_WORKERS, MAX_WORKERS)
        self.slider.setValue(DEFAULT_WORKERS)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setPageStep(1)
        self.slider.setAccessibleName("Concurrency")
        self.slider.setToolTip("Number of worker processes; applied live while the supervisor runs")
        self.slider_value = QLabel(str(DEFAULT_WORKERS), self)
        self.slider_value.setMinimumWidth(self.slider_value.fontMetrics().horizontalAdvance("16 / 16 live"))

        self.autoscale = QCheckBox("Autoscale", self)
        self.autoscale.setToolTip("Grow and shrink between MIN and MAX workers with the queue's load")
        self.autoscale_min = QSpinBox(self)
        self.autoscale_max = QSpinBox(self)
        for box, value, name in ((self.autoscale_min, 1, "Autoscale minimum"), (self.autoscale_max, 8, "Autoscale maximum")):
            box.setRange(MIN_WORKERS, MAX_WORKERS)
            box.setValue(value)
            box.setAccessibleName(name)

        self.log_view = LogTailView(self)
        self.log_view.hide()  # compact until asked for: the status line and the controls
        # It takes the dock's height, whatever it is: its own preferred height would make the dock's
        # scroll area scroll (the wrapped status line gives the panel a height-for-width).
        policy = self.log_view.sizePolicy()
        policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
        self.log_view.setSizePolicy(policy)
        self.log_button = QToolButton(self)
        self.log_button.setObjectName("localLogToggle")
        self.log_button.setText("Log")
        self.log_button.setCheckable(True)
        self.log_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.log_button.setArrowType(Qt.ArrowType.RightArrow)
        self.log_button.setToolTip("Show or hide the supervisor's and workers' logs")
        self.log_button.toggled.connect(self.set_log_shown)
        self.offline_label = QLabel(OFFLINE_TEXT, self)
        self.offline_label.setObjectName("localOffline")
        self.offline_label.setWordWrap(True)
        self.offline_label.hide()

        # One line of status, one of controls; the log below on demand.
        status_row = QHBoxLayout()
        status_row.addWidget(self.start_button)
        status_row.addWidget(self.stop_button)
        status_row.addWidget(self.state_label, 1)
        status_row.addWidget(self.log_button)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Workers", self))
        self.slider.setMaximumWidth(360)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.slider_value)
        controls.addSpacing(12)
        controls.addWidget(self.autoscale)
        controls.addWidget(QLabel("MIN", self))
        controls.addWidget(self.autoscale_min)
        controls.addWidget(QLabel("MAX", self))
        controls.addWidget(self.autoscale_max)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Queues", self))
        controls.addWidget(self.queues_edit, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(status_row)
        layout.addWidget(self.offline_label)
        layout.addLayout(controls)
        layout.addWidget(self.log_view, 1)

        self._send_timer = QTimer(self)
        self._send_timer.setSingleShot(True)
        self._send_timer.setInterval(SEND_DELAY_MS)
        self._send_timer.timeout.connect(self._send_scaling)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(250)
        self._status_timer.timeout.connect(self._read_status_lines)

        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.slider.valueChanged.connect(self._on_slider)
        self.autoscale.toggled.connect(self._on_autoscale_changed)
        keep_min_at_most_max(self.autoscale_min, self.autoscale_max)
        self.autoscale_min.valueChanged.connect(self._on_autoscale_bounds)
        self.autoscale_max.valueChanged.connect(self._on_autoscale_bounds)
        controller.connectionChanged.connect(self._on_connection)
        controller.snapshotChanged.connect(self._on_snapshot)
        controller.queueSelected.connect(self._on_queue_selected)
        self._default_queue = controller.current_queue
        self._update_controls()

    # ================================================================= what the window and the demo use
    def is_running(self) -> bool:
        return (self.process is not None and self.process.is_running()) or self.adopted is not None

    def _own_process_running(self) -> bool:
        return self.process is not None and self.process.is_running()

    def start(self) -> None:
        """Start a supervisor with the slider's concurrency (or the autoscale bounds)."""
        if self.is_running():
            return
        if self.controller.read_only:
            self._show_state(READ_ONLY_TEXT, error=True)
            return
        url = self.controller.worker_url()
        if url is None:
            self._show_state(self._why_no_url(), error=True)
            return
        queues = [q.strip() for q in self.queues_edit.text().split(",") if q.strip()] or [contract.DEFAULT_QUEUE_NAME]
        problem = next(filter(None, map(queue_name_problem, queues)), None)
        if problem:
            self._show_state(problem, error=True)
            return
        backend, problem = self._backend_of(queues)
        if problem:
            self._show_state(problem, error=True)
            return
        profile = self.controller.profile
        folder = output_dir()
        stem = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        stdout_path, stderr_path = folder / f"{stem}.out", folder / f"{stem}.err"
        _prune_old_runs(folder, KEEP_RUNS - 1)
        process = SupervisorProcess(
            supervisor_command(
                queues, self.slider.value(), self._autoscale_bounds(), self._stop_grace_s,
                backend=backend, bullmq_prefix=profile.bullmq_prefix if profile is not None else "bull",
            ),  # fmt: skip
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            env=supervisor_environment(url),
            # The supervisor handles the grace itself; SIGTERM and SIGKILL are only for one that hangs.
            stop_grace_s=self._stop_grace_s + 15,
            parent=self,
        )
        if self.process is not None:
            self.process.deleteLater()  # the previous run's (finished) process
        process.started.connect(self._on_started)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self.process = process
        self._server = redact(url)
        self.status = {}
        self._record_busy = None
        self._worker_logs = {}
        self._status_tail = FileTail(stdout_path, tail_bytes=None)
        self.log_view.set_sources({SUPERVISOR_LOG: stderr_path, STATUS_LOG: stdout_path})
        self._show_state("starting…")
        process.start()
        self._update_controls()

    def stop(self) -> None:
        """Warm stop; returns at once (``runningChanged(False)`` tells when it is gone)."""
        if self.adopted is not None:
            self._stop_adopted(self.adopted)
            return
        if self.process is None or not self.process.is_running():
            return
        self.process.stop()
        self._show_state(f"stopping: running jobs get {self._stop_grace_s:g} s to finish…")
        self._update_controls()

    def running_jobs(self) -> int:
        """Jobs the supervisor's workers are running, as last read."""
        if self.adopted is not None:
            return self.adopted.record.busy
        if self._record_busy is not None:
            return self._record_busy
        return int(self.status.get("busy", 0) or 0)

    def stop_now(self) -> None:
        """Hard stop: running jobs are stopped and go back to their queue (through Redis when the
        supervisor is known there, else its process group is killed)."""
        sid = self.adopted.record.id if self.adopted is not None else self.status.get("id")
        if sid and self.controller.is_connected():
            spawn(self.controller.act("stop local workers now", lambda actions: actions.stop_supervisor(str(sid), hard=True),
                                      notice=lambda _r: None), "stop the local supervisor now")  # fmt: skip
        elif self.process is not None:
            self.process.kill()

    def detach(self) -> None:
        """Leave the supervisor running after the console closes (it stays visible in the Workers view)."""
        if self.adopted is not None:
            return  # it was never ours to end: nothing to let go of
        if self.process is None or not self.process.is_running():
            return
        self._left_running = self.process.pid
        self.process.detach()

    def send_command(self, line: str) -> bool:
        """Send one stdin command line to the running supervisor."""
        if self.process is None:
            return False
        ok = self.process.send_line(line)
        log.info("sent %r to the local supervisor: %s", line, "ok" if ok else "not running")
        return ok

    # ================================================================= scaling
    def _backend_of(self, queues: list[str]) -> tuple[Backend, str | None]:
        """The backend of the queues as the last snapshot shows them (RQ for a queue not seen yet), or why not."""
        snapshot = self.controller.snapshot
        backends = {snapshot.queue(q).backend if snapshot is not None else Backend.RQ for q in queues}
        if len(backends) > 1:
            return Backend.RQ, "RQ and BullMQ queues need a supervisor each: name queues of one kind"
        backend = backends.pop()
        if backend is Backend.BULLMQ and len(queues) > 1:
            return backend, "Python BullMQ workers work on one queue: name one"
        return backend, None

    def _autoscale_bounds(self) -> tuple[int, int] | None:
        if not self.autoscale.isChecked():
            return None
        return self.autoscale_min.value(), self.autoscale_max.value()

    def _on_slider(self, value: int) -> None:
        self._update_slider_label()
        if self.is_running() and not self.autoscale.isChecked():
            self._send_timer.start()

    def _on_autoscale_changed(self, _checked: bool) -> None:
        self._update_controls()
        if self.is_running():
            self._send_timer.start()

    def _on_autoscale_bounds(self, _value: int) -> None:
        if self.is_running() and self.autoscale.isChecked():
            self._send_timer.start()

    def _send_scaling(self) -> None:
        """Tell the running supervisor what the controls say now (one command)."""
        adopted = self.adopted
        if adopted is not None and not self._adopted_stopping:
            sid, bounds = adopted.record.id, self._autoscale_bounds()
            if bounds is not None:
                spawn(self.controller.autoscale_supervisor(sid, *bounds), "autoscale the local supervisor")
            else:
                spawn(self.controller.resize_supervisor(sid, self.slider.value()), "resize the local supervisor")
            return
        if not self.is_running() or (self.process is not None and self.process.is_stopping()):
            return
        bounds = self._autoscale_bounds()
        if bounds is not None:
            self.send_command(f"autoscale {bounds[0]} {bounds[1]}")
        else:
            self.send_command(f"resize {self.slider.value()}")  # a resize also turns autoscale off

    # ================================================================= process events
    def _on_started(self) -> None:
        assert self.process is not None
        self._status_timer.start()
        self._show_state(f"running (pid {self.process.pid}), waiting for its first status…")
        self._update_controls()
        self.runningChanged.emit(True)

    def _on_finished(self, outcome: ProcessOutcome) -> None:
        self.last_outcome = outcome
        self._send_timer.stop()
        if outcome.end != RunEnd.DETACHED:
            self._read_status_lines()  # the last lines (the "stopped" event)
        self._status_timer.stop()
        if outcome.end == RunEnd.DETACHED:
            sid = self.status.get("id", f"pid {outcome.pid}")
            self._show_state(
                f"Left running: supervisor {sid} (pid {outcome.pid}) keeps working after the console closes; "
                "scale or stop it from the Workers view."
            )
        elif outcome.clean:
            self._show_state(f"Supervisor {outcome.describe()} at {time.strftime('%H:%M:%S')}.")
        else:
            reason = self._last_stderr_line()
            text = f"Supervisor {outcome.describe()} at {time.strftime('%H:%M:%S')}."
            if reason:
                text += f"\nLast message: {reason}"
            self._show_state(text, error=True)
        self._update_controls()
        self.runningChanged.emit(False)

    def _on_error(self, message: str) -> None:
        self.controller.notify(f"local workers: {message}", "error")

    def _read_status_lines(self) -> None:
        tail = self._status_tail
        if tail is None:
            return
        changed = False
        for line in tail.read():
            try:
                payload = json.loads(line)
            except ValueError:
                continue
            if not isinstance(payload, dict):
                continue
            if payload.get("event") == "reply" and not payload.get("ok", True):
                self.controller.notify(f"local workers: {payload.get('error', 'command refused')}", "error")
            self.status = payload
            changed = True
        if changed:
            self._apply_status()
            self.statusChanged.emit(dict(self.status))

    def _apply_status(self) -> None:
        status = self.status
        autoscale = status.get("autoscale")
        # Follow the supervisor where the user is not editing: autoscale moves the count by itself.
        if autoscale and not self._send_timer.isActive():
            self.slider.blockSignals(True)
            self.slider.setValue(max(MIN_WORKERS, min(MAX_WORKERS, int(status.get("desired", 1)))))
            self.slider.blockSignals(False)
        self._update_slider_label()
        log_dir = status.get("log_dir")
        if log_dir and self.process is not None:
            # Workers that are gone stay listed for this run: their log is where a crash is explained.
            for name in status.get("workers", []):
                self._worker_logs.setdefault(_short_worker_name(name), Path(log_dir) / f"{name}.log")
            sources = {SUPERVISOR_LOG: self.process.stderr_path, **self._worker_logs, STATUS_LOG: self.process.stdout_path}
            self.log_view.set_sources(sources)
        if self.is_running() and not self.process.is_stopping():  # type: ignore[union-attr]
            self._show_state(self._status_text())

    # ================================================================= an earlier console's supervisor
    def _find_left_running(self, snapshot: Any) -> LocalSupervisor | None:
        """A live supervisor on this host whose output goes to the console's folder (an earlier console
        started it and left it running), newest first."""
        folder = output_dir().resolve()
        for found in local_supervisors(getattr(snapshot, "supervisors", ())):
            if found.record.pid != self._left_running and any(path.resolve().parent == folder for path in found.output_files):
                return found
        return None

    def adopt(self, found: LocalSupervisor) -> None:
        """Attach to ``found``: its state, slider and autoscale follow its record; Stop and scaling
        are control messages through Redis; the log tail shows its files."""
        self.adopted = found
        self._adopted_stopping = False
        self.last_outcome = None
        record = found.record
        self.slider.blockSignals(True)
        self.slider.setValue(max(MIN_WORKERS, min(MAX_WORKERS, record.desired)))
        self.slider.blockSignals(False)
        self.autoscale.blockSignals(True)
        self.autoscale.setChecked(record.autoscale_min is not None)
        if record.autoscale_min is not None and record.autoscale_max is not None:
            self.autoscale_max.setValue(record.autoscale_max)
            self.autoscale_min.setValue(record.autoscale_min)
        self.autoscale.blockSignals(False)
        self.queues_edit.setText(", ".join(record.queues))
        sources: dict[str, Path] = {}
        for path in found.output_files:
            sources[SUPERVISOR_LOG if path.suffix == ".err" else STATUS_LOG] = path
        for path in found.worker_logs:
            sources[_short_worker_name(path.stem)] = path
        self.log_view.set_sources(sources)
        self._show_adopted(record)
        self._update_controls()
        self.runningChanged.emit(True)

    def _show_adopted(self, record: Any) -> None:
        if self._adopted_stopping:
            self._show_state(f"stopping supervisor {record.id}: its workers finish their {record.busy} running jobs…")
            return
        scaling = f", autoscale {record.autoscale_min}–{record.autoscale_max}" if record.autoscale_min is not None else ""
        self._show_state(
            f"Running (left running by an earlier console): supervisor {record.id} (pid {record.pid}), "
            f"{record.live} of {record.desired} workers live, {record.busy} busy{scaling} · queues {', '.join(record.queues)}"
        )

    def _stop_adopted(self, found: LocalSupervisor) -> None:
        sid = found.record.id
        self._adopted_stopping = True
        self._show_adopted(found.record)
        self._update_controls()
        spawn(self.controller.act("stop local workers", lambda actions: actions.stop_supervisor(sid), notice=lambda _r: None),
              "stop the local supervisor")  # fmt: skip

    def _follow_adopted(self, snapshot: Any) -> None:
        adopted = self.adopted
        assert adopted is not None
        record = next((r for r in getattr(snapshot, "supervisors", ()) if r.id == adopted.record.id), None)
        if record is not None:
            self.adopted = LocalSupervisor(record, adopted.log_dir, adopted.output_files)
            self._show_adopted(record)
            self._update_slider_label()
            return
        self.adopted = None
        self._adopted_stopping = False
        self._update_controls()
        self._show_state(f"Supervisor {adopted.record.id} stopped at {time.strftime('%H:%M:%S')}.")
        self.runningChanged.emit(False)

    def _on_snapshot(self, snapshot: Any) -> None:
        """Follow an adopted supervisor, or find one to adopt; take the busy count from our
        supervisor's record (the record is refreshed every heartbeat)."""
        if self.adopted is not None:
            self._follow_adopted(snapshot)
            return
        if not self._own_process_running() and not self.controller.read_only:
            found = self._find_left_running(snapshot)
            if found is not None:
                self.adopt(found)
                return
        if not self.is_running() or self.process is None or not self.status:
            return
        pid, host = self.process.pid, socket.gethostname()
        record = next((r for r in getattr(snapshot, "supervisors", ()) if r.pid == pid and r.host == host), None)
        if record is None or record.busy == self._record_busy:
            return
        self._record_busy = record.busy
        if not self.process.is_stopping():
            self._show_state(self._status_text())

    def _status_text(self) -> str:
        s = self.status
        busy = self._record_busy if self._record_busy is not None else s.get("busy", 0)
        auto = s.get("autoscale")
        scaling = f", autoscale {auto[0]}–{auto[1]}" if auto else ""
        redis_state = "" if s.get("redis") in (None, "ok") else f" · Redis {s.get('redis')}"
        return (
            f"Running: supervisor {s.get('id', '?')} (pid {s.get('pid', '?')}), "
            f"{s.get('live', 0)} of {s.get('desired', 0)} workers live, {busy} busy{scaling}"
            f"{redis_state} · queues {', '.join(s.get('queues', []))} on {self._server}"
        )

    # ================================================================= display
    def _update_slider_label(self) -> None:
        live = self.status.get("live") if self._own_process_running() else None
        if self.adopted is not None:
            live = self.adopted.record.live
        self.slider_value.setText(f"{self.slider.value()}" + (f" / {live} live" if live is not None else ""))

    def set_log_shown(self, shown: bool) -> None:
        """Show the log view (the dock grows for it) or hide it (the panel is a status line and the controls)."""
        if self.log_button.isChecked() != shown:
            self.log_button.setChecked(shown)  # comes back here through toggled
            return
        self.log_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if self.log_view.isVisibleTo(self) != shown:
            self.log_view.setVisible(shown)
            self.logShownChanged.emit(shown)

    def log_shown(self) -> bool:
        return self.log_button.isChecked()

    def _update_controls(self) -> None:
        running = self.is_running()
        stopping = self._adopted_stopping if self.adopted is not None else (
            running and self.process is not None and self.process.is_stopping())
        read_only = self.controller.read_only
        # Disconnected, nothing here would reach Redis (and what it shows may be old): the controls
        # are off and say so; Stop stays, as it talks to the local process itself.
        offline = self.controller.attached and not self.controller.is_connected()
        live = self.controller.is_connected()
        can_start = self.controller.worker_url() is not None and not read_only
        self.start_button.setEnabled(not running and can_start and live)
        start_tip = f"{START_TIP} — disabled: this connection profile is read-only" if read_only else START_TIP
        if offline:
            start_tip = f"{START_TIP} — disabled: not connected to Redis"
        if self.start_button.toolTip() != start_tip:
            self.start_button.setToolTip(start_tip)
        self.stop_button.setEnabled(running and not stopping)
        self.queues_edit.setEnabled(not running and not offline)
        auto = self.autoscale.isChecked()
        self.slider.setEnabled(not auto and not stopping and not offline)
        self.autoscale.setEnabled(not stopping and not offline)
        self.autoscale_min.setEnabled(auto and not stopping and not offline)
        self.autoscale_max.setEnabled(auto and not stopping and not offline)
        self.offline_label.setVisible(offline)
        self.state_label.setEnabled(not offline)
        if not running and read_only and self.last_outcome is None:
            self._show_state(READ_ONLY_TEXT)
        elif not running and not can_start and self.last_outcome is None:
            self._show_state(self._why_no_url())
        elif not running and self.last_outcome is None and self.process is None:
            self._show_state(f"Not running. Start runs thesis-worker on {socket.gethostname()} against this connection.")
        self._update_slider_label()

    def _on_connection(self, _state: object) -> None:
        self._update_controls()

    def _on_queue_selected(self, name: str) -> None:
        # Follow the selected queue until the user types queues of their own.
        if not self.is_running() and self.queues_edit.text().strip() in ("", self._default_queue):
            self.queues_edit.setText(name)
        self._default_queue = name

    def _why_no_url(self) -> str:
        if not self.controller.attached:
            return "Not connected: connect to a Redis first, then start local workers for it."
        return (
            "Cannot start local workers for this connection: its profile uses a password or client "
            "certificate, which the console does not pass to a child process. Run thesis-worker in a "
            "terminal with REDIS_URL set instead; it will appear in the Workers view."
        )

    def _show_state(self, text: str, error: bool = False) -> None:
        self.state_label.setText(text)
        self.state_label.setStyleSheet("color: #c62828;" if error else "")

    def _last_stderr_line(self) -> str:
        if self.process is None:
            return ""
        try:
            with open(self.process.stderr_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 4096))
                lines = [line for line in fh.read().decode("utf-8", "replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""


def _short_worker_name(name: str) -> str:
    """``host-123.ab12-3`` shows as ``worker ab12-3``: the supervisor part is the same for all."""
    return "worker " + name.rsplit(".", 1)[-1]
