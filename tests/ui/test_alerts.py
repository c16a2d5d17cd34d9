"""Alerts in the window, against a real Redis: the panel (firing, history, acknowledge), the badge on the
queue, the tray badge icon, the notice when an alert starts (once per cool-down), stuck jobs flagged
in the Active table with Stop suggested, and the rules dialog writing the profile's rules file."""

from __future__ import annotations

import json
import time

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QDialog
from rq import Worker

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core import contract
from thesis_console.core.alerts.history import AlertHistory
from thesis_console.core.alerts.rules import RuleKind, RulesStore
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.core.types import JobState
from thesis_console.ui.main_window import VIEW_JOBS, MainWindow
from thesis_console.ui.models import roles
from thesis_console.ui.models.job_table import COLUMN_KEYS
from thesis_console.ui.widgets.alert_badge import badged_icon


def _rules_file(tmp_path, monkeypatch, rules: dict) -> None:
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps({"profiles": {"command line": rules}}))
    monkeypatch.setenv("THESIS_ALERTS", str(path))


def _fast(window: MainWindow) -> None:
    window.alerts.monitor.set_interval_s(0.2)


def _badge(window: MainWindow, queue: str) -> int:
    return int(window.queue_model.index(window.queue_model.row_of(queue), 0).data(roles.ALERT_ROLE) or 0)


def test_no_worker_alert_fires_badges_acknowledges_and_ends(qtbot, loop, window_factory, redis_conn, redis_url, tmp_path, monkeypatch):
    _rules_file(tmp_path, monkeypatch, {"no_worker": {"for_s": 0}, "oldest_waiting": {"enabled": False}})
    queue = contract.thesis_queue(redis_conn)
    for _ in range(3):
        queue.enqueue("tests.jobs.noop")
    started: list = []

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        _fast(window)
        window.alerts.monitor.started.connect(started.append)
        assert callable(window.controller.session.side_client)  # evaluated on a thread of its own
        panel = window.alerts.panel
        await wait_until(lambda: panel.firing_model.rowCount() == 1, 15, what="the no-worker alert in the panel")
        assert panel.firing_model.records[0].rule is RuleKind.NO_WORKER
        assert panel.firing_label.text() == "Firing now: 1 (1 not acknowledged)"
        await wait_until(lambda: _badge(window, "thesis") == 1, 5, what="the badge on the queue")
        assert "1 alert firing" in window.queue_model.index(window.queue_model.row_of("thesis"), 0).data(Qt.ItemDataRole.ToolTipRole)
        assert window.alerts.badge_count == 1 and window.alerts.windowTitle() == "Alerts (1)"
        assert "no live worker serves the queue" in window.status_area.text()
        # Later evaluations of the same alert do not notify again.
        evaluations = window.alerts.monitor.view.taken_at
        await wait_until(lambda: window.alerts.monitor.view.taken_at > evaluations + 0.5, 10, what="more evaluations")
        assert len(started) == 1 and len(started[0]) == 1

        panel.firing_table.selectionModel().select(
            panel.firing_model.index(0, 0), QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        )
        assert panel.ack_button.isEnabled()
        panel.ack_button.click()
        await wait_until(lambda: _badge(window, "thesis") == 0, 5, what="the badge to go on acknowledgement")
        assert window.alerts.badge_count == 0 and "all acknowledged" in panel.firing_label.text()
        assert panel.history_model.records[0].acknowledged_at is not None
        record = AlertHistory("command line", window.controller.session.display_url, tmp_path / "data" / "alerts").load().records[0]
        assert record.acknowledged_at is not None  # kept in the per-user data folder

        Worker(["thesis"], connection=redis_conn, name="arrives-late").register_birth()
        await wait_until(lambda: panel.firing_model.rowCount() == 0, 10, what="the alert to end")
        assert panel.history_model.records[0].ended_at is not None and panel.firing_label.text() == "No alert firing"

    run(loop, scenario(), timeout=60)


