"""BullMQ queue names found by a key walk, kept between runs of a one-shot command.

Without a list of queues in the profile, BullMQ queues are found by walking the key space (see
:func:`~thesis_console.core.bullmq.reader.find_queues`): at a million keys that is about 20 round
trips and a second of Redis time, too much for ``thesis-console check`` run by cron every minute. The
names found are kept in a small file per profile, server and prefix; a run within
:data:`REUSE_S` of the walk checks just those names (one round trip) and walks again after. A queue
created meanwhile shows up after that time; a queue removed meanwhile drops out at once.

Example::

    known = KnownQueues.of("prod", "redis://host:6379/0", "bull")
    names = known.load()          # None: none kept, or kept too long ago
    known.save(["thesis-generation"])
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from thesis_console.core.alerts.history import history_path
from thesis_console.core.paths import user_data_root

REUSE_S = 600.0
"""How long names found by a walk are used instead of walking again."""


class KnownQueues:
    """The kept BullMQ queue names of one profile on one server under one prefix (a JSON file)."""

    def __init__(self, path: Path, reuse_s: float = REUSE_S) -> None:
        self.path = path
        self.reuse_s = reuse_s

    @classmethod
    def of(cls, profile: str, server: str, prefix: str, folder: Path | None = None) -> KnownQueues:
        """The file for ``profile`` on ``server`` (its URL without password) and ``prefix``."""
        return cls(history_path(profile, f"{server}\n{prefix}", folder or user_data_root() / "bullmq-queues"))

    def load(self, now: float | None = None) -> list[str] | None:
        """The kept names, or None when there are none, they are older than the reuse time, or the
        file is not what this module writes (it is then walked again and rewritten)."""
        now = time.time() if now is None else now
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            found_at, names = float(data["found_at"]), data["queues"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        if not 0 <= now - found_at < self.reuse_s:
            return None
        return names

    def save(self, names: Sequence[str], now: float | None = None) -> None:
        """Keep ``names`` as found at ``now``; a file that cannot be written is skipped (the next run walks)."""
        data = {"found_at": time.time() if now is None else now, "queues": list(names)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(data), encoding="utf-8")
            partial.replace(self.path)
        except OSError:
            pass
