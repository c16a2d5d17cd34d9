"""The command line every supervised worker process shares, RQ or BullMQ: declared and written in one place.

The supervisor writes it (:func:`shared_arguments`, from :mod:`worker_runner.worker_process`) and each
worker entry point reads it (:func:`worker_parser`, from :mod:`worker_runner.worker_main` and
:mod:`worker_runner.bullmq_worker_main`), which add only their backend's own arguments. A worker then
starts the same way on both backends (:func:`start_worker_process`): it dies with the supervisor and
logs to its own rotating file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from worker_runner import parent_death
from worker_runner.worker_logs import setup_worker_logging

DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024


def worker_parser(prog: str, description: str | None, name_help: str) -> argparse.ArgumentParser:
    """A parser with the arguments every supervised worker takes: name, log file and rotation, supervisor pid."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--name", required=True, help=name_help)
    parser.add_argument("--log-file", type=Path, required=True)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-max-bytes", type=int, default=DEFAULT_LOG_MAX_BYTES)
    parser.add_argument("--log-backups", type=int, default=3)
    parser.add_argument("--supervisor-pid", type=int, default=0, help="die when this parent dies")
    return parser


def shared_arguments(
    name: str, log_file: Path, log_level: str, log_max_bytes: int, log_backups: int, supervisor_pid: int
) -> list[str]:
    """The arguments :func:`worker_parser` declares, as the supervisor passes them to a worker it starts."""
    return [
        "--name", name,
        "--log-file", str(log_file),
        "--log-level", log_level,
        "--log-max-bytes", str(log_max_bytes),
        "--log-backups", str(log_backups),
        "--supervisor-pid", str(supervisor_pid),
    ]  # fmt: skip


def start_worker_process(args: argparse.Namespace) -> None:
    """Die with the supervisor (the kernel's parent-death signal, else a watching thread), then log to the file."""
    if args.supervisor_pid and not parent_death.die_with_parent(args.supervisor_pid):
        parent_death.watch_parent(args.supervisor_pid, lambda: os._exit(1))
    setup_worker_logging(args.log_file, args.log_level, args.log_max_bytes, args.log_backups)