def test_stuck_job_flagged_in_active_table_with_stop_suggested(qtbot, loop, window_factory, redis_conn, redis_url, tmp_path, monkeypatch):
    _rules_file(tmp_path, monkeypatch, {})  # the defaults: 15 min without progress
    Worker(["thesis"], connection=redis_conn, name="w-alive").register_birth()
    redis_conn.sadd("rq:queues", "rq:queue:thesis")
    meta = {"kind": "thesis", "progress": 35, "stage": "chapter 2/6", "progress_at": time.time() - 17 * 60}
    redis_conn.hset("rq:job:hung-1", mapping={
        "status": "started", "origin": "thesis", "worker_name": "w-alive", "meta": json.dumps(meta),
        "created_at": "2026-01-01T00:00:00.000000Z", "started_at": "2026-01-01T00:00:01.000000Z",
        "description": "Thesis: hung on the LLM call",
    })  # fmt: skip
    redis_conn.zadd("rq:wip:thesis", {"hung-1:exec1": time.time() + 3600})

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        _fast(window)
        window.views.setCurrentIndex(VIEW_JOBS)
        window.jobs_view.select_state(JobState.ACTIVE)
        model = window.jobs_view.models[JobState.ACTIVE]
        column = COLUMN_KEYS.index("error")
        await wait_until(lambda: model.rowCount() == 1 and "no progress" in str(model.index(0, column).data()), 15,
                         what="the stuck flag")  # fmt: skip
        assert model.index(0, column).data() == "no progress for 17 min: stuck? Stop suggested"
        assert model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is not None  # highlighted
        alert = window.alerts.panel.firing_model.records[0]
        assert alert.rule is RuleKind.STUCK_JOB and alert.subject == "hung-1"

        # Opening the alert shows the job selected in the Active table; its context menu suggests Stop.
        window.views.setCurrentIndex(0)
        window.alerts.panel.firing_table.doubleClicked.emit(window.alerts.panel.firing_model.index(0, 0))
        await wait_until(lambda: [r.id for r in window.selected_rows()] == ["hung-1"], 10, what="the job selected")
        assert window.views.currentIndex() == VIEW_JOBS and window.job_actions.act_stop.isEnabled()
        window.job_actions.show_context_menu(window.jobs_view.mapToGlobal(window.jobs_view.rect().center()))
        assert window.job_actions.menu.defaultAction() is window.job_actions.act_stop
        window.job_actions.menu.close()

        # Progress moves: the flag goes.
        meta["progress_at"] = time.time()
        redis_conn.hset("rq:job:hung-1", "meta", json.dumps(meta))
        await wait_until(lambda: "no progress" not in str(model.index(0, COLUMN_KEYS.index("error")).data()), 10,
                         what="the flag to go")  # fmt: skip

    run(loop, scenario(), timeout=60)


def test_rules_dialog_writes_the_profiles_rules(qtbot, loop, window_factory, redis_conn, redis_url, tmp_path, monkeypatch):
    _rules_file(tmp_path, monkeypatch, {})

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: window.alerts.monitor.profile_name == "command line", 5, what="the profile")
        window.alerts.panel.rules_button.click()
        dialog = window.alerts.panel.dialog
        assert dialog is not None
        rows = {row.kind: row for row in dialog.rows}  # type: ignore[attr-defined]
        rows[RuleKind.STUCK_JOB].threshold.setValue(600)
        rows[RuleKind.WAITING_DEPTH].enabled.setChecked(False)
        assert not rows[RuleKind.STUCK_JOB].window.isEnabled()  # only the failure rate has a window
        dialog.done(QDialog.DialogCode.Accepted)
        store = RulesStore(tmp_path / "alerts.json")
        await wait_until(lambda: store.load("command line").get(RuleKind.STUCK_JOB).threshold == 600, 5, what="saved rules")
        assert store.load("command line").get(RuleKind.WAITING_DEPTH).enabled is False
        await wait_until(lambda: window.alerts.monitor.rules.get(RuleKind.STUCK_JOB).threshold == 600, 5, what="rules in use")
        window.alerts.panel.rules_button.click()
        again = window.alerts.panel.dialog
        again.restore_defaults()  # type: ignore[union-attr]
        assert {row.kind: row for row in again.rows}[RuleKind.STUCK_JOB].threshold.value() == 900  # type: ignore[union-attr]
        again.done(QDialog.DialogCode.Rejected)  # type: ignore[union-attr]

    run(loop, scenario(), timeout=60)


def test_damaged_rules_file_is_reported_and_defaults_apply(qtbot, loop, window_factory, redis_url, tmp_path, monkeypatch):
    path = tmp_path / "alerts.json"
    path.write_text("{broken")
    monkeypatch.setenv("THESIS_ALERTS", str(path))

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        await wait_until(lambda: "alert rules" in window.status_area.text(), 10, what="the message")
        assert "not valid JSON" in window.status_area.text() and "using the defaults" in window.status_area.text()

    run(loop, scenario(), timeout=30)


def test_badged_icon(qapp):
    base = QIcon(QPixmap(64, 64))
    assert badged_icon(base, 0) is base
    badged = badged_icon(base, 3)
    assert not badged.isNull() and badged.pixmap(64, 64).toImage() != base.pixmap(64, 64).toImage()
