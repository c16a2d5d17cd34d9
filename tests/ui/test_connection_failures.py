"""Connection and access failures in the window: each gives its own clear message in
the status area and in the connection dialog's Test result, with no traceback and no hang, and no
password ever shows in what the window shows, what it saves or what it logs.

Real servers only: a redis-server with a password, one with ACL users (one of them without the
rights RQ needs), and socket servers in threads (one answering HTTP, one that never answers).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QAbstractButton, QLabel, QLineEdit, QStatusBar, QWidget

from tests.helpers import SocketServer, answer_http, never_answer
from tests.ui.qt_helpers import run, wait_until
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server
from thesis_console.core.profiles import ConnectionProfile, ad_hoc_profile
from thesis_console.ui.main_window import MainWindow

SECRET = "Sup3r-s3cret-pw"
WRONG = "n0t-the-Pa55word"
TIMEOUT_S = 2.0
"""Long enough that a connection attempt blocking the GUI thread (a stall of this length) stands out from
the stalls of a machine loaded by parallel test runs (up to about 1 s seen)."""
"""The profiles' timeout: a case must end well within a few of these, and the loop must keep turning."""


# ---------------------------------------------------------------------- servers
@pytest.fixture(scope="module")
def acl_server(tmp_path_factory) -> Iterator[EmbeddedRedis]:
    """A Redis whose default user needs SECRET, with a full user ``ops`` and a ``viewer`` that may
    only connect and read INFO (not the commands RQ needs)."""
    server = start_server(tmp_path_factory.mktemp("acl-redis"), free_port())
    admin = redis.Redis(port=server.port)
    admin.execute_command("ACL", "SETUSER", "ops", "on", f">{SECRET}", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "viewer", "on", f">{SECRET}", "~*", "+@connection", "+info")
    admin.config_set("requirepass", SECRET)
    admin.close()
    yield server
    with contextlib.suppress(redis.RedisError):
        redis.Redis(port=server.port, password=SECRET).config_set("requirepass", "")
    server.stop()


@pytest.fixture(scope="module")
def socket_servers() -> Iterator[dict[str, SocketServer]]:
    servers = {"http": SocketServer(answer_http), "silent": SocketServer(never_answer)}
    yield servers
    for server in servers.values():
        server.close()


# ---------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Case:
    profile: ConnectionProfile
    password: str | None
    phrase: str
    """What the message must say (each case's own words)."""
    connects: bool = False
    """The connection itself succeeds (the ACL case): the failure shows on the first read."""


def make_case(name: str, acl_server: EmbeddedRedis, socket_servers: dict[str, SocketServer]) -> Case:
    local = "127.0.0.1"

    def profile(url: str, **kw) -> ConnectionProfile:
        return ConnectionProfile(name=f"case {name}", url=url, timeout_s=TIMEOUT_S, **kw)

    cases = {
        "wrong password": Case(profile(f"redis://{local}:{acl_server.port}/0"), WRONG, "(wrong password)"),
        "wrong user": Case(
            profile(f"redis://{local}:{acl_server.port}/0", username="nobody"), SECRET,
            "user 'nobody' does not exist, is disabled, or has another password",
        ),
        "missing ACL rights": Case(
            profile(f"redis://{local}:{acl_server.port}/0", username="viewer"), SECRET,
            "lacks the ACL rights RQ needs", connects=True,
        ),
        "TLS to a plain port": Case(profile(f"rediss://{local}:{acl_server.port}/0"), None, "TLS mismatch"),
        "not a Redis": Case(profile(f"redis://{local}:{socket_servers['http'].port}/0"), None, "not a Redis"),
        "timeout": Case(profile(f"redis://{local}:{socket_servers['silent'].port}/0"), None, "did not answer in time"),
        "DNS failure": Case(profile("redis://no-such-host.invalid:6379/0"), None, "could not be resolved"),
    }  # fmt: skip
    return cases[name]


CASES = ["wrong password", "wrong user", "missing ACL rights", "TLS to a plain port", "not a Redis", "timeout", "DNS failure"]


