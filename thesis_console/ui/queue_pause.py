"""Pausing and resuming a queue from the window (the queue list's menu and the Overview's button).

One place says what a pause reads like and whether it can be changed now; the change itself goes
through :meth:`ConsoleController.act`, which reports it and refreshes.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMenu, QWidget

from thesis_console.core.policy import PAUSE_EFFECT
from thesis_console.core.types import QueueCounts
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.models import formatting
from thesis_console.ui.notices import Notice
from thesis_console.ui.tasks import spawn


def paused_text(counts: QueueCounts) -> str:
    """``paused by ana@lab at 2026-11-30 12:03:07``; empty when the queue runs."""
    return formatting.paused_text(counts.paused, counts.paused_by, counts.paused_at)


def pause_effect(counts: QueueCounts | None) -> str:
    """What pausing ``counts``' queue does (its backend's words)."""
    return PAUSE_EFFECT[counts.backend] if counts is not None else ""


def why_not(controller: ConsoleController, counts: QueueCounts | None) -> str:
    """Why the queue's pause cannot be changed now; empty when it can."""
    if counts is None:
        return "no queue selected"
    if not controller.is_connected():
        return "not connected"
    if controller.read_only:
        return "this connection profile is read-only"
    if controller.busy:
        return "another action is running"
    return ""


def toggle(controller: ConsoleController, counts: QueueCounts) -> None:
    """Pause ``counts``' queue, or resume it when it is paused (through the controller's act path)."""
    name = counts.name
    if counts.paused:
        spawn(
            controller.act(
                "resume",
                lambda actions: actions.resume_queue(name),
                notice=lambda done: Notice(f"resumed {name}" if done else f"{name} was not paused"),
            ),
            f"resume {name}",
        )
    else:
        spawn(
            controller.act(
                "pause",
                lambda actions: actions.pause_queue(name),
                notice=lambda _pause: Notice(f"paused {name}: {pause_effect(counts)}"),
            ),
            f"pause {name}",
        )


def add_to_menu(menu: QMenu, controller: ConsoleController, counts: QueueCounts | None) -> None:
    """Add Pause or Resume for ``counts``' queue, disabled with the reason when it cannot be changed."""
    resume = counts is not None and counts.paused
    action = menu.addAction("Resume queue" if resume else "Pause queue")
    action.setObjectName("resumeQueue" if resume else "pauseQueue")
    reason = why_not(controller, counts)
    action.setEnabled(not reason)
    if reason:
        action.setText(f"{action.text()} (disabled: {reason})")
    elif counts is not None:
        action.setToolTip(paused_text(counts) or f"pause: {pause_effect(counts)}")
        action.triggered.connect(lambda _checked=False: toggle(controller, counts))


def queue_menu(parent: QWidget, controller: ConsoleController, counts: QueueCounts | None) -> QMenu:
    """The queue list's context menu."""
    menu = QMenu(parent)
    menu.setToolTipsVisible(True)
    add_to_menu(menu, controller, counts)
    return menu
