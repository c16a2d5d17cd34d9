"""The controller's one action path (ui/controller.py): act() reports through one notice and returns
the outcome; without a session it refuses with a message, never a traceback."""

from __future__ import annotations

from tests.ui.live_console import close_controller, live_controller
from tests.ui.qt_helpers import run
from thesis_console.core.types import ActionResult, JobState
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.notices import Level


def test_act_without_a_session_says_not_connected(loop) -> None:
    controller = ConsoleController()
    notices: list = []
    controller.noticePosted.connect(notices.append)
    outcome = run(loop, controller.act("cancel", lambda actions: actions.cancel(["x"])))
    assert outcome.error == "not connected" and not outcome.ok
    assert [(n.text, n.level) for n in notices] == [("cancel: not connected", Level.ERROR)]


def test_act_reports_the_result_and_errors(loop, redis_url) -> None:
    async def scenario() -> None:
        controller = live_controller(redis_url)
        notices: list = []
        controller.noticePosted.connect(notices.append)
        busy: list[bool] = []
        controller.busyChanged.connect(busy.append)
        outcome = await controller.act("cancel", lambda actions: actions.cancel(["no-such-job"]))
        assert isinstance(outcome.value, ActionResult) and outcome.ok
        assert notices[-1].text.startswith("Canceled 0 jobs; 1 skipped: 1 ")
        assert busy == [True, False] and not controller.busy
        failed = await controller.act("empty", lambda actions: actions.empty("thesis", JobState.ACTIVE))
        assert failed.error and notices[-1].level is Level.ERROR and notices[-1].text.startswith("empty: ")
        await close_controller(controller)

    run(loop, scenario())
