"""Passwords of connection profiles: in the OS keyring, or asked each time. Never in a plain file.

The keyring entry is service ``thesis-console``, user name = the profile's name. On a machine without
a usable keyring backend (a headless server, a desktop without Secret Service) nothing is stored:
:func:`set_password` says so, and the front end asks for the password whenever it connects, through a
:data:`PasswordProvider` (the GUI shows a dialog; the CLI reads ``THESIS_REDIS_PASSWORD`` or prompts
with ``getpass`` on a terminal).
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
from collections.abc import Callable

import keyring
import keyring.errors

from thesis_console.core.profiles import ConnectionProfile
from thesis_console.core.types import CoreError

log = logging.getLogger(__name__)

SERVICE = "thesis-console"
PASSWORD_ENV = "THESIS_REDIS_PASSWORD"
NO_KEYRING_MESSAGE = "no keyring available: the password will be asked each time"

PasswordProvider = Callable[[ConnectionProfile], "str | None"]
"""Asks for the password of a profile (a dialog, a prompt); None when the person gives none."""


def keyring_available() -> bool:
    """True when a real keyring backend is configured (not keyring's ``fail`` or ``null`` backends).

    Nothing is read from the keyring here, so no unlock prompt appears.
    """
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration counts as none
        log.info("keyring is not usable: %s", exc)
        return False
    return _usable(backend)


def _usable(backend: object) -> bool:
    from keyring.backends import chainer, fail

    if isinstance(backend, fail.Keyring):
        return False
    module = type(backend).__module__
    if module.endswith("backends.null"):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(_usable(b) for b in backend.backends)
    priority = getattr(backend, "priority", 1)
    try:
        return float(priority) > 0
    except (TypeError, ValueError):
        return True


def get_password(profile: ConnectionProfile) -> str | None:
    """The password stored for ``profile``, or None (none stored, or no usable keyring)."""
    if not keyring_available():
        return None
    try:
        return keyring.get_password(SERVICE, profile.name)
    except keyring.errors.KeyringError as exc:
        log.warning("could not read the password of profile %r from the keyring: %s", profile.name, exc)
        return None


def set_password(profile: ConnectionProfile, password: str) -> None:
    """Store the password of ``profile`` in the keyring.

    Raises:
        CoreError: there is no usable keyring (``no keyring available: the password will be asked
            each time``), or the keyring refused (locked, denied); the password is then not kept.
    """
    if not password:
        raise CoreError("the password is empty; use delete_password to forget a stored one")
    if not keyring_available():
        raise CoreError(NO_KEYRING_MESSAGE)
    try:
        keyring.set_password(SERVICE, profile.name, password)
    except keyring.errors.KeyringError as exc:
        raise CoreError(f"the keyring refused to store the password of {profile.name!r}: {exc}") from None


def delete_password(profile: ConnectionProfile) -> bool:
    """Forget the stored password of ``profile``; True when one was removed."""
    if not keyring_available():
        return False
    try:
        keyring.delete_password(SERVICE, profile.name)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise CoreError(f"the keyring refused to delete the password of {profile.name!r}: {exc}") from None
    return True


def has_password(profile: ConnectionProfile) -> bool:
    """True when the keyring holds a password for ``profile``."""
    return get_password(profile) is not None


def password_for(profile: ConnectionProfile, provider: PasswordProvider | None = None) -> str | None:
    """The password to connect with: the keyring's, else whatever ``provider`` gives (asked each time)."""
    stored = get_password(profile)
    if stored is not None:
        return stored
    return provider(profile) if provider is not None else None


def env_password(profile: ConnectionProfile) -> str | None:
    """The CLI's non-interactive source: ``THESIS_REDIS_PASSWORD``, or None."""
    return os.environ.get(PASSWORD_ENV) or None


def terminal_prompt(profile: ConnectionProfile) -> str | None:
    """The CLI's interactive source: ``getpass`` on a terminal, None when stdin is not one."""
    if not sys.stdin.isatty():
        return None
    try:
        return getpass.getpass(f"Password for {profile.name} ({profile.display_url}): ") or None
    except (EOFError, KeyboardInterrupt):
        return None
