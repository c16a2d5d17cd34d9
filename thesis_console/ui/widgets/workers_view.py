"""The workers view: every supervisor, every RQ worker and every BullMQ worker on every host, scaling
and stopping them.

Both tables follow the controller's snapshots in place (selection and scroll position survive).
Below the supervisors, a control row acts on the selected supervisor: its concurrency (a spin box
and Apply) and its autoscale bounds. Both go through the controller as control messages in Redis,
so a console on one machine scales a supervisor on any other. Stop (warm, then hard when it takes
longer than :attr:`WorkersView.stop_timeout_s` and the user agrees), Restart, and Stop worker (RQ's
shutdown command) ask first, naming the host and the counts, and go through the controller's act path.
BullMQ workers (Node and Python) are listed from the server's client list; when the server refuses
that list, the table says so instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import shiboken6
from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.supervisor_control import StopOutcome
from thesis_console.core.supervisor_protocol import MAX_CONCURRENCY, SupervisorRecord
from thesis_console.core.types import Snapshot, WorkerInfo
from thesis_console.ui import confirmations
from thesis_console.ui.controller import ConsoleController, Outcome
from thesis_console.ui.modal import ask
from thesis_console.ui.notices import Level, Notice
from thesis_console.ui.tasks import spawn
from thesis_console.ui.widgets.workers_models import (
    BullWorkersTableModel,
    KeyedTableModel,
    Row,
    SupervisorsTableModel,
    WorkersTableModel,
    autoscale_text,
    supervisor_rows,
    worker_rows,
)

log = logging.getLogger("thesis_console.ui.workers")

STOP_TIMEOUT_S = 30.0
"""How long a warm stop may take before the user is asked whether to stop at once."""


def make_table(model: KeyedTableModel, parent: QWidget) -> tuple[QTableView, QSortFilterProxyModel]:
    """A sortable, row-selecting table view over ``model``."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(Qt.ItemDataRole.UserRole)
    view = QTableView(parent)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    # Room for three rows whatever the splitter does (two supervisors showed as one row at 1280x800).
    rows = view.verticalHeader().defaultSectionSize() * MIN_ROWS_SHOWN
    scrollbar = view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
    view.setMinimumHeight(header.sizeHint().height() + rows + scrollbar + 2 * view.frameWidth())
    return view, proxy


MIN_ROWS_SHOWN = 3
"""Rows each table of the view shows at least."""


def keep_min_at_most_max(low: QSpinBox, high: QSpinBox) -> None:
    """Link two bound spin boxes: raising MIN above MAX raises MAX, lowering MAX below MIN lowers MIN."""
    low.valueChanged.connect(lambda value: high.setValue(max(value, high.value())))
    high.valueChanged.connect(lambda value: low.setValue(min(value, low.value())))


