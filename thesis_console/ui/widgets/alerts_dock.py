"""The Alerts dock and what an evaluation changes elsewhere in the window.

Owns the :class:`~thesis_console.ui.alerts_monitor.AlertMonitor` and the
:class:`~thesis_console.ui.widgets.alerts_panel.AlertsPanel`; after each evaluation it sets the
badges on the queue list and the tray icon, flags stuck jobs in the Active table, and when alerts
start it says so in the status area and as a desktop notification (the tracker allows one per
cool-down for each alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

from thesis_console.core.types import JobState
from thesis_console.ui import resources, theme
from thesis_console.ui.alerts_monitor import AlertMonitor, AlertView
from thesis_console.ui.widgets.alert_badge import badged_icon
from thesis_console.ui.widgets.alerts_panel import AlertsPanel
from thesis_console.ui.widgets.scrolling import scrollable


class AlertsDock(QDockWidget):
    """Docked at the bottom, tabbed with ``beside`` when given.

    Args:
        window: the main window (its controller, queue model, jobs view, tray, status area and
            ``_notify`` are used).
        beside: a dock to share the bottom area with, as tabs.
    """

    def __init__(self, window: Any, beside: QDockWidget | None = None) -> None:
        super().__init__("Alerts", window)
        self.setObjectName("alertsDock")
        self.window_ = window
        self.monitor = AlertMonitor(window.controller, parent=self)
        self.panel = AlertsPanel(self.monitor)
        # In a scroll area, so the bottom docks can start as short as the Local workers' controls.
        self.setWidget(scrollable(self.panel))
        self.badge_count = 0
        main: QMainWindow = window
        if beside is not None:
            self.setFeatures(beside.features())
            main.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self)
            main.tabifyDockWidget(beside, self)
            beside.raise_()
        else:
            main.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self)
        self.monitor.changed.connect(self.show_view)
        self.monitor.started.connect(self.announce)
        self.monitor.failed.connect(lambda text: window.status_area.show_message(text, "warning"))
        self.panel.jobWanted.connect(self.show_stuck_job)

    @property
    def stuck(self) -> dict[str, float]:
        return self.monitor.view.stuck

    def show_view(self, view: AlertView) -> None:
        window = self.window_
        window.queue_model.set_alert_counts(view.per_queue())
        window.jobs_view.set_stuck(view.stuck)
        self.setWindowTitle(f"Alerts ({len(view.firing)})" if view.firing else "Alerts")
        count = len(view.unacknowledged)
        if count == self.badge_count:
            return
        self.badge_count = count
        tray = window.tray
        if tray is not None:
            tray.setIcon(badged_icon(resources.app_icon(), count, theme.current().error))
            tray.setToolTip(f"Thesis Queue Console: {count} alert{'s' if count != 1 else ''} firing" if count
                            else "Thesis Queue Console")  # fmt: skip
            if count and not tray.isVisible():
                tray.show()

    def announce(self, alerts: Sequence[Any]) -> None:
        """One notice per evaluation that started alerts."""
        lines = [a.condition.message for a in alerts]
        text = "; ".join(lines[:3]) + (f"; and {len(lines) - 3} more" if len(lines) > 3 else "")
        self.window_.status_area.show_message(text, "warning")
        title = f"Alert: {alerts[0].condition.rule.value.replace('_', ' ')}" if len(alerts) == 1 else f"{len(alerts)} alerts"
        self.window_._notify(title, text, throttle=False)

    def show_stuck_job(self, queue: str, job_id: str) -> None:
        """Show a running job in the Active table, selected, with Stop suggested."""
        window = self.window_
        window.controller.select_queue(queue)
        window.show_jobs(JobState.ACTIVE)
        window.jobs_view.select_job(job_id)
        window.status_area.show_message(f"job {job_id} has made no progress: Stop it with the Stop action if it hung", "warning")

    async def close_monitor(self) -> None:
        """Stop evaluating (at shutdown), waiting for an evaluation under way."""
        await self.monitor.close()
