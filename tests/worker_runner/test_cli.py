from __future__ import annotations

import subprocess
import sys

from worker_runner import cli


def test_bad_option_is_a_clear_message_and_exit_2(capsys):
    assert cli.main(["--concurrency", "100"]) == 2
    assert "thesis-worker: --concurrency: must be 1 to 64, got 100" in capsys.readouterr().err


def test_bad_url_is_bad_usage(capsys):
    assert cli.main(["--url", "http://nowhere"]) == 2
    assert "must start with redis://" in capsys.readouterr().err


def test_ctl_names_a_missing_supervisor(redis_conn, redis_url, capsys):
    assert cli.main(["ctl", "resize", "--id", "nobody", "2", "--url", redis_url]) == 2
    assert "no live supervisor has id 'nobody'" in capsys.readouterr().err
    assert cli.main(["ctl", "resize", "2", "--url", redis_url]) == 2
    assert "say which supervisor" in capsys.readouterr().err
    assert cli.main(["ctl", "list", "--url", redis_url]) == 0
    assert "no live supervisors" in capsys.readouterr().out


def test_ctl_unreachable_redis_exits_3(capsys):
    assert cli.main(["ctl", "list", "--url", "redis://127.0.0.1:1/0"]) == 3
    assert "refused" in capsys.readouterr().err


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "worker_runner", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "THESIS_WORKER_CONCURRENCY" in out.stdout


def test_burst_runs_one_plain_worker_until_empty(redis_conn, redis_url):
    from rq.job import Job, JobStatus

    from thesis_console.core import contract

    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    out = subprocess.run([sys.executable, "-m", "worker_runner", "--burst", "--url", redis_url],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert Job.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER).get_status() == JobStatus.FINISHED


def test_ctl_reads_the_url_from_a_file(redis_conn, redis_url, tmp_path, capsys):
    path = tmp_path / "redis.url"
    path.write_text(redis_url + "\n")
    path.chmod(0o600)
    assert cli.main(["ctl", "list", "--url-file", str(path)]) == 0
    assert "no live supervisors" in capsys.readouterr().out
    path.chmod(0o640)
    assert cli.main(["ctl", "list", "--url-file", str(path)]) == 2
    assert "chmod 600" in capsys.readouterr().err
    assert cli.main(["ctl", "list", "--url-file", str(path), "--url", redis_url]) == 2
    assert "not both" in capsys.readouterr().err
