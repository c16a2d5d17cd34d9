"""Connection and access failures through the core and the CLI: a wrong user or password, an ACL
user without the rights RQ needs, a server that stops answering in the middle of a page.

Each gives its own readable message, with no traceback and no hang longer than the timeout, and
no password ever appears in what a person sees.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import redis
import redis.asyncio as aredis

from thesis_console import cli
from thesis_console.core.embedded_redis import free_port, start_server
from thesis_console.core.reader import QueueReader
from thesis_console.core.types import CoreError, JobState

SECRET = "s3cret-Pa55"


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory):
    """A Redis with ACL users: a full one, a disabled default, and one without the rights RQ needs."""
    server = start_server(tmp_path_factory.mktemp("acl"), free_port())
    admin = redis.Redis.from_url(server.url)
    admin.execute_command("ACL", "SETUSER", "ops", "on", f">{SECRET}", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "viewer", "on", f">{SECRET}", "~*", "+@connection", "+info")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    admin.close()
    yield server
    ops = redis.Redis.from_url(server.url, username="ops", password=SECRET)
    ops.execute_command("ACL", "SETUSER", "default", "on", "nopass", "+@all", "~*")
    ops.close()
    server.stop()


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    return code, out + err


def test_right_user_works(acl_server, capsys):
    code, out = _cli(capsys, "--url", f"redis://ops:{SECRET}@127.0.0.1:{acl_server.port}/0", "status")
    assert code == 0, out


@pytest.mark.parametrize(
    ("userinfo", "phrase"),
    [
        (f"nobody:{SECRET}", "user name or password"),
        ("ops:wrong-password", "user name or password"),
    ],
)
def test_wrong_user_or_password_is_named(acl_server, capsys, userinfo, phrase):
    code, out = _cli(capsys, "--url", f"redis://{userinfo}@127.0.0.1:{acl_server.port}/0", "status")
    assert code == 3 and phrase in out
    assert "wrong-password" not in out


def test_a_user_without_the_rights_rq_needs(acl_server, capsys):
    url = f"redis://viewer:{SECRET}@127.0.0.1:{acl_server.port}/0"
    code, out = _cli(capsys, "--url", url, "status")
    assert code in (1, 3)
    assert "ACL" in out or "permission" in out.lower(), out


def test_redis_that_stops_answering_mid_page(redis_conn, redis_url):
    """CLIENT PAUSE freezes the server for every client: the page must end with a timeout message."""
    redis_conn.rpush("rq:queue:thesis", *[f"j{i}" for i in range(200)])
    redis_conn.sadd("rq:queues", "rq:queue:thesis")

    async def page_while_paused():
        client = aredis.Redis.from_url(redis_url)
        reader = QueueReader(client, timeout_s=1.0)
        first = await reader.page("thesis", JobState.WAITING, 0, 50)
        pauser = threading.Thread(target=lambda: redis.Redis.from_url(redis_url).execute_command("CLIENT", "PAUSE", 5000))
        pauser.start()
        pauser.join()
        started = time.monotonic()
        with pytest.raises(CoreError) as caught:
            await reader.page("thesis", JobState.WAITING, 50, 50)
        waited = time.monotonic() - started
        await client.aclose()
        return first, caught.value, waited

    first, error, waited = asyncio.run(page_while_paused())
    assert len(first.rows) == 50
    assert "did not answer" in str(error) or "timeout" in str(error).lower()
    assert waited < 4.5  # ended by our 1 s timeout, not by the 5 s pause
    assert redis_conn.ping()  # answered when the pause ends, so the next test finds a working server


def test_password_never_in_profiles_file(tmp_path, monkeypatch, capsys, acl_server):
    from thesis_console.core.profiles import ConnectionProfile, ProfileStore

    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "profiles.json"))
    store = ProfileStore(tmp_path / "profiles.json")
    profile = ConnectionProfile(name="acl", url=f"redis://127.0.0.1:{acl_server.port}/0", username="ops")
    store.save([*store.load(), profile])
    monkeypatch.setenv("THESIS_REDIS_PASSWORD", SECRET)
    code, out = _cli(capsys, "--profile", "acl", "--json", "status")
    assert code == 0, out
    json.loads(out)
    assert SECRET not in (tmp_path / "profiles.json").read_text()
