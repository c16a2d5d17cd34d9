"""``thesis-console profiles add|edit|remove|test``: profiles without the window, against a real redis-server.

The keyring is an in-memory backend (or keyring's ``fail`` backend, for a machine without one).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator

import keyring
import pytest
import redis
from keyring.backends import fail

from tests.core.test_profiles import MemoryKeyring
from thesis_console import cli
from thesis_console.core import credentials
from thesis_console.core.embedded_redis import EmbeddedRedis, free_port, start_server
from thesis_console.core.profiles import ConnectionProfile, ProfileStore

SECRET = "Kp2-profile-secret"


@pytest.fixture(scope="module")
def password_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = start_server(tmp_path_factory.mktemp("pw-redis"), free_port())
    redis.Redis.from_url(server.url).config_set("requirepass", SECRET)
    yield server
    server.stop()


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def profiles_file(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "profiles.json"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("THESIS_REDIS_PASSWORD", raising=False)
    return tmp_path / "profiles.json"


def call(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert SECRET not in out + err
    return code, out + err


def _saved(name: str) -> ConnectionProfile:
    return ProfileStore().get(name)


def test_add_every_field_and_the_password_goes_to_the_keyring(
    capsys, monkeypatch, profiles_file, memory_keyring, tmp_path, password_server
):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "me.pem", "me.key"))
    for path in (ca, cert, key):
        path.write_text("x")
    code, out = call(
        capsys, "profiles", "add", "prod", "--url", "rediss://redis.example.com:6380/1", "--user", "console",
        "--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key), "--read-only", "--trust-pickle",
        "--queue", "thesis", "--queue", "reports", "--timeout", "3", "--password-stdin",
        stdin=SECRET + "\n", monkeypatch=monkeypatch,
    )  # fmt: skip
    assert code == 0 and "profile 'prod' added" in out and "password stored in the keyring" in out, out
    assert _saved("prod") == ConnectionProfile(
        name="prod", url="rediss://redis.example.com:6380/1", username="console", read_only=True,
        trust_pickle=True, queues=("thesis", "reports"), tls_ca_file=str(ca), tls_cert_file=str(cert),
        tls_key_file=str(key), timeout_s=3.0,
    )  # fmt: skip
    assert memory_keyring.entries == {(credentials.SERVICE, "prod"): SECRET}
    assert SECRET not in profiles_file.read_text()
    code, out = call(capsys, "profiles")
    assert code == 0 and "prod" in out and "stored" in out
    code, out = call(capsys, "profiles", "--json")
    listed = {p["name"]: p for p in json.loads(out)["profiles"]}
    assert listed["prod"]["read_only"] is True and listed["prod"]["password_stored"] is True


@pytest.mark.parametrize(
    "url",
    [f"redis://:{SECRET}@127.0.0.1:6379/0", f"redis://127.0.0.1:6379/0?password={SECRET}",
     f"sentinel://:{SECRET}@h:26379/svc"],
)  # fmt: skip
def test_a_password_in_the_url_is_refused(capsys, profiles_file, memory_keyring, url):
    code, out = call(capsys, "profiles", "add", "p", "--url", url)
    assert code == 2 and "holds a password" in out and "--password-stdin" in out
    assert not profiles_file.exists()


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["add", "x", "--url", "redis://h:p/0"], "port in"),
        (["add", "x", "--url", "mysql://h"], "must start with"),
        (["add", "x", "--url", "redis://h/0", "--tls-ca", "/nonexistent/ca.pem"], "no such file"),
        (["add", "x", "--url", "redis://h/0", "--queue", "a:b"], "not allowed"),
        (["add", "x", "--url", "redis://h/0", "--timeout", "0"], "timeout_s"),
        (["add", "x", "--url", "redis://h/0", "--ask-password"], "needs a terminal"),
        (["add", "x"], "required"),
        (["edit", "nobody", "--read-only"], "no connection profile named 'nobody'"),
        (["remove", "nobody"], "no connection profile named 'nobody'"),
        (["test", "nobody"], "no connection profile named 'nobody'"),
        (["edit", "Local (embedded)", "--url", "redis://h/0"], "managed local Redis"),
        (["add", "x", "--url", "redis://h/0", "--job-name", "n"], "need --bullmq-job QUEUE"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "q", "--job-options", "{"], "options are not valid JSON"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "q", "--job-options", '{"attempts": "3"}'],
         "options.attempts must be a whole number from 1 to 1000, got '3'"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "q", "--job-options", '{"priority": 1}'],
         "options: unknown priority; the options a queue may set are attempts, backoff"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "q", "--job-options", '{"backoff": {"type": "linear"}}'],
         "options.backoff.type must be fixed or exponential, got 'linear'"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "q", "--job-options", '{"removeOnFail": -1}'],
         "options.removeOnFail must be true, false, a count of jobs"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "q", "--job-name", ""], "job_name must be a non-empty text"),
        (["add", "x", "--url", "redis://h/0", "--bullmq-job", "a:b"], "not allowed"),
    ],
)
def test_bad_input_is_exit_2(capsys, monkeypatch, memory_keyring, argv, phrase):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out = call(capsys, "profiles", *argv)
    assert code == 2 and phrase in out, out


def test_add_twice_is_refused(capsys, memory_keyring):
    assert call(capsys, "profiles", "add", "a", "--url", "redis://h/0")[0] == 0
    code, out = call(capsys, "profiles", "add", "a", "--url", "redis://h/1")
    assert code == 2 and "profiles edit" in out
    assert _saved("a").url == "redis://h/0"


def test_edit_changes_only_what_is_given_and_remove_forgets_the_password(capsys, monkeypatch, memory_keyring):
    call(capsys, "profiles", "add", "stage", "--url", "redis://h:6379/0", "--user", "ops", "--read-only",
         "--queue", "thesis", "--password-stdin", stdin=SECRET + "\n", monkeypatch=monkeypatch)  # fmt: skip
    code, out = call(capsys, "profiles", "edit", "stage", "--no-read-only", "--url", "redis://h:6380/2")
    assert code == 0 and "changed" in out
    edited = _saved("stage")
    assert (edited.url, edited.read_only, edited.username, edited.queues) == ("redis://h:6380/2", False, "ops", ("thesis",))
    call(capsys, "profiles", "edit", "stage", "--user", "", "--queue", "")
    assert (_saved("stage").username, _saved("stage").queues) == (None, ())
    assert credentials.has_password(_saved("stage"))
    code, out = call(capsys, "profiles", "edit", "stage", "--forget-password")
    assert code == 0 and "stored password deleted" in out and not memory_keyring.entries
    call(capsys, "profiles", "edit", "stage", "--password-stdin", stdin=SECRET + "\n", monkeypatch=monkeypatch)
    code, out = call(capsys, "profiles", "remove", "stage")
    assert code == 0 and "removed" in out and "stored password deleted" in out
    assert not memory_keyring.entries
    assert [p.name for p in ProfileStore().load()] == ["Local (embedded)"]


def test_a_bullmq_queue_job_name_and_options_are_kept_with_the_profile(capsys, profiles_file, memory_keyring):
    code, _ = call(capsys, "profiles", "add", "node", "--url", "redis://h/0", "--bullmq-job", "thesis-generation",
                   "--job-options", '{"attempts": 5, "backoff": {"type": "fixed", "delay": 1000}}')  # fmt: skip
    assert code == 0
    saved = _saved("node").job_defaults("thesis-generation")
    assert (saved.job_name, saved.options) == ("generate-thesis", {"attempts": 5, "backoff": {"type": "fixed", "delay": 1000}})
    assert _saved("node").job_defaults("other").options["attempts"] == 3  # the seed's for any other queue
    code, _ = call(capsys, "profiles", "edit", "node", "--read-only", "--bullmq-job", "thesis-generation", "--job-name", "write")
    edited = _saved("node").job_defaults("thesis-generation")
    assert code == 0 and _saved("node").read_only and edited.job_name == "write" and edited.options["attempts"] == 5
    stored = json.loads(profiles_file.read_text())["profiles"][-1]["bullmq_jobs"]
    assert stored == {"thesis-generation": {"job_name": "write", "options": {"attempts": 5, "backoff": {"type": "fixed", "delay": 1000}}}}
    # The plain file, edited by hand with a bad option, is refused naming the profile, the queue and the option.
    stored["thesis-generation"]["options"]["attempts"] = 0
    data = json.loads(profiles_file.read_text())
    data["profiles"][-1]["bullmq_jobs"] = stored
    profiles_file.write_text(json.dumps(data))
    code, out = call(capsys, "profiles", "list")
    assert code == 2 and "profile 'node': bullmq_jobs of queue 'thesis-generation': options.attempts must be" in out


def test_without_a_keyring_the_profile_is_saved_and_the_password_asked(capsys, monkeypatch, no_keyring, password_server):
    url = f"redis://127.0.0.1:{password_server.port}/0"
    code, out = call(capsys, "profiles", "add", "pw", "--url", url, "--password-stdin", stdin=SECRET + "\n",
                     monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0 and "password not stored: no keyring available" in out, out
    code, out = call(capsys, "profiles", "test", "pw")
    assert code == 3 and "needs a password" in out
    monkeypatch.setenv("THESIS_REDIS_PASSWORD", SECRET)
    code, out = call(capsys, "profiles", "test", "pw")
    assert code == 0 and "connected to" in out


def test_test_connects_with_the_stored_password(capsys, monkeypatch, memory_keyring, password_server, redis_url):
    url = f"redis://127.0.0.1:{password_server.port}/0"
    call(capsys, "profiles", "add", "pw", "--url", url, "--password-stdin", stdin=SECRET + "\n", monkeypatch=monkeypatch)
    code, out = call(capsys, "profiles", "test", "pw")
    assert code == 0 and f"pw: connected to {url}: Redis " in out and "round trip" in out, out
    code, out = call(capsys, "profiles", "--json", "test", "pw")
    assert code == 0 and json.loads(out)["ok"] is True
    call(capsys, "profiles", "edit", "pw", "--password-stdin", stdin="wrong-one\n", monkeypatch=monkeypatch)
    code, out = call(capsys, "profiles", "test", "pw")
    assert code == 3 and "wrong password" in out and "wrong-one" not in out
    call(capsys, "profiles", "add", "gone", "--url", "redis://127.0.0.1:1/0")
    code, out = call(capsys, "profiles", "test", "gone")
    assert code == 3 and "refused" in out
    call(capsys, "profiles", "add", "nodb", "--url", redis_url.rsplit("/", 1)[0] + "/99999")
    code, out = call(capsys, "profiles", "test", "nodb")
    assert code == 2 and "no such database" in out


def test_a_read_only_profile_made_on_the_command_line_refuses_changes(capsys, memory_keyring, redis_conn, redis_url):
    from thesis_console.core import contract

    job = contract.thesis_queue(redis_conn).enqueue("tests.jobs.noop")
    assert call(capsys, "profiles", "add", "viewer", "--url", redis_url, "--read-only")[0] == 0
    code, out = call(capsys, "cancel", job.id, "--profile", "viewer")
    assert code == 1 and "read-only" in out
    assert redis_conn.lrange("rq:queue:thesis", 0, -1) == [job.id.encode()]
    assert call(capsys, "status", "--profile", "viewer")[0] == 0
