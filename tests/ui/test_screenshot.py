"""The screenshot command (ui/screenshot.py), run as a user would, in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from PySide6.QtGui import QImage
from rq import SimpleWorker

from thesis_console.core import contract
from thesis_console.core.supervisor_protocol import record_key

QUEUE = "thesis"


def test_screenshot_command_writes_a_png(tmp_path, redis_conn, redis_url) -> None:
    queue = contract.thesis_queue(redis_conn, QUEUE)
    queue.enqueue("tests.jobs.boom", description="boom")
    SimpleWorker([queue], connection=redis_conn, serializer=contract.SERIALIZER).work(burst=True)
    out = tmp_path / "failed.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "THESIS_DATA_DIR": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "failed", "--url", redis_url,
         "--size", "1200x800"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)
    bad = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "nope"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def _processes_mentioning(text: str) -> list[int]:
    """Pids of running processes (not zombies) whose command line contains ``text``."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(process.info["cmdline"] or ()):
                found.append(process.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_screenshot_of_local_workers_starts_then_stops_a_supervisor(tmp_path, redis_conn, redis_url) -> None:
    """``--view local``: the dock with a supervisor started through the panel (slider at 3), its workers
    live and a worker's log shown; after the grab the supervisor is stopped warmly and nothing is left."""
    import json

    import psutil

    # Its own queue: the workers take nothing from other tests, and the check for processes left
    # behind (which looks at every process of the machine) does not see another test run's.
    queue = f"shot-local-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    out = tmp_path / "local.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "THESIS_DATA_DIR": str(data),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "local", "--url", redis_url,
         "--queue", queue, "--size", "1280x900"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "did not stop" not in proc.stderr, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 900)
    # Non-trivial: the dock's part of the picture (controls and log text) has many colours.
    colours = {image.pixel(x, y) for x in range(0, 1280, 3) for y in range(560, 880, 3)}
    assert len(colours) > 40, len(colours)

    # The supervisor the panel started: its status lines say it ran 3 workers on our queue and stopped.
    runs = sorted((data / "console-supervisors").glob("*.out"))
    assert len(runs) == 1
    lines = [json.loads(line) for line in runs[0].read_text().splitlines() if line.startswith("{")]
    assert any(line.get("live") == 3 and line.get("queues") == [queue] for line in lines), lines[-3:]
    assert lines[-1]["event"] == "stopped", lines[-1]
    pid = lines[-1]["pid"]
    workers = [name for line in lines for name in line.get("workers", [])]
    assert workers, "the status lines name the workers"
    # Nothing left behind: not the supervisor, not a worker, not its record or workers in Redis.
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _processes_mentioning(str(data)) == [] and _processes_mentioning(f"--queue {queue}") == []
    assert not redis_conn.exists(record_key(lines[-1]["id"]))
    registered = {w.decode() for w in redis_conn.smembers("rq:workers")}
    assert not {f"rq:worker:{name}" for name in workers} & registered


def test_screenshot_reports_an_unreachable_redis(tmp_path) -> None:
    from thesis_console.core.embedded_redis import free_port

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(tmp_path / "x.png"),
         "--url", f"redis://127.0.0.1:{free_port()}/0"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3
    assert "refused" in proc.stderr and "Traceback" not in proc.stderr


def test_screenshot_of_a_deep_position_in_a_state(tmp_path, redis_conn, redis_url) -> None:
    from tests.core.bulk_jobs import write_jobs
    from thesis_console.core.types import JobState

    write_jobs(redis_conn, QUEUE, JobState.COMPLETED, 5_000)
    out = tmp_path / "deep.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "THESIS_DATA_DIR": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "THESIS_PROFILES": str(tmp_path / "profiles.json")}  # fmt: skip

    def shoot(*extra: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "thesis_console", "screenshot", "--out", str(out), "--view", "jobs",
                   "--url", redis_url, "--size", "1280x800", *extra]  # fmt: skip
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)

    proc = shoot("--state", "completed", "--position", "4000")
    assert proc.returncode == 0, proc.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    past = shoot("--state", "completed", "--position", "5001")
    assert past.returncode == 3 and "--position 5001 is outside the 5,000 completed jobs" in past.stderr
    wrong = shoot("--state", "finished")
    assert wrong.returncode != 0 and "--state must be one of waiting, " in wrong.stderr