class SupervisorControls(QWidget):
    """Concurrency and autoscale for one supervisor (the one selected in the table)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select a supervisor to scale it.", self)
        self.concurrency = QSpinBox(self)
        self.concurrency.setRange(1, MAX_CONCURRENCY)
        self.concurrency.setToolTip("How many worker processes the supervisor should run")
        self.concurrency.setAccessibleName("Concurrency")
        self.apply = QPushButton("Apply", self)
        self.apply.setToolTip("Send the new concurrency to the supervisor (turns autoscale off)")
        self.autoscale_min = QSpinBox(self)
        self.autoscale_max = QSpinBox(self)
        for box, name, tip in (
            (self.autoscale_min, "Autoscale minimum", "The fewest workers autoscale keeps"),
            (self.autoscale_max, "Autoscale maximum", "The most workers autoscale runs"),
        ):
            box.setRange(1, MAX_CONCURRENCY)
            box.setAccessibleName(name)
            box.setToolTip(tip)
        keep_min_at_most_max(self.autoscale_min, self.autoscale_max)
        self.apply_autoscale = QPushButton("Autoscale", self)
        self.apply_autoscale.setToolTip("Let the supervisor scale between MIN and MAX workers by queue depth")
        self.feedback = QLabel(self)
        self.feedback.setStyleSheet("color: palette(placeholder-text);")
        row = QHBoxLayout()
        row.addWidget(QLabel("Concurrency", self))
        row.addWidget(self.concurrency)
        row.addWidget(self.apply)
        row.addSpacing(24)
        row.addWidget(QLabel("Autoscale MIN", self))
        row.addWidget(self.autoscale_min)
        row.addWidget(QLabel("MAX", self))
        row.addWidget(self.autoscale_max)
        row.addWidget(self.apply_autoscale)
        row.addStretch(1)
        self.restart = QPushButton("Restart…", self)
        self.restart.setObjectName("restartSupervisor")
        self.restart.setToolTip("Replace every worker of this supervisor, each after its current job")
        self.stop = QPushButton("Stop…", self)
        self.stop.setObjectName("stopSupervisor")
        self.stop.setToolTip("Stop this supervisor: its workers finish their jobs, then exit")
        row.addWidget(self.restart)
        row.addWidget(self.stop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addWidget(self.feedback)


class WorkersView(QWidget):
    """Supervisors, RQ workers and BullMQ workers, with a concurrency control for the selected supervisor."""

    def __init__(self, controller: ConsoleController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.supervisors_model = SupervisorsTableModel(self)
        self.workers_model = WorkersTableModel(self)
        self.bull_workers_model = BullWorkersTableModel(self)
        self.bull_workers_table, _ = make_table(self.bull_workers_model, self)
        self.supervisors_table, self._supervisors_proxy = make_table(self.supervisors_model, self)
        self.workers_table, self._workers_proxy = make_table(self.workers_model, self)
        self.controls = SupervisorControls(self)
        self._selected_id: str | None = None
        self._busy = False
        self._sized: dict[int, bool] = {}

        self._supervisors_box = QGroupBox("Supervisors", self)
        top = QVBoxLayout(self._supervisors_box)
        top.addWidget(self.supervisors_table, 1)
        top.addWidget(self.controls)
        self._workers_box = QGroupBox("RQ workers", self)
        bottom = QVBoxLayout(self._workers_box)
        bottom.addWidget(self.workers_table)
        self.stop_worker_button = QPushButton("Stop worker…", self)
        self.stop_worker_button.setObjectName("stopWorker")
        self.stop_worker_button.setToolTip("Stop the selected RQ worker with RQ's shutdown command (after its current job)")
        worker_row = QHBoxLayout()
        worker_row.addStretch(1)
        worker_row.addWidget(self.stop_worker_button)
        bottom.addLayout(worker_row)
        self._bull_box = QGroupBox("BullMQ workers", self)
        bull = QVBoxLayout(self._bull_box)
        bull.addWidget(self.bull_workers_table)
        self.bull_problem = QLabel(self._bull_box)
        self.bull_problem.setObjectName("bullWorkersProblem")
        self.bull_problem.setWordWrap(True)
        self.bull_problem.hide()
        bull.addWidget(self.bull_problem)
        self.ask: Callable[[QDialog], Awaitable[int]] = ask
        """Opens a dialog and waits for its answer (the window's, which remembers the open dialog)."""
        self.stop_timeout_s = STOP_TIMEOUT_S
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self._supervisors_box)
        splitter.addWidget(self._workers_box)
        splitter.addWidget(self._bull_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.supervisors_table.selectionModel().selectionChanged.connect(self._on_selection)
        self.controls.apply.clicked.connect(self.apply_concurrency)
        self.controls.apply_autoscale.clicked.connect(self.apply_autoscale)
        self.controls.stop.clicked.connect(self.stop_supervisor)
        self.controls.restart.clicked.connect(self.restart_supervisor)
        self.stop_worker_button.clicked.connect(self.stop_worker)
        self.workers_table.selectionModel().selectionChanged.connect(lambda *_: self._update_controls())
        controller.snapshotChanged.connect(self.show_snapshot)
        controller.connectionChanged.connect(self._on_connection)
        if controller.snapshot is not None:
            self.show_snapshot(controller.snapshot)
        self._update_controls()

    # ----------------------------------------------------------------- data
    def show_snapshot(self, snapshot: Snapshot) -> None:
        self._fill(self.supervisors_table, self.supervisors_model, supervisor_rows(snapshot))
        self._fill(self.workers_table, self.workers_model, worker_rows(snapshot))
        self._supervisors_box.setTitle(f"Supervisors ({len(snapshot.supervisors)})")
        self._workers_box.setTitle(f"RQ workers ({len(snapshot.workers)})")
        self._fill(self.bull_workers_table, self.bull_workers_model, list(snapshot.bullmq_workers))
        self._bull_box.setTitle(f"BullMQ workers ({len(snapshot.bullmq_workers)})")
        self._show_bull_problem(snapshot.bullmq_workers_problem)
        if self._selected_id is not None and self.supervisors_model.row_of(self._selected_id) < 0:
            self._selected_id = None  # it went away (stopped, or its record expired)
        self._update_controls(refill=False)

    def clear(self) -> None:
        """Forget every supervisor and worker (another server is being connected)."""
        self._fill(self.supervisors_table, self.supervisors_model, [])
        self._fill(self.workers_table, self.workers_model, [])
        self._supervisors_box.setTitle("Supervisors")
        self._workers_box.setTitle("RQ workers")
        self._fill(self.bull_workers_table, self.bull_workers_model, [])
        self._bull_box.setTitle("BullMQ workers")
        self._show_bull_problem(None)
        self._selected_id = None
        self._update_controls()

    def _show_bull_problem(self, problem: str | None) -> None:
        self.bull_problem.setText(problem or "")
        self.bull_problem.setVisible(bool(problem))

    def _fill(self, table: QTableView, model: KeyedTableModel[Row], rows: list[Row]) -> None:
        first_rows = model.rowCount() == 0 and bool(rows)
        model.set_rows(rows)
        if first_rows and not self._sized.get(id(table)):
            # Once, when the first rows arrive: after that the widths are the user's.
            table.resizeColumnsToContents()
            self._sized[id(table)] = True

    def selected_record(self) -> SupervisorRecord | None:
        if self._selected_id is None:
            return None
        row = self.supervisors_model.row_of(self._selected_id)
        return self.supervisors_model.rows[row].record if row >= 0 else None

    def select_supervisor(self, supervisor_id: str) -> bool:
        """Select a supervisor's row (as a click would); False when it is not listed."""
        row = self.supervisors_model.row_of(supervisor_id)
        if row < 0:
            return False
        index = self._supervisors_proxy.mapFromSource(self.supervisors_model.index(row, 0))
        self.supervisors_table.selectRow(index.row())
        return True

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.supervisors_table.selectionModel().selectedRows()
        if rows:
            source = self._supervisors_proxy.mapToSource(rows[0])
            self._selected_id = self.supervisors_model.rows[source.row()].record.id
        else:
            self._selected_id = None
        self.controls.feedback.clear()
        self._update_controls(refill=True)

    def _on_connection(self, _state: object) -> None:
        self._update_controls()

    def _update_controls(self, refill: bool = False) -> None:
        record = self.selected_record()
        c = self.controls
        if record is None:
            c.title.setText("Select a supervisor to scale it.")
        else:
            c.title.setText(
                f"<b>{record.id}</b> on {record.host}: {record.live} of {record.desired} workers running, "
                f"{record.busy} busy, autoscale {autoscale_text(record)}"
            )
            if refill:  # only on a new selection: never overwrite what the user is typing
                c.concurrency.setValue(record.desired)
                c.autoscale_min.setValue(record.autoscale_min or 1)
                c.autoscale_max.setValue(record.autoscale_max or max(record.desired, 1))
        read_only = self.controller.read_only
        if read_only:
            c.title.setText(c.title.text() + " (read-only connection: scaling is off)")
        live = self.controller.is_connected()
        enabled = record is not None and not read_only and not self._busy and live
        worker = self.selected_worker()
        self.stop_worker_button.setEnabled(worker is not None and not read_only and not self._busy and live)
        for widget in (c.concurrency, c.apply, c.autoscale_min, c.autoscale_max, c.apply_autoscale, c.stop, c.restart,
                       self.stop_worker_button):  # fmt: skip
            if widget is not self.stop_worker_button:
                widget.setEnabled(enabled)
            base = widget.property("baseTip")
            if base is None:
                base = widget.toolTip()
                widget.setProperty("baseTip", base)
            # Say why a control is off when the reason is not on screen (as the toolbar's actions do).
            tip = f"{base} — disabled: this connection profile is read-only" if read_only else str(base)
            if widget.toolTip() != tip:
                widget.setToolTip(tip)

    def selected_worker(self) -> WorkerInfo | None:
        rows = self.workers_table.selectionModel().selectedRows()
        if not rows:
            return None
        source = self._workers_proxy.mapToSource(rows[0])
        return self.workers_model.rows[source.row()].info if 0 <= source.row() < self.workers_model.rowCount() else None

    def select_worker(self, name: str) -> bool:
        """Select a worker's row (as a click would); False when it is not listed."""
        row = self.workers_model.row_of(name)
        if row < 0:
            return False
        self.workers_table.selectRow(self._workers_proxy.mapFromSource(self.workers_model.index(row, 0)).row())
        return True

    # ----------------------------------------------------------------- actions
    def stop_supervisor(self) -> None:
        record = self.selected_record()
        if record is not None:
            spawn(self._stop_supervisor(record), "stop a supervisor")

    async def _stop_supervisor(self, record: SupervisorRecord) -> None:
        c = self.controller
        if not await confirmations.confirm(self.ask, self, confirmations.stop_supervisor_question(record, self.stop_timeout_s)):
            return
        sent = await c.act("stop supervisor", lambda a: a.stop_supervisor(record.id), notice=lambda _r: Notice(
            f"asked supervisor {record.id} on {record.host} to stop; its workers finish their jobs"))  # fmt: skip
        if not sent.ok:
            return
        waited = await c.act("stop supervisor", lambda a: a.wait_supervisor_stopped(record.id, self.stop_timeout_s), notice=lambda _p: None)
        progress = waited.value
        if progress is None:
            return
        if progress.outcome is StopOutcome.STOPPED:
            c.post(Notice(f"supervisor {record.id} on {record.host} stopped"))
            return
        latest = progress.record or record
        if await confirmations.confirm(self.ask, self, confirmations.hard_stop_question(latest, self.stop_timeout_s)):
            await c.act("stop supervisor now", lambda a: a.stop_supervisor(record.id, hard=True), notice=lambda _r: Notice(
                f"stopping supervisor {record.id} on {record.host} now; its running jobs go back to the queue", Level.WARNING))  # fmt: skip
        else:
            c.post(Notice(f"supervisor {record.id} on {record.host} is finishing {latest.busy} running jobs, then stops"))

    def restart_supervisor(self) -> None:
        record = self.selected_record()
        if record is not None:
            spawn(self._restart_supervisor(record), "restart a supervisor")

    async def _restart_supervisor(self, record: SupervisorRecord) -> None:
        if not await confirmations.confirm(self.ask, self, confirmations.restart_supervisor_question(record), destructive=False):
            return
        await self.controller.act("restart supervisor", lambda a: a.restart_supervisor(record.id), notice=lambda _r: Notice(
            f"supervisor {record.id} on {record.host} replaces its workers, each after its current job"))  # fmt: skip

    def stop_worker(self) -> None:
        worker = self.selected_worker()
        if worker is not None:
            spawn(self._stop_worker(worker), "stop a worker")

    async def _stop_worker(self, worker: WorkerInfo) -> None:
        if not await confirmations.confirm(self.ask, self, confirmations.stop_worker_question(worker)):
            return
        await self.controller.act("stop worker", lambda a: a.stop_worker(worker.name), notice=lambda _r: Notice(
            f"asked worker {worker.name} on {worker.hostname} to stop after its current job"))  # fmt: skip

    def apply_concurrency(self) -> None:
        record = self.selected_record()
        if record is None:
            return
        value = self.controls.concurrency.value()
        spawn(
            self._send(f"asked {record.id} for {value} workers", self.controller.resize_supervisor(record.id, value)),
            "resize a supervisor",
        )

    def apply_autoscale(self) -> None:
        record = self.selected_record()
        if record is None:
            return
        low, high = self.controls.autoscale_min.value(), self.controls.autoscale_max.value()
        spawn(
            self._send(
                f"asked {record.id} to autoscale between {low} and {high} workers",
                self.controller.autoscale_supervisor(record.id, low, high),
            ),
            "autoscale a supervisor",
        )

    async def _send(self, done_text: str, action: Coroutine[Any, Any, Outcome[None]]) -> None:
        self._busy = True
        self._update_controls()
        outcome: Outcome[None] | None = None
        try:
            outcome = await action
        finally:
            if shiboken6.isValid(self):
                self._busy = False
                error = outcome.error if outcome is not None else "not sent"
                self.controls.feedback.setText(error if error else done_text + "; the table shows when it has.")
                self._update_controls()
