"""WorkersView: its models (checked by qtmodeltester while they update in place) and a real supervisor
scaled through the view's control, with a real Redis."""

from __future__ import annotations

import dataclasses

import pytest
import redis
from PySide6.QtCore import QPersistentModelIndex

from tests.core.bullmq.bull_jobs import QUEUE, add_jobs
from tests.node_bullmq import NodeWorker
from tests.ui.live_console import LiveSession, close_controller, live_controller
from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.supervisor_protocol import SupervisorRecord
from thesis_console.core.types import BullLibrary, BullWorkerInfo, Snapshot, WorkerInfo
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.widgets.workers_models import (
    BullWorkersTableModel,
    SupervisorsTableModel,
    WorkersTableModel,
    fmt_age,
    supervisor_rows,
    worker_rows,
)
from thesis_console.ui.widgets.workers_view import WorkersView

START_S = 30


def _record(sid: str, live: int, workers: tuple[str, ...], heartbeat_at: float = 100.0) -> SupervisorRecord:
    return SupervisorRecord(
        id=sid, host="h1", pid=100, queues=("thesis",), desired=live, live=live, workers=workers,
        started_at=50.0, restarts=0, heartbeat_at=heartbeat_at,
    )  # fmt: skip


def _snapshot(records: tuple[SupervisorRecord, ...], workers: tuple[WorkerInfo, ...], at: float = 101.0) -> Snapshot:
    return Snapshot(taken_at=at, queues=(), workers=workers, supervisors=records)


def test_models_update_in_place_and_pass_the_model_tester(qtmodeltester):
    workers_model, supervisors_model = WorkersTableModel(), SupervisorsTableModel()
    qtmodeltester.check(workers_model)
    qtmodeltester.check(supervisors_model)
    w = [WorkerInfo(name=f"s1.a-{i}", hostname="h1", pid=10 + i, state="idle", last_heartbeat=99.0) for i in range(3)]
    first = _snapshot((_record("s1", 3, tuple(x.name for x in w)),), tuple(w))
    workers_model.set_rows(worker_rows(first))
    supervisors_model.set_rows(supervisor_rows(first))
    assert workers_model.rowCount() == 3 and supervisors_model.rowCount() == 1
    assert workers_model.rows[0].supervisor == "s1"
    kept = QPersistentModelIndex(workers_model.index(1, 0))

    # One worker busy, one gone, one new, a second supervisor: the kept row keeps its index.
    busy = dataclasses.replace(w[1], state="busy", current_job="job-1", successful=4)
    new = WorkerInfo(name="s1.a-9", hostname="h1", pid=99, state="idle")
    second = _snapshot(
        (_record("s1", 3, ("s1.a-1", "s1.a-2", "s1.a-9")), _record("s0", 1, ())), (busy, w[2], new), at=110.0
    )
    workers_model.set_rows(worker_rows(second))
    supervisors_model.set_rows(supervisor_rows(second))
    assert [r.info.name for r in workers_model.rows] == ["s1.a-1", "s1.a-2", "s1.a-9"]
    assert kept.isValid() and kept.row() == 0 and kept.data() == "s1.a-1"
    assert workers_model.index(0, 5).data() == "job-1"
    assert supervisors_model.rowCount() == 2
    row = supervisors_model.row_of("s1")
    assert supervisors_model.index(row, 4).data() == "3 / 3"
    assert supervisors_model.index(row, 7).data() == "4", "succeeded sums its workers' counts"
    assert supervisors_model.index(row, 10).data() == fmt_age(10.0)
    assert supervisors_model.is_late(supervisors_model.rows[row]), "10 s without a heartbeat is late"

    workers_model.set_rows([])
    supervisors_model.set_rows([])
    assert workers_model.rowCount() == supervisors_model.rowCount() == 0


