"""Where a profile's alert history and acknowledgements live: a JSON file in the per-user data folder.

``<data folder>/alerts/<profile>-<hash>.json`` (``THESIS_DATA_DIR`` moves the data folder), the hash
over the profile's name and its server's password-free URL, so that two servers checked under one
name (``check --url A`` and ``check --url B`` are both the profile "command line") keep two histories. The window and
``check`` (run by cron, say) may update it at the same time, so every change is a read-modify-write
under an exclusive ``flock`` on a lock file beside it, and the file is replaced atomically. Nothing of
it is kept in Redis: watching a queue never writes to the queue's server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from thesis_console.core.alerts.tracker import AlertTracker
from thesis_console.core.paths import user_data_root
from thesis_console.core.types import CoreError


def history_dir() -> Path:
    return user_data_root() / "alerts"


def history_path(profile: str, server: str = "", folder: Path | None = None) -> Path:
    """The file of ``profile`` on ``server``: the name made safe for a file name, and a hash of both
    so that neither two names nor two servers share a file."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", profile)[:60] or "profile"
    digest = hashlib.sha256(f"{profile}\n{server}".encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return (folder or history_dir()) / f"{safe}-{digest}.json"


class AlertHistory:
    """The saved :class:`AlertTracker` of one profile on one server.

    Args:
        profile: the connection profile's name.
        server: the server's URL without password (``Session.display_url``, ``ConnectionState.server``).
        folder: where the files are (the per-user data folder's ``alerts`` by default).
    """

    def __init__(self, profile: str, server: str = "", folder: Path | None = None) -> None:
        self.path = history_path(profile, server, folder)

    def load(self) -> AlertTracker:
        """The saved tracker (empty when there is none; a damaged file counts as empty)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return AlertTracker()
        except OSError as exc:
            raise CoreError(f"alert history {self.path}: cannot read it: {exc.strerror or exc}") from None
        try:
            return AlertTracker.from_json(json.loads(raw))
        except ValueError:
            return AlertTracker()

    @contextlib.contextmanager
    def editing(self) -> Iterator[AlertTracker]:
        """Load the tracker under the lock, let the caller change it, and save it when the block ends."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self.path.with_suffix(".lock"), "a+")  # noqa: SIM115 (held for the block)
        except OSError as exc:
            raise CoreError(f"alert history {self.path}: cannot write there: {exc.strerror or exc}") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            tracker = self.load()
            yield tracker
            self._save(tracker)

    def _save(self, tracker: AlertTracker) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".history-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(tracker.to_json(), fh)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise CoreError(f"alert history {self.path}: cannot save it: {exc.strerror or exc}") from None