class Heartbeat:
    """A 10 ms QTimer that records the gaps between its ticks: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = time.monotonic()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._beat)
        self.timer.start()

    def _beat(self) -> None:
        now = time.monotonic()
        self.gaps.append(now - self._last)
        self._last = now

    def stop(self) -> float:
        self.timer.stop()
        return max(self.gaps, default=0.0)


def window_texts(window: QWidget) -> str:
    """Everything the window shows as text: title, labels, buttons, line edits, status bar, tooltips."""
    parts = [window.windowTitle()]
    for widget in window.findChildren(QWidget):
        if isinstance(widget, QLineEdit) and widget.echoMode() != QLineEdit.EchoMode.Normal:
            continue  # a password field (of a dialog) shows dots, not its text
        parts.append(widget.toolTip())
        if isinstance(widget, QLabel | QAbstractButton | QLineEdit):
            parts.append(widget.text())
        elif isinstance(widget, QStatusBar):
            parts.append(widget.currentMessage())
    for action in window.actions():
        parts += [action.text(), action.toolTip()]
    return "\n".join(parts)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log record as a person would read it (message, arguments and traceback)."""
    return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


# ---------------------------------------------------------------------- tests
def assert_no_secret(text: str, where: str) -> None:
    for secret in (SECRET, WRONG):
        assert secret not in text, f"a password appears in {where}"


def tracebacks_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log records at WARNING or above that carry a traceback (a person would see it on stderr)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]


@pytest.mark.parametrize("name", CASES)
def test_each_failure_has_its_own_message(name, loop, window_factory, acl_server, socket_servers, caplog) -> None:
    """Connecting the window, and testing the profile in the connection dialog: the status area and the
    Test result say what is wrong in the case's own words, with no traceback and no password, and
    the event loop keeps turning while the window waits (at most the profile's timeout and the
    core's one-second slack for the probe)."""
    from thesis_console.ui.widgets.dialogs.connection import ConnectionDialog

    case = make_case(name, acl_server, socket_servers)
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        window: MainWindow = await window_factory(None, connect=False)
        beat = Heartbeat()
        started = time.monotonic()
        connected = await window.connect_profile(case.profile, case.password)
        took = time.monotonic() - started
        assert connected == case.connects, window.status_area.text()
        if case.connects:  # the ACL case: connected, and the first read is refused
            await wait_until(lambda: case.phrase in window.status_area.text(), 10, what=case.phrase)
            # A warning state, never a plain green "connected" next to the refusal.
            assert window.status_area.badge.text() == "connected, limited rights"
            assert window.status_area.badge.property("phase") == "limited"
        status = window.status_area.text()
        assert case.phrase in status, status
        for other in CASES:  # its own message: no other case's words
            other_phrase = make_case(other, acl_server, socket_servers).phrase
            assert other == name or other_phrase not in status, (other, status)
        assert "Traceback" not in status and "Error:" not in status, status
        assert_no_secret(status, "the status area")
        assert_no_secret(window_texts(window), "the window's texts")
        # No hang: the failure came within the profile's timeout plus the probe's slack (generous bound).
        assert took < TIMEOUT_S + 5, f"{name} took {took:.1f} s"

        # The connection dialog's Test says the same, without saving anything.
        dialog = ConnectionDialog(window.store, parent=window)
        dialog.show()
        dialog._show(None)
        dialog.name.setText(case.profile.name)
        dialog.url.setText(case.profile.url)
        dialog.username.setText(case.profile.username or "")
        dialog.password_edit.setText(case.password or "")
        dialog.timeout.setValue(case.profile.timeout_s)
        dialog.test_button.click()
        await wait_until(lambda: dialog.result_label.text() and not dialog.result_label.text().startswith("Testing"),
                         TIMEOUT_S + 5, what="the Test result")  # fmt: skip
        result = dialog.result_label.text()
        expected_start = "Connected" if case.connects else "Cannot connect"
        assert result.startswith(expected_start) and case.phrase in result, result
        assert all(other == name or make_case(other, acl_server, socket_servers).phrase not in result for other in CASES)
        assert dialog.result_label.property("role") == "field-error", "a failed test is shown as an error"
        assert_no_secret(result, "the Test result")
        assert_no_secret(dialog.windowTitle(), "the dialog's title")
        dialog.close()
        worst_gap = beat.stop()
        assert worst_gap < 0.75 * TIMEOUT_S, f"the event loop stalled {worst_gap:.2f} s"

    run(loop, scenario(), 40)
    assert_no_secret(logged(caplog), "the log")
    assert not tracebacks_logged(caplog), tracebacks_logged(caplog)


@pytest.fixture
def memory_keyring() -> Iterator[dict[tuple[str, str], str]]:
    """A working keyring for this test only: the keyring API's own backend class, kept in memory.

    The class is made here, not at import: keyring picks its backend among every subclass it knows
    when first used, and a module-level one would become the keyring of the whole test run.
    """
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    previous = keyring.get_keyring()
    entries: dict[tuple[str, str], str] = {}

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if entries.pop((service, username), None) is None:
                raise PasswordDeleteError("not found")

    keyring.set_keyring(MemoryKeyring())
    yield entries
    keyring.set_keyring(previous)


