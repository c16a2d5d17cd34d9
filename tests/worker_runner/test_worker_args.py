"""The supervisor writes each worker's command line; the RQ and the BullMQ entry points read it back whole."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from worker_runner import bullmq_worker_main, worker_main
from worker_runner.config import WorkerBackend, resolve
from worker_runner.worker_process import worker_command


@pytest.mark.parametrize(
    ("backend", "entry", "own"),
    [
        (WorkerBackend.RQ, worker_main, {"queues": "thesis", "worker_class": "simple", "supervisor_id": "host-a"}),
        (WorkerBackend.BULLMQ, bullmq_worker_main, {"queue": "thesis", "prefix": "bull", "job_name": "generate-thesis"}),
    ],
)
def test_each_entry_point_reads_what_the_supervisor_writes(tmp_path, backend, entry, own):
    config = dataclasses.replace(
        resolve({"queues": "thesis", "worker_class": "simple", "log_level": "WARNING"}, environ={}),
        supervisor_id="host-a",
        backend=backend,
        log_dir=tmp_path,
        log_max_bytes=12345,
        log_backups=7,
    )
    command = worker_command(config, "host-a.x1-3", tmp_path / "host-a.x1-3.log", supervisor_pid=4242)
    assert command[2] == entry.__name__
    args = entry.build_parser().parse_args(command[3:])
    assert vars(args) == {
        "name": "host-a.x1-3",
        "log_file": Path(tmp_path / "host-a.x1-3.log"),
        "log_level": "WARNING",
        "log_max_bytes": 12345,
        "log_backups": 7,
        "supervisor_pid": 4242,
        **own,
    }
