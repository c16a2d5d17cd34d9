"""The bad-input corpus through both command-line tools, and the terminal-escape cases through ``jobs``,
``show`` and ``status``: a clear message and exit 2, never a traceback, never a password, never a raw
control character on the terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.corpus import bad_input, hostile_data
from thesis_console import cli
from worker_runner import cli as worker_cli


def _filled(argv: list[str], redis_url: str) -> list[str]:
    base = redis_url.rsplit("/", 1)[0]
    return [a.replace("{url}", base) for a in argv]


def _checked(out: str, phrase: str) -> None:
    assert "Traceback" not in out, out
    assert bad_input.PASSWORD not in out, out
    assert phrase in out, out
    assert not any(c in out for c in hostile_data.RAW_CONTROLS), out


@pytest.fixture(autouse=True)
def _private(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "profiles.json"))
    monkeypatch.setenv("THESIS_DATA_DIR", str(tmp_path / "data"))
    # Input that slipped through must fail here, not start an embedded Redis or a long-running worker.
    monkeypatch.setenv("THESIS_REDIS_SERVER", str(tmp_path / "no-redis-server"))
    monkeypatch.delenv("THESIS_WORKER_URL_FILE", raising=False)


@pytest.mark.parametrize(("argv", "phrase"), bad_input.CONSOLE, ids=repr)
def test_console_bad_input_is_exit_2(argv, phrase, redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    code = cli.main(_filled(argv, redis_url))
    out, err = capsys.readouterr()
    _checked(out + err, phrase)
    assert code == 2, out + err


@pytest.mark.parametrize(("argv", "phrase"), bad_input.WORKER, ids=repr)
def test_worker_bad_input_is_exit_2(argv, phrase, redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", redis_url)
    try:
        code = worker_cli.main([*_filled(argv, redis_url), "--burst"])  # --burst: what slips through ends
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out, err = capsys.readouterr()
    _checked(out + err, phrase)
    assert code == 2, out + err


@pytest.mark.parametrize(
    "argv",
    [
        [b"show", b"\xff"],
        [b"enqueue", b"--topic", b"caf\xe9 \xff"],
        [b"jobs", b"--queue", b"\xff", b"--state", b"waiting"],
    ],
)
def test_real_non_utf8_arguments(argv, redis_url):
    """The bytes as a shell passes them ($'\\xff'), in a real process."""
    done = subprocess.run([sys.executable.encode(), b"-m", b"thesis_console", *argv], capture_output=True,
                          timeout=60, env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"})  # fmt: skip
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "not valid UTF-8" in err and "Traceback" not in err, err
    assert b"\xff" not in done.stderr


def test_worker_non_utf8_queue_in_a_real_process(redis_url):
    done = subprocess.run([sys.executable.encode(), b"-m", b"worker_runner", b"--queue", b"\xff", b"--burst"],
                          capture_output=True, timeout=60, env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"})  # fmt: skip
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2 and "\\xff" in err and "Traceback" not in err, err


# ---------------------------------------------------------------------- control characters from Redis
@pytest.fixture
def corpus(redis_conn, tmp_path):
    return hostile_data.load(redis_conn, tmp_path / "markers", big_args_mb=1)


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["jobs", "--queue", hostile_data.QUEUE, "--state", "waiting"],
        ["show", "term-escapes"],
        ["--json", "status"],
        ["--json", "jobs", "--queue", hostile_data.QUEUE, "--state", "waiting"],
        ["--json", "show", "term-escapes"],
    ],
)
def test_control_sequences_from_redis_never_reach_the_terminal(argv, redis_url, corpus, capsys):
    code = cli.main(["--url", redis_url, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert not any(c in out + err for c in hostile_data.RAW_CONTROLS), repr(out)
    if "--json" not in argv:
        # Shown escaped, not dropped: the operator can still see that something odd is there.
        assert "\\x1b" in out
    if argv[-1] == "term-escapes":
        assert "window title taken" in out and "screen cleared" in out
    if argv == ["status"]:
        assert "esc\\x1b[2Jworker" in out and "esc\\x1b]0;q\\x07queue" in out
