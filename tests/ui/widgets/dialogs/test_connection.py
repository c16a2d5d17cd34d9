"""The connection profiles dialog (ui/widgets/dialogs/connection.py) against a real Redis."""

from __future__ import annotations

from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.profiles import ProfileStore, ad_hoc_profile


def test_connection_dialog_saves_tests_and_connects(qtbot, loop, window_factory, redis_url, tmp_path) -> None:
    from thesis_console.ui.widgets.dialogs.connection import ConnectionDialog

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url), connect=False)
        dialog = ConnectionDialog(window.store, parent=window)
        dialog.show()
        assert dialog.list.count() == 1 and "embedded" in dialog.list.item(0).text().lower()
        dialog._show(None)
        dialog.name.setText("Test server")
        dialog.url.setText("redis://:secret@127.0.0.1:1/0")
        assert dialog.save_current() is None
        assert "password" in dialog.result_label.text()
        dialog.url.setText(redis_url)
        dialog.read_only.setChecked(True)
        dialog.trust_pickle.setChecked(True)
        assert dialog.pickle_warning.isVisible()
        dialog.test_connection()
        await wait_until(lambda: dialog.result_label.text().startswith("Connected"), what="the test result")
        assert "Redis" in dialog.result_label.text()
        dialog.connect_current()
        assert dialog.chosen is not None and dialog.chosen.read_only and dialog.chosen.trust_pickle
        saved = ProfileStore(tmp_path / "profiles.json").get("Test server")
        assert saved.url == redis_url and saved.read_only
        ok = await window.connect_profile(dialog.chosen, dialog.password)
        assert ok and window.controller.read_only
        assert window.settings.last_profile == "Test server"
        # A server that is not there: a readable reason, no traceback.
        dialog2 = ConnectionDialog(window.store, current="Test server", parent=window)
        dialog2.url.setText("redis://127.0.0.1:1/0")
        dialog2.test_connection()
        await wait_until(lambda: dialog2.result_label.text().startswith("Cannot connect"), what="the failure")
        assert "refused" in dialog2.result_label.text()
        dialog2.close()
        dialog.close()

    run(loop, scenario())


def test_bad_urls_of_the_corpus_are_named_and_never_saved(qtbot, loop, window_factory, redis_url, tmp_path) -> None:
    """The bad-input corpus's URLs (tests/corpus/bad_input.py) through the dialog: each is refused
    with the core's message, nothing is saved, no password or raw control character is shown."""
    from tests.corpus import bad_input
    from thesis_console.ui.widgets.dialogs.connection import ConnectionDialog

    base = redis_url.rsplit("/", 1)[0]
    cases = [(url.replace("{url}", base), phrase) for url, phrase in bad_input.URLS]
    cases.append((f"{base}/0?password={bad_input.PASSWORD}", "password"))

    async def scenario() -> None:
        window = await window_factory(ad_hoc_profile(redis_url), connect=False)
        dialog = ConnectionDialog(window.store, parent=window)
        dialog.show()
        for url, phrase in cases:
            dialog._show(None)
            dialog.name.setText("bad")
            dialog.url.setText(url)
            assert dialog.save_current() is None, url
            shown = dialog.result_label.text()
            assert phrase in shown, (url, shown)
            assert bad_input.PASSWORD not in shown and "\n" not in shown.replace("<br>", ""), shown
        dialog.close()

    run(loop, scenario())
    assert "bad" not in [p.name for p in ProfileStore(tmp_path / "profiles.json").load()]