@pytest.fixture
def supervisor(processes, redis_conn, redis_url, isolated_env):
    """A real thesis-worker supervisor with 2 workers, id ``gui-test``, fast heartbeats."""
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--id", "gui-test", "--concurrency", "2",
        "--heartbeat", "0.5", "--grace", "2", "--log-level", "WARNING",
    )  # fmt: skip
    return "gui-test"


def _record_in(controller: ConsoleController, sid: str) -> SupervisorRecord | None:
    snapshot = controller.snapshot
    return next((r for r in snapshot.supervisors if r.id == sid), None) if snapshot else None


def test_lists_a_real_supervisor_and_resizes_it(qtbot, loop, redis_url, supervisor):
    controller = live_controller(redis_url)
    view = WorkersView(controller)
    qtbot.addWidget(view)
    view.resize(1100, 650)
    view.show()

    async def scenario() -> None:
        await wait_until(
            lambda: (r := _record_in(controller, supervisor)) is not None and r.live == 2, timeout=START_S,
            what="the supervisor with 2 live workers",
        )  # fmt: skip
        await wait_until(lambda: view.workers_model.rowCount() == 2, timeout=START_S, what="2 RQ workers listed")
        assert {r.supervisor for r in view.workers_model.rows} == {supervisor}
        assert view.supervisors_model.rowCount() == 1
        assert not view.controls.apply.isEnabled(), "nothing selected yet"

        assert view.select_supervisor(supervisor)
        assert view.controls.apply.isEnabled()
        assert view.controls.concurrency.value() == 2
        view.controls.concurrency.setValue(4)
        view.controls.apply.click()
        await wait_until(
            lambda: (r := _record_in(controller, supervisor)) is not None and (r.live, r.desired) == (4, 4),
            timeout=START_S, what="the record showing 4 live workers",
        )  # fmt: skip
        await wait_until(lambda: view.workers_model.rowCount() == 4, timeout=START_S, what="4 RQ workers listed")
        assert "asked gui-test for 4 workers" in view.controls.feedback.text()
        # Refreshes kept the selection, and did not overwrite the spin box.
        assert view.selected_record().id == supervisor
        assert len(view.supervisors_table.selectionModel().selectedRows()) == 1
        assert view.controls.concurrency.value() == 4
        assert "4 of 4 workers running" in view.controls.title.text()

        view.controls.autoscale_min.setValue(1)
        view.controls.autoscale_max.setValue(3)
        view.controls.apply_autoscale.click()
        await wait_until(
            lambda: (r := _record_in(controller, supervisor)) is not None and (r.autoscale_min, r.autoscale_max) == (1, 3),
            what="autoscale 1-3 in the record",
        )  # fmt: skip
        row = view.supervisors_model.row_of(supervisor)
        await wait_until(lambda: view.supervisors_model.index(row, 6).data() == "1–3", what="autoscale column")
        await close_controller(controller)

    run(loop, scenario(), timeout=120)


def test_read_only_connection_disables_scaling(qtbot, loop, redis_url, redis_conn):
    controller = ConsoleController()
    view = WorkersView(controller)
    qtbot.addWidget(view)

    async def scenario() -> None:
        controller.attach(LiveSession(redis_url, read_only=True))
        record = _record("elsewhere", 1, ())
        redis_conn.set("thesis:supervisor:elsewhere", dataclasses.replace(record, heartbeat_at=9e9).to_json())
        redis_conn.zadd("thesis:supervisors", {"elsewhere": 9e9})
        await wait_until(lambda: view.supervisors_model.rowCount() == 1, what="the record listed")
        assert view.select_supervisor("elsewhere")
        assert not view.controls.apply.isEnabled() and not view.controls.apply_autoscale.isEnabled()
        assert "read-only" in view.controls.title.text()
        await close_controller(controller)

    run(loop, scenario())


