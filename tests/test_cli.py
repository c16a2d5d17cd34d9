"""The headless CLI, in-process through ``cli.main`` and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis

from tests.burst_worker import run_burst
from thesis_console import cli
from thesis_console.core import contract
from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.profiles import ConnectionProfile, ProfileStore


@pytest.fixture(autouse=True)
def private_profiles(tmp_path, monkeypatch):
    """Every test gets its own profiles file and no inherited REDIS_URL or password."""
    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "profiles.json"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("THESIS_REDIS_PASSWORD", raising=False)
    return tmp_path / "profiles.json"


def call(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _failed_jobs(conn: redis.Redis, count: int) -> list[str]:
    queue = contract.thesis_queue(conn)
    ids = [queue.enqueue("tests.jobs.boom").id for _ in range(count)]
    run_burst(conn, ["thesis"])
    return ids


def test_status_text_and_json(capsys, redis_conn, redis_url):
    _failed_jobs(redis_conn, 2)
    code, out, _ = call(capsys, "status", "--url", redis_url)
    assert code == 0
    header, counts = out.splitlines()[2:4]
    assert header.split() == ["QUEUE", "BACKEND", "WAITING", "ACTIVE", "SCHEDULED", "DEFERRED", "COMPLETED", "FAILED", "CANCELED"]
    assert counts.split() == ["thesis", "rq", "0", "0", "0", "0", "0", "2", "0"]
    assert header.index("FAILED") + len("FAILED") == counts.index("2") + 1  # numbers right-aligned under headers
    code, out, _ = call(capsys, "--json", "status", "--url", redis_url)
    data = json.loads(out)
    assert code == 0 and data["queues"][0]["name"] == "thesis" and data["queues"][0]["failed"] == 2


def test_jobs_and_show(capsys, redis_conn, redis_url):
    ids = _failed_jobs(redis_conn, 3)
    code, out, _ = call(capsys, "jobs", "--queue", "thesis", "--state", "failed", "--limit", "2", "--offset", "1", "--json", "--url", redis_url)
    page = json.loads(out)
    assert code == 0 and page["total"] == 3 and page["offset"] == 1 and len(page["rows"]) == 2
    assert {r["id"] for r in page["rows"]} <= set(ids) and page["rows"][0]["state"] == "failed"
    code, out, _ = call(capsys, "jobs", "--state", "failed", "--url", redis_url)
    assert code == 0 and out.startswith("thesis / failed: rows 1-3 of 3") and "boom: planned test failure" in out
    code, out, _ = call(capsys, "show", ids[0], "--url", redis_url)
    assert code == 0 and out.splitlines()[0].split() == ["id", ids[0]] and "RuntimeError: boom" in out and "timeline:" in out
    code, out, _ = call(capsys, "show", ids[0], "--json", "--url", redis_url)
    detail = json.loads(out)
    assert detail["row"]["id"] == ids[0] and detail["function"] == "tests.jobs.boom"
    code, _, err = call(capsys, "show", "no-such-job", "--url", redis_url)
    assert code == 1 and "not found" in err


def test_enqueue_still_works(capsys, redis_conn, redis_url):
    code, out, _ = call(capsys, "enqueue", "--topic", "Command line theses", "--url", redis_url)
    job_id = out.strip()
    assert code == 0 and redis_conn.lrange("rq:queue:thesis", 0, -1) == [job_id.encode()]
    code, out, _ = call(capsys, "--url", redis_url, "enqueue", "--topic", "Later", "--queue", "other", "--delay", "30", "--json")
    assert code == 0 and redis_conn.zscore("rq:scheduled:other", json.loads(out)["id"])
    code, _, err = call(capsys, "enqueue", "--topic", "x", "--url", redis_url)
    assert code == 2 and "invalid request: topic" in err


def test_retry_cancel_delete_and_empty(capsys, redis_conn, redis_url):
    ids = _failed_jobs(redis_conn, 4)
    code, out, _ = call(capsys, "retry", ids[0], "--url", redis_url)
    assert code == 0 and out.strip() == "retry: 1 done"
    code, out, _ = call(capsys, "retry", ids[0], "no-such-job", "--url", redis_url, "--json")
    result = json.loads(out)
    assert code == 1 and result["done"] == [] and set(result["skipped"]) == {ids[0], "no-such-job"}
    code, out, _ = call(capsys, "retry", "--all", "--queue", "thesis", "--url", redis_url, "--json")
    assert code == 0 and sorted(json.loads(out)["done"]) == sorted(ids[1:])
    code, out, _ = call(capsys, "cancel", *ids[:2], "--url", redis_url)
    assert code == 0 and out.strip() == "cancel: 2 done"
    code, out, _ = call(capsys, "delete", ids[2], "--url", redis_url)
    assert code == 0 and not redis_conn.exists(f"rq:job:{ids[2]}")
    code, out, _ = call(capsys, "stop", ids[3], "--url", redis_url)
    assert code == 1 and "a waiting job is not running" in out
    code, _, err = call(capsys, "empty", "--queue", "thesis", "--state", "canceled", "--url", redis_url)
    assert code == 2 and "add --yes" in err and redis_conn.zcard("rq:canceled:thesis") == 2
    code, out, _ = call(capsys, "empty", "--queue", "thesis", "--state", "canceled", "--yes", "--url", redis_url)
    assert code == 0 and out.strip() == "empty: 2 done" and redis_conn.zcard("rq:canceled:thesis") == 0


def test_retry_reports_broken_and_queued_jobs_and_promote_enqueues_now(capsys, redis_conn, redis_url):
    good = _failed_jobs(redis_conn, 1)[0]
    redis_conn.hset("rq:job:half-written", "status", "failed")
    redis_conn.zadd("rq:failed:thesis", {"half-written": time.time() + 60})
    queued = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop").id
    redis_conn.zadd("rq:failed:thesis", {queued: time.time() + 60})
    code, out, _ = call(capsys, "retry", "--all", "--queue", "thesis", "--url", redis_url)
    assert code == 1 and out.startswith("retry: 1 done, 2 skipped")
    assert "half-written" in out and "broken job hash: half-written: origin, data, created_at missing" in out
    assert f"{queued}  already queued" in out
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [queued.encode(), good.encode()]

    later = contract.thesis_queue(redis_conn).enqueue_in(timedelta(hours=1), "tests.jobs.noop").id
    code, out, _ = call(capsys, "promote", later, queued, "--url", redis_url, "--json")
    assert code == 1 and json.loads(out) == {
        "action": "promote", "backend": "rq", "done": [later], "skipped": {queued: "a waiting job is already queued"}
    }  # fmt: skip
    assert redis_conn.lindex("rq:queue:thesis", -1) == later.encode()


def test_many_skipped_jobs_are_summarised(capsys, redis_conn, redis_url):
    ids = [f"gone-{i}" for i in range(25)]
    code, out, _ = call(capsys, "cancel", *ids, "--url", redis_url)
    assert code == 1
    assert "25 x no such job" in out and "(use --json to list every skipped job)" in out
    assert "gone-3" not in out


def test_profiles_listing_and_read_only_profile(capsys, redis_conn, redis_url, private_profiles):
    ProfileStore(private_profiles).save([ConnectionProfile(name="ro", url=redis_url, read_only=True, queues=("thesis",))])
    code, out, _ = call(capsys, "profiles")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["PROFILE", "URL", "USER", "READ-ONLY"]
    assert any(line.startswith("ro ") and redis_url in line and " yes " in line for line in lines)
    code, out, _ = call(capsys, "profiles", "--json")
    names = [p["name"] for p in json.loads(out)["profiles"]]
    assert names == ["Local (embedded)", "ro"]
    ids = _failed_jobs(redis_conn, 1)
    code, _, err = call(capsys, "retry", ids[0], "--profile", "ro")
    assert code == 1 and "read-only profile: retry refused" in err
    code, out, _ = call(capsys, "status", "--profile", "ro", "--json")
    assert code == 0 and [q["name"] for q in json.loads(out)["queues"]] == ["thesis"]


@pytest.mark.parametrize(
    "argv",
    [
        ["jobs", "--state", "sleeping"],
        ["jobs", "--state", "failed", "--limit", "0"],
        ["jobs", "--state", "failed", "--offset", "-3"],
        ["retry"],
        ["retry", "abc", "--all"],
        ["status", "--url", "http://example.com"],
        ["status", "--url", "redis://x", "--profile", "y"],
        ["status", "--profile", "nobody"],
        ["frobnicate"],
    ],
)
def test_bad_usage_exits_2_with_a_message(capsys, argv):
    code, out, err = call(capsys, *argv)
    assert code == 2 and err.strip() and "Traceback" not in err


def test_unreachable_redis_exits_3(capsys, tmp_path, monkeypatch):
    code, out, err = call(capsys, "status", "--json", "--url", f"redis://127.0.0.1:{free_port()}/0")
    assert code == 3 and "refused" in err and json.loads(out)["exit_code"] == 3


def test_password_from_the_environment(capsys, tmp_path, monkeypatch):
    server = start_server(tmp_path / "pw", free_port())
    try:
        redis.Redis(port=server.port).config_set("requirepass", "pw-from-env")
        url = f"redis://127.0.0.1:{server.port}/0"
        code, _, err = call(capsys, "status", "--url", url)
        assert code == 3 and "needs a password and none was given" in err
        monkeypatch.setenv("THESIS_REDIS_PASSWORD", "pw-from-env")
        code, out, err = call(capsys, "status", "--url", url)
        assert code == 0 and out.startswith("Redis ")
        redis.Redis(port=server.port, password="pw-from-env").config_set("requirepass", "")
    finally:
        server.stop()


def test_redis_url_environment_is_the_default(capsys, redis_conn, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    code, out, _ = call(capsys, "status")
    assert code == 0 and redis_url in out.splitlines()[0]


def test_help_documents_exit_codes_and_gui_hand_off(capsys):
    code, out, _ = call(capsys, "--help")
    assert code == 0 and "3  Redis unreachable" in out and "2  bad usage" in out
    assert cli.main([], gui=lambda args: 42) == 42
    assert cli.main([]) == 2


def test_as_a_subprocess(redis_conn, redis_url):
    _failed_jobs(redis_conn, 1)
    ok = subprocess.run(
        [sys.executable, "-m", "thesis_console", "status", "--json", "--url", redis_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["queues"][0]["failed"] == 1
    down = subprocess.run(
        [sys.executable, "-m", "thesis_console", "retry", "--all", "--url", f"redis://127.0.0.1:{free_port()}/0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert down.returncode == 3 and "refused" in down.stderr and "Traceback" not in down.stderr