def test_no_password_in_settings_profiles_window_or_log(loop, window_factory, acl_server, tmp_path, caplog,
                                                        memory_keyring) -> None:  # fmt: skip
    """A profile saved with a password (the dialog puts it in the keyring), connected and tested with
    the stored password; then an ad-hoc URL with the password in it (as ``--url`` or ``REDIS_URL``
    would give): the password reaches the server, and nowhere else."""
    from thesis_console.ui.widgets.dialogs.connection import ConnectionDialog

    caplog.set_level(logging.DEBUG)
    profiles_file = tmp_path / "profiles.json"

    async def scenario() -> MainWindow:
        window: MainWindow = await window_factory(None, connect=False)
        dialog = ConnectionDialog(window.store, parent=window)
        dialog.show()
        dialog._show(None)
        dialog.name.setText("ops account")
        dialog.url.setText(f"redis://127.0.0.1:{acl_server.port}/0")
        dialog.username.setText("ops")
        dialog.password_edit.setText(SECRET)
        assert dialog.save_current() is not None
        assert "Password stored in the keyring" in dialog.result_label.text(), dialog.result_label.text()
        assert list(memory_keyring.values()) == [SECRET]
        assert_no_secret(dialog.result_label.text(), "the dialog's note")
        # Test with the stored password (read from the keyring in a worker thread).
        dialog.password_edit.clear()
        dialog.test_button.click()
        await wait_until(lambda: dialog.result_label.text().startswith(("Connected", "Cannot")), what="the test")
        assert dialog.result_label.text().startswith("Connected to"), dialog.result_label.text()
        dialog.connect_current()
        assert dialog.chosen is not None and dialog.password is None
        # Connect with the stored password, as the window does after the dialog.
        assert await window.connect_profile(dialog.chosen, dialog.password), window.status_area.text()
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        assert window.controller.worker_url() is None  # never on a command line
        assert_no_secret(window.status_area.text(), "the status area")
        assert_no_secret(window_texts(window), "the window's texts")

        # A URL with the password in it: shown redacted everywhere.
        url = f"redis://ops:{SECRET}@127.0.0.1:{acl_server.port}/0"
        assert await window.connect_profile(ad_hoc_profile(url)), window.status_area.text()
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        assert "127.0.0.1" in window.status_area.text()
        assert_no_secret(window.status_area.text(), "the status area")
        assert_no_secret(window_texts(window), "the window's texts")
        # The same URL with a wrong password: the failure is shown without it.
        bad = ad_hoc_profile(f"redis://ops:{WRONG}@127.0.0.1:{acl_server.port}/0")
        assert not await window.connect_profile(bad)
        assert "user name or password" in window.status_area.text()
        assert_no_secret(window.status_area.text(), "the status area")
        assert_no_secret(window_texts(window), "the window's texts")

        # The user and password in the query string (redis-py reads them there too): the same.
        query = f"redis://127.0.0.1:{acl_server.port}/0?username=ops&password={SECRET}"
        assert await window.connect_profile(ad_hoc_profile(query)), window.status_area.text()
        await wait_until(lambda: window.controller.snapshot is not None, what="a snapshot")
        assert window.controller.worker_url() is None  # never on a command line
        assert_no_secret(window.status_area.text(), "the status area")
        assert_no_secret(window_texts(window), "the window's texts")
        bad = ad_hoc_profile(f"redis://127.0.0.1:{acl_server.port}/0?username=ops&password={WRONG}")
        assert not await window.connect_profile(bad)
        assert "user name or password" in window.status_area.text(), window.status_area.text()
        assert_no_secret(window.status_area.text(), "the status area")
        assert_no_secret(window_texts(window), "the window's texts")
        window.settings.save_window(window, window.splitter_states())
        window.settings.store.sync()
        return window

    window = run(loop, scenario(), 40)
    settings_file = Path(window.settings.store.fileName())
    assert settings_file.exists() and "ops account" in settings_file.read_text()  # it did save the profile name
    assert_no_secret(settings_file.read_text(), "the settings file")
    assert "ops account" in profiles_file.read_text()
    assert_no_secret(profiles_file.read_text(), "the profiles file")
    assert_no_secret(logged(caplog), "the log")
