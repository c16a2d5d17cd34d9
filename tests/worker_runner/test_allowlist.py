"""Workers run only allowed functions: hostile jobs are failed unrun, their names never imported."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import pytest
from rq import Callback, Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from tests.helpers import wait_for
from thesis_console.core import contract
from thesis_console.core.job_allowlist import ALLOW_ENV, Allowlist
from worker_runner.allowlist import AllowlistedJob, FunctionNotAllowed, check_job, job_class_for
from worker_runner.worker import ThesisWorker


def _fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)


def _plugin(folder: Path, marker_dir: Path) -> str:
    """A module whose import leaves a file named after it in ``marker_dir``; returns its name."""
    name = f"sidefx_{uuid.uuid4().hex[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker_dir)!r}, {name + '.imported'!r}).touch()\n"
        "def run(*args, **kwargs):\n"
        f"    Path({str(marker_dir)!r}, {name + '.ran'!r}).touch()\n"
        "    return 'ran'\n"
        "def hook(*args, **kwargs):\n"
        f"    Path({str(marker_dir)!r}, {name + '.hook'!r}).touch()\n"
    )
    return name


def _failed(conn, job_id: str, timeout: float = 30.0) -> Job:
    return wait_for(
        lambda: (j := _fetch(conn, job_id)).get_status() == JobStatus.FAILED and j,
        timeout,
        message=f"job {job_id} to be failed",
    )


@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_supervised_workers_refuse_jobs_outside_the_allowlist(redis_conn, isolated_env, supervisors, worker_class):
    marks = isolated_env / "marks"
    marks.mkdir()
    plugin = _plugin(isolated_env / "plugins", marks)
    queue = contract.thesis_queue(redis_conn)
    retry = Retry(max=3, interval=[1])
    eval_code = f"__import__('pathlib').Path({str(marks)!r}, 'eval').touch()"
    hostile = {
        queue.enqueue("os.system", f"touch {marks / 'x'}", retry=retry).id: "function not allowed: os.system",
        queue.enqueue("builtins.eval", eval_code, retry=retry).id: "function not allowed: builtins.eval",
        queue.enqueue("eval", eval_code, retry=retry).id: "function not allowed: eval",
        queue.enqueue("exec", eval_code).id: "function not allowed: exec",
        queue.enqueue(f"{plugin}.run", retry=retry).id: f"function not allowed: {plugin}.run",
        queue.enqueue("tests.jobs.noop", on_success=Callback(f"{plugin}.hook")).id:
            f"success callback not allowed: {plugin}.hook",
        queue.enqueue("tests.jobs.boom", on_failure=Callback("os.system")).id: "failure callback not allowed: os.system",
        queue.enqueue("tests.jobs.noop", on_stopped=Callback(f"{plugin}.hook")).id:
            f"stopped callback not allowed: {plugin}.hook",
    }  # fmt: skip
    instance_job = queue.enqueue("tests.jobs.noop", retry=retry)
    redis_conn.hset(instance_job.key, "data", zlib.compress(json.dumps(["upper", "text", [], {}]).encode()))
    hostile[instance_job.id] = "method of a stored instance not allowed: upper"
    allowed = queue.enqueue("tests.jobs.noop").id

    sup = supervisors("-n", "1", "--worker-class", worker_class,
                      env={"PYTHONPATH": str(isolated_env / "plugins")})  # fmt: skip
    wait_for(lambda: _fetch(redis_conn, allowed).get_status() == JobStatus.FINISHED, 30, message="the allowed job")
    for job_id, reason in hostile.items():
        job = _failed(redis_conn, job_id)
        assert job.latest_result().exc_string == reason
        assert job_id in FailedJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False)
    for job_id in hostile:
        assert redis_conn.hget(f"rq:job:{job_id}", "retries_left") in (None, b"3")
        assert _fetch(redis_conn, job_id).retries_left in (None, 3)  # no retry was spent or scheduled
    assert redis_conn.zcard("rq:scheduled:thesis") == 0
    assert redis_conn.llen("rq:intermediate:thesis") == 0 and redis_conn.llen("rq:queue:thesis") == 0
    assert sorted(p.name for p in marks.iterdir()) == []  # nothing ran, the plugin was never imported
    logs = "".join(p.read_text() for p in sup.log_dir.glob("*.log"))
    assert f"refused job {instance_job.id}: method of a stored instance not allowed" in logs
    assert sup.worker_processes(), "the worker lives on after refusing"


def test_refusals_are_counted_as_failures_without_an_attempt(redis_conn, isolated_env, supervisors, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "")  # only the contract's job function
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.noop", retry=Retry(max=3))
    supervisors("-n", "1")
    failed = _failed(redis_conn, job.id)
    assert failed.latest_result().exc_string == "function not allowed: tests.jobs.noop"
    assert "attempts" not in failed.meta and failed.started_at is None and failed.ended_at is not None
    assert failed.retries_left == 3


def test_allow_flag_and_variable_extend_the_allowlist(redis_conn, isolated_env, supervisors):
    marks = isolated_env / "marks"
    marks.mkdir()
    by_flag = _plugin(isolated_env / "plugins", marks)
    by_env = _plugin(isolated_env / "plugins", marks)
    other = _plugin(isolated_env / "plugins", marks)
    queue = contract.thesis_queue(redis_conn)
    jobs = [queue.enqueue(f"{name}.run") for name in (by_flag, by_env, other)]
    env = {"PYTHONPATH": str(isolated_env / "plugins"), ALLOW_ENV: f"{by_env}.run"}

    first = supervisors("-n", "1", "--allow", f"{by_flag}.run", "--allow", "tests.jobs.noop", env=env)
    wait_for(lambda: _fetch(redis_conn, jobs[0].id).get_status() == JobStatus.FINISHED, 30, message="flag-allowed job")
    _failed(redis_conn, jobs[1].id)  # a flag replaces the variable, as for every option
    _failed(redis_conn, jobs[2].id)
    assert (marks / f"{by_flag}.ran").exists() and not (marks / f"{other}.imported").exists()

    assert first.terminate() == 0
    redis_conn.flushall()
    again = queue.enqueue(f"{by_env}.run")
    supervisors("-n", "1", suffix="b", env=env)
    wait_for(lambda: _fetch(redis_conn, again.id).get_status() == JobStatus.FINISHED, 30, message="env-allowed job")
    assert (marks / f"{by_env}.ran").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--allow", "os.*"], {}, "--allow: 'os.*' is a wildcard; name each function as module.func"),
        (["--allow", "eval"], {}, "--allow: 'eval' is not module.func"),
        ([], {ALLOW_ENV: "tests.jobs.noop,*"}, f"{ALLOW_ENV}: '*' is a wildcard"),
    ],
)
def test_wildcards_and_bare_names_are_refused(redis_url, args, env, message):
    out = subprocess.run(
        [sys.executable, "-m", "worker_runner", "--url", redis_url, "--burst", *args],
        capture_output=True, text=True, timeout=60, env={**__import__("os").environ, **env},
    )  # fmt: skip
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_burst_worker_refuses_too(redis_conn, isolated_env, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "")
    job = contract.thesis_queue(redis_conn).enqueue("os.system", f"touch {isolated_env / 'x'}")
    out = subprocess.run([sys.executable, "-m", "worker_runner", "--burst"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.FAILED
    assert not (isolated_env / "x").exists()


def test_cleanup_of_an_abandoned_job_never_imports_its_failure_callback(redis_conn, tmp_path, monkeypatch):
    """RQ's maintenance runs an abandoned job's failure callback: the job class refuses the name."""
    marks = tmp_path / "marks"
    marks.mkdir()
    plugin = _plugin(tmp_path / "plugins", marks)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    queue = contract.thesis_queue(redis_conn)
    job = queue.enqueue("tests.jobs.noop", on_failure=Callback(f"{plugin}.hook"))
    redis_conn.lrem("rq:queue:thesis", 0, job.id)
    redis_conn.hset(job.key, "status", "started")
    redis_conn.zadd("rq:wip:thesis", {f"{job.id}:gone": time.time() - 3600})
    worker = ThesisWorker(["thesis"], connection=redis_conn)
    worker.clean_registries()
    assert _fetch(redis_conn, job.id).get_status() == JobStatus.FAILED
    assert job.id not in StartedJobRegistry("thesis", connection=redis_conn).get_job_ids(cleanup=False)
    assert not (marks / f"{plugin}.imported").exists()
    assert plugin not in sys.modules


def test_job_class_refuses_names_wherever_rq_resolves_them(redis_conn):
    allowlist = Allowlist.of(["tests.jobs.noop"])
    job_class = job_class_for(allowlist)
    queue = contract.thesis_queue(redis_conn)
    for name in ("eval", "builtins.eval", "os.system"):
        job = job_class.fetch(queue.enqueue(name, "1").id, connection=redis_conn, serializer=contract.SERIALIZER)
        assert check_job(job, allowlist) == f"function not allowed: {name}"
        with pytest.raises(FunctionNotAllowed, match=f"function not allowed: {name}"):
            _ = job.func
    ok = job_class.fetch(
        queue.enqueue("tests.jobs.noop", on_success=Callback("os.system"), on_failure=Callback("eval")).id,
        connection=redis_conn, serializer=contract.SERIALIZER,
    )  # fmt: skip
    assert ok.func.__name__ == "noop"
    with pytest.raises(FunctionNotAllowed, match="success callback not allowed: os.system"):
        _ = ok.success_callback
    with pytest.raises(FunctionNotAllowed, match="failure callback not allowed: eval"):
        _ = ok.failure_callback
    assert ok.stopped_callback is None
    assert job_class_for(Allowlist.of()) is AllowlistedJob


def test_undecodable_data_is_refused_without_unpickling(redis_conn):
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    redis_conn.hset(job.key, "data", zlib.compress(b"\x80\x04\x95garbage."))
    fetched = AllowlistedJob.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER)
    assert check_job(fetched, Allowlist.of()) == "job data cannot be decoded (not a JSON function call)"


def zlib_bomb(unzipped_mib: int = 80) -> bytes:
    """zlib data of about 80 KiB that unzips to ``unzipped_mib`` MiB of JSON-looking spaces."""
    packer = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    return b"".join([packer.compress(chunk) for _ in range(unzipped_mib)] + [packer.flush()])


def test_a_zlib_bomb_is_refused_at_pickup_without_being_unzipped(redis_conn, isolated_env, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "")
    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    bomb = zlib_bomb()
    redis_conn.hset(job.key, "data", bomb)
    fetched = AllowlistedJob.fetch(job.id, connection=redis_conn, serializer=contract.SERIALIZER)
    assert len(fetched.data) < len(bomb)  # kept packed, never expanded
    reason = check_job(fetched, Allowlist.of())
    assert reason is not None and "unzips to more than 64 MiB" in reason
    out = subprocess.run([sys.executable, "-m", "worker_runner", "--burst"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    failed = _fetch(redis_conn, job.id)
    assert failed.get_status() == JobStatus.FAILED and "unzips to more than 64 MiB" in (failed.exc_info or "")
    assert redis_conn.hget(job.key, "data") == bomb  # the evidence is left as it was


def test_webhooks_named_by_a_job_are_not_sent(redis_conn, isolated_env, monkeypatch):
    """An allowed job with a webhook to an address inside the network: the job runs, no request is sent."""
    import http.server
    import threading

    from rq import Webhook

    received: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(self.path)
            self.send_response(204)
            self.end_headers()

        do_GET = do_POST  # noqa: N815  (RQ's webhooks GET by default)

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/internal-admin?token=secret"
        monkeypatch.setenv(ALLOW_ENV, "tests.jobs.noop")
        queue = contract.thesis_queue(redis_conn)
        ok = queue.enqueue("tests.jobs.noop", webhooks=[Webhook(url, "finished"), Webhook(url, "finished", method="POST")])
        boom = queue.enqueue("tests.jobs.boom", webhooks=[Webhook(url, "failed")])
        monkeypatch.setenv(ALLOW_ENV, "tests.jobs.noop,tests.jobs.boom")
        out = subprocess.run(
            [sys.executable, "-m", "worker_runner", "--burst"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert _fetch(redis_conn, ok.id).get_status() == JobStatus.FINISHED
        assert _fetch(redis_conn, boom.id).get_status() == JobStatus.FAILED
        assert received == []
        assert "webhook to 127.0.0.1 not sent" in out.stderr + out.stdout and "secret" not in out.stderr + out.stdout
    finally:
        server.shutdown()