def test_bullmq_workers_model_updates_in_place_and_passes_the_model_tester(qtmodeltester):
    model = BullWorkersTableModel()
    qtmodeltester.check(model)
    node = BullWorkerInfo(QUEUE, BullLibrary.NODE, "node-1", "10.0.0.5:4100", 120.0, 2.0, 1, "bull:x:w:node-1")
    python = BullWorkerInfo(QUEUE, BullLibrary.PYTHON, "", "10.0.0.6:4200", 30.0, 0.2, 2, f"bull:{QUEUE}")
    model.set_rows([node, python])
    kept = QPersistentModelIndex(model.index(1, 0))
    assert [model.index(r, 1).data() for r in range(2)] == ["Node", "Python"]
    assert model.index(1, 0).data() == "(unnamed)" and model.index(0, 4).data() == fmt_age(120.0)
    model.set_rows([dataclasses.replace(node, idle_s=9.0), python])
    assert kept.isValid() and kept.row() == 1 and model.index(0, 5).data() == fmt_age(9.0)
    model.set_rows([])
    assert model.rowCount() == 0


def test_lists_real_node_and_python_bullmq_workers_beside_the_supervisor(qtbot, loop, redis_url, processes, isolated_env):
    add_jobs(redis_url, [({"topic": "keeps the queue known"}, {"delay": 3_600_000})])
    node = NodeWorker(redis_url, options={"name": "node-gui"})
    processes.start(
        "-m", "worker_runner", "--url", redis_url, "--backend", "bullmq", "--queue", QUEUE, "--id", "gui-bull",
        "--concurrency", "1", "--heartbeat", "0.5", "--log-level", "WARNING",
    )  # fmt: skip
    controller = live_controller(redis_url)
    view = WorkersView(controller)
    qtbot.addWidget(view)
    view.show()

    async def scenario() -> None:
        await wait_until(lambda: view.bull_workers_model.rowCount() == 2, timeout=60, what="2 BullMQ workers listed")
        rows = {r.library: r for r in view.bull_workers_model.rows}
        assert rows[BullLibrary.NODE].name == "node-gui" and rows[BullLibrary.NODE].supervisor == ""
        await wait_until(lambda: any(r.supervisor == "gui-bull" for r in view.bull_workers_model.rows), what="owner")
        python_row = view.bull_workers_model.row_of(next(view.bull_workers_model.key(r) for r in view.bull_workers_model.rows
                                                          if r.library is BullLibrary.PYTHON))  # fmt: skip
        assert view.bull_workers_model.index(python_row, 1).data() == "Python"
        assert view.bull_workers_model.index(python_row, 2).data() == QUEUE
        assert view.bull_workers_model.index(python_row, 3).data().startswith("127.0.0.1:")
        assert view.bull_workers_model.index(python_row, 7).data() == "gui-bull"
        assert view.supervisors_model.row_of("gui-bull") >= 0
        assert view._bull_box.title() == "BullMQ workers (2)" and view.bull_problem.isHidden()
        await close_controller(controller)

    try:
        node.wait_ready()
        run(loop, scenario(), timeout=120)
    finally:
        node.stop()


def test_a_refused_client_list_is_said_in_the_tab(qtbot, loop, private_redis_server):
    add_jobs(private_redis_server.url, [({"topic": "waiting"}, {})])
    admin = redis.Redis.from_url(private_redis_server.url)
    admin.acl_setuser("console", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
                      commands=["+@all", "-client", "+client|setname", "+client|getname", "+client|id"])  # fmt: skip
    admin.close()
    controller = live_controller(private_redis_server.url.replace("redis://", "redis://console:secret@"))
    view = WorkersView(controller)
    qtbot.addWidget(view)
    view.show()

    async def scenario() -> None:
        await wait_until(lambda: not view.bull_problem.isHidden(), what="the refusal said")
        assert "refused CLIENT LIST" in view.bull_problem.text() and view.bull_workers_model.rowCount() == 0
        assert controller.snapshot is not None and controller.snapshot.queue(QUEUE).waiting == 1
        await close_controller(controller)

    run(loop, scenario())
