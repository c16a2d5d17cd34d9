"""``thesis-console pause|resume|stop-supervisor|restart-supervisor|stop-worker`` in-process, against a real Redis."""

from __future__ import annotations

import json

from tests.test_cli import call, private_profiles  # noqa: F401 (the autouse fixture)
from thesis_console.core import queue_pause
from thesis_console.core.profiles import ConnectionProfile, ProfileStore


def test_pause_shows_in_status_and_resume_clears_it(capsys, redis_conn, redis_url):
    code, out, _ = call(capsys, "pause", "--queue", "thesis", "--url", redis_url)
    assert code == 0 and out.startswith("queue thesis is paused (by ") and " since " in out
    assert queue_pause.is_paused(redis_conn, "thesis")
    code, out, _ = call(capsys, "status", "--url", redis_url)
    header, row = out.splitlines()[2:4]
    assert header.split()[-1] == "PAUSED" and row.split()[0] == "thesis" and row.split()[-1] == "paused"
    assert "queue thesis is paused by " in out
    code, out, _ = call(capsys, "status", "--url", redis_url, "--json")
    (queue,) = json.loads(out)["queues"]
    assert queue["paused"] is True and "@" in queue["paused_by"] and queue["paused_at"] > 0
    code, out, _ = call(capsys, "resume", "--queue", "thesis", "--url", redis_url, "--json")
    assert code == 0 and json.loads(out) == {"queue": "thesis", "paused": False, "was_paused": True}
    code, out, _ = call(capsys, "resume", "--queue", "thesis", "--url", redis_url)
    assert code == 0 and out.strip() == "queue thesis was not paused"
    code, out, _ = call(capsys, "status", "--url", redis_url)
    assert "PAUSED" not in out


def test_pause_json_and_bad_queue_name(capsys, redis_conn, redis_url):
    code, out, _ = call(capsys, "pause", "--queue", "bulk", "--url", redis_url, "--json")
    data = json.loads(out)
    assert code == 0 and data["queue"] == "bulk" and data["paused"] is True and data["at"] > 0
    code, _, err = call(capsys, "pause", "--queue", "a b", "--url", redis_url)
    assert code == 2 and "is not allowed" in err


def test_read_only_profile_refuses_every_control_command(capsys, redis_conn, redis_url, private_profiles):  # noqa: F811
    ProfileStore(private_profiles).save([ConnectionProfile(name="ro", url=redis_url, read_only=True)])
    for argv, what in (
        (["pause", "--queue", "thesis"], "pause"),
        (["resume", "--queue", "thesis"], "resume"),
        (["stop-supervisor", "sup-1"], "stop supervisor"),
        (["restart-supervisor", "sup-1"], "restart supervisor"),
        (["stop-worker", "w-1"], "stop worker"),
    ):
        code, _, err = call(capsys, *argv, "--profile", "ro")
        assert code == 1 and f"read-only profile: {what} refused" in err, (argv, err)
    assert not queue_pause.paused_names(redis_conn)


def test_control_of_missing_supervisors_and_workers_says_so(capsys, redis_conn, redis_url):
    code, _, err = call(capsys, "stop-supervisor", "nobody", "--url", redis_url)
    assert code == 1 and "supervisor nobody is not running" in err
    code, _, err = call(capsys, "restart-supervisor", "nobody", "--url", redis_url)
    assert code == 1 and "supervisor nobody is not running" in err
    code, _, err = call(capsys, "stop-worker", "nobody", "--url", redis_url)
    assert code == 1 and "worker nobody is not running" in err


def test_help_lists_the_control_commands(capsys):
    code, out, _ = call(capsys, "--help")
    assert code == 0
    for command in ("pause", "resume", "stop-supervisor", "restart-supervisor", "stop-worker"):
        assert f"    {command}" in out
