"""The enqueue form (ui/widgets/dialogs/enqueue.py): errors in place, numbers validated, a steady size."""

from __future__ import annotations

import asyncio

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.profiles import ad_hoc_profile
from thesis_console.ui.widgets.dialogs.enqueue import EnqueueDialog


def test_enqueue_dialog_shows_field_errors(qtbot, loop, window_factory, redis_url) -> None:
    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        dialog = EnqueueDialog(window.controller, window)
        dialog.show()
        qtbot.keyClicks(dialog.topic, "ab")
        assert not dialog.submit_button.isEnabled()
        assert "3 to 300 characters" in dialog.error_text("topic")
        qtbot.keyClicks(dialog.topic, "c")
        assert dialog.submit_button.isEnabled() and not dialog.error_text("topic")
        dialog.chapters.setValue(13)
        assert "3 to 12" in dialog.error_text("chapters")
        dialog.chapters.setValue(5)
        dialog.queue.setCurrentText("")
        assert dialog.error_text("queue")
        for bad in ("a:b", "\udcff", "x" * 65, "tab\there"):  # the core's one rule for queue names
            dialog.queue.setCurrentText(bad)
            assert "1 to 64 characters" in dialog.error_text("queue") and not dialog.submit_button.isEnabled(), bad
        dialog.queue.setCurrentText("thesis.v2_b-1")
        assert not dialog.error_text("queue") and dialog.submit_button.isEnabled()
        dialog.close()

    run(loop, scenario())


def test_numbers_are_validated_not_clamped(qtbot, loop, window_factory, redis_url) -> None:
    """99999999 words stays 99999999 and is refused in place; chapters 0 stays 0 and is refused; the
    dialog keeps its size as errors come and go, and no error is cut."""

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url))
        dialog = EnqueueDialog(window.controller, window)
        dialog.show()
        qtbot.keyClicks(dialog.topic, "Validated numbers")
        assert dialog.submit_button.isEnabled()
        size = dialog.size()

        dialog.target_words.selectAll()
        qtbot.keyClicks(dialog.target_words, "99999999")
        dialog.topic.setFocus()  # leaving the field must not change what was typed
        assert dialog.target_words.text() == "99999999"
        error = dialog.error_text("target_words")
        assert "1000 to 200000" in error and "99999999" in error, error
        assert not dialog.submit_button.isEnabled()

        dialog.chapters.selectAll()
        qtbot.keyClicks(dialog.chapters, "0")
        dialog.topic.setFocus()
        assert dialog.chapters.text() == "0" and "3 to 12, got 0" in dialog.error_text("chapters")

        dialog.delay.setText("9999999999")
        assert "at most" not in dialog.error_text("delay") and "2,592,000" in dialog.error_text("delay")
        assert not dialog.submit_button.isEnabled()
        await asyncio.sleep(0.05)  # let the layout settle
        assert dialog.size() == size
        for key in ("target_words", "chapters", "delay"):
            note = dialog.errors[key]
            assert note.fontMetrics().horizontalAdvance(note.text()) <= note.contentsRect().width(), key

        for field, value in ((dialog.target_words, "8,000"), (dialog.chapters, "5"), (dialog.delay, "")):
            field.setText(value)
        assert dialog.submit_button.isEnabled()
        assert not any(dialog.error_text(k) for k in dialog.errors)
        assert dialog.size() == size
        dialog.submit_button.click()
        await wait_until(lambda: dialog.job_id is not None, what="the job queued")
        assert f"queued {dialog.job_id} in thesis" in window.status_area.text()

    run(loop, scenario())
