"""Per-worker log files: one rotating file per worker, named after the worker, in the log folder.

The supervisor opens ``{log_dir}/{worker_name}.log`` as the worker's stdout and stderr, so that even
an import error is kept. The worker then logs through :class:`WorkerLogHandler`, which rotates the
file at a size limit and points file descriptors 1 and 2 at the new file after each rotation, so
that what jobs print (and the work horses they run in) lands in the current file too. Only the
worker's own process rotates: its forked horse shares the handler but must not rename the file
under its parent.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from thesis_console.core.paths import user_data_root

LOG_SUFFIX = ".log"
KEEP_DEAD_WORKER_LOGS = 20
"""How many log files of workers that are gone a supervisor keeps (the newest), per supervisor."""
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def default_log_dir() -> Path:
    """``THESIS_DATA_DIR/worker-logs`` when that variable is set, else the per-user data folder's."""
    return user_data_root() / "worker-logs"


def log_path(log_dir: Path, worker_name: str) -> Path:
    return log_dir / f"{worker_name}{LOG_SUFFIX}"


class WorkerLogHandler(logging.handlers.RotatingFileHandler):
    """A size-rotating file handler that keeps stdout and stderr on the current file."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._owner_pid = os.getpid()
        self._point_std_streams()

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 (logging's name)
        return os.getpid() == self._owner_pid and bool(super().shouldRollover(record))

    def doRollover(self) -> None:  # noqa: N802 (logging's name)
        super().doRollover()
        self._point_std_streams()

    def _point_std_streams(self) -> None:
        if self.stream is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        fd = self.stream.fileno()
        for target in (1, 2):
            with contextlib.suppress(OSError):
                os.dup2(fd, target)


def setup_worker_logging(path: Path, level: str, max_bytes: int, backups: int) -> None:
    """Send every log record of this worker process to its rotating file."""
    handler = WorkerLogHandler(path, max_bytes, backups)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def prune_old_logs(log_dir: Path, prefix: str, live_names: set[str], keep: int = KEEP_DEAD_WORKER_LOGS) -> int:
    """Delete the log files (and rotated parts) of gone workers named ``prefix*``, beyond the newest ``keep``.

    Returns:
        How many workers' logs were deleted.
    """
    try:
        files = [p for p in log_dir.iterdir() if p.name.startswith(prefix) and p.name.endswith(LOG_SUFFIX)]
    except OSError:
        return 0
    dead = [p for p in files if p.name[: -len(LOG_SUFFIX)] not in live_names]
    dead.sort(key=lambda p: _mtime(p), reverse=True)
    removed = 0
    for path in dead[keep:]:
        for part in [path, *path.parent.glob(path.name + ".*")]:
            with contextlib.suppress(OSError):
                part.unlink()
        removed += 1
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
