"""Connection profiles on disk and passwords in the keyring (or asked each time when there is none)."""

from __future__ import annotations

import json
import os
import stat

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from thesis_console.core import credentials
from thesis_console.core.profiles import (
    EMBEDDED_PROFILE_NAME,
    ConnectionProfile,
    ProfileStore,
    ad_hoc_profile,
)
from thesis_console.core.redis_url import parse_sentinel_url
from thesis_console.core.types import CoreError

SECRET = "hunter2-very-secret"


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps entries in this process (the keyring API's own extension point)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def _profiles() -> list[ConnectionProfile]:
    return [
        ConnectionProfile(name="prod", url="rediss://redis.example.com:6380/1", username="console",
                          read_only=True, queues=("thesis", "reports"), tls_ca_file="/etc/ca.pem",
                          tls_cert_file="/etc/me.pem", tls_key_file="/etc/me.key", timeout_s=3.0),
        ConnectionProfile(name="ha", url="sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster/2"),
        ConnectionProfile(name="socket", url="unix:///run/redis/redis.sock?db=3", trust_pickle=True),
    ]  # fmt: skip


def test_round_trip_keeps_every_field_and_no_password(tmp_path, memory_keyring):
    store = ProfileStore(tmp_path / "conf" / "profiles.json")
    profiles = _profiles()
    store.save(profiles)
    credentials.set_password(profiles[0], SECRET)
    loaded = store.load()
    assert loaded[0].name == EMBEDDED_PROFILE_NAME and loaded[0].embedded
    assert loaded[1:] == profiles
    text = store.path.read_text()
    assert SECRET not in text and "password" not in text
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert credentials.get_password(store.get("prod")) == SECRET
    assert memory_keyring.entries == {("thesis-console", "prod"): SECRET}


def test_missing_file_gives_the_embedded_default(tmp_path):
    profiles = ProfileStore(tmp_path / "none.json").load()
    assert [(p.name, p.embedded, p.url) for p in profiles] == [(EMBEDDED_PROFILE_NAME, True, "")]


def test_a_customised_embedded_profile_is_kept(tmp_path):
    store = ProfileStore(tmp_path / "p.json")
    custom = ConnectionProfile(name=EMBEDDED_PROFILE_NAME, url="", embedded=True, read_only=True)
    store.save([custom])
    assert store.load() == [custom]


def test_put_get_and_remove(tmp_path):
    store = ProfileStore(tmp_path / "p.json")
    store.put(_profiles()[1])
    store.put(ConnectionProfile(name="ha", url="redis://other:6379/0"))
    assert store.get("ha").url == "redis://other:6379/0"
    store.remove("ha")
    with pytest.raises(CoreError, match="no connection profile named 'ha'; known profiles: 'Local \\(embedded\\)'"):
        store.get("ha")


def test_env_var_chooses_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_PROFILES", str(tmp_path / "elsewhere.json"))
    assert ProfileStore().path == tmp_path / "elsewhere.json"


def test_save_refuses_a_password_in_a_url_and_duplicate_names(tmp_path):
    store = ProfileStore(tmp_path / "p.json")
    store.save(_profiles())
    before = store.path.read_text()
    with pytest.raises(CoreError, match="URL contains a password.*keyring"):
        store.save([ad_hoc_profile(f"redis://user:{SECRET}@host:6379/0")])
    with pytest.raises(CoreError, match="URL contains a password"):
        store.save([ConnectionProfile(name="s", url=f"sentinel://:{SECRET}@h:26379/m")])
    with pytest.raises(CoreError, match="two profiles are named 'prod'"):
        store.save([_profiles()[0], _profiles()[0]])
    assert store.path.read_text() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"profiles": 3}', "no 'profiles' list"),
        ('{"profiles": [{"name": "x"}]}', "needs 'name' and 'url'"),
        ('{"profiles": [{"name": "x", "url": "http://x"}]}', "must start with"),
        ('{"profiles": [{"name": "x", "url": "redis://h", "read_only": "yes"}]}', "read_only must be true or false"),
        ('{"profiles": [{"name": "x", "url": "redis://h"}, {"name": "x", "url": "redis://h"}]}', "names 'x' twice"),
    ],
)
def test_a_damaged_file_is_named_with_its_problem(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(CoreError, match=message) as caught:
        ProfileStore(path).load()
    assert str(path) in str(caught.value)


def test_unknown_keys_are_ignored_and_a_stray_password_is_never_read(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"profiles": [{"name": "x", "url": "redis://h:1/0", "password": "pw", "new": 1}]}))
    loaded = ProfileStore(path).get("x")
    assert loaded == ConnectionProfile(name="x", url="redis://h:1/0")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": " ", "url": "redis://h"}, "name must not be empty"),
        ({"name": "x", "url": "mysql://h"}, "must start with"),
        ({"name": "x", "url": "redis://h", "tls_ca_file": "/ca"}, "use rediss:// for TLS"),
        ({"name": "x", "url": "rediss://h", "tls_key_file": "/k"}, "tls_key_file needs tls_cert_file"),
        ({"name": "x", "url": "redis://h", "timeout_s": 0}, "timeout_s must be between"),
        ({"name": "x", "url": "redis://h:notaport"}, "port in .* must be a number"),
        ({"name": "x", "url": "sentinel://h:1"}, "service name is missing"),
        ({"name": "x", "url": "unix://"}, "no socket path"),
    ],
)
def test_a_bad_profile_names_the_field(fields, message):
    with pytest.raises(CoreError, match=message):
        ConnectionProfile(**fields)


def test_sentinel_urls():
    assert parse_sentinel_url("sentinel://a:1,b:2/svc/3") == ([("a", 1), ("b", 2)], "svc", 3)
    assert parse_sentinel_url("sentinel://a/svc") == ([("a", 26379)], "svc", 0)
    for bad in ("sentinel://a:x/svc", "sentinel:///svc", "sentinel://a:1/svc/db", "sentinel://a:1/s/1/2"):
        with pytest.raises(CoreError, match="sentinel URL"):
            parse_sentinel_url(bad)


def test_repr_never_shows_a_password():
    profile = ad_hoc_profile(f"redis://:{SECRET}@h:6379/0")
    assert SECRET not in repr(profile) and SECRET not in profile.display_url and "***" in repr(profile)


# ---------------------------------------------------------------------- credentials
def test_without_a_keyring_the_password_is_asked_each_time(no_keyring, tmp_path):
    profile = _profiles()[0]
    assert not credentials.keyring_available()
    with pytest.raises(CoreError, match="^no keyring available: the password will be asked each time$"):
        credentials.set_password(profile, SECRET)
    assert credentials.get_password(profile) is None
    asked: list[str] = []

    def provider(p: ConnectionProfile) -> str:
        asked.append(p.name)
        return SECRET

    assert credentials.password_for(profile, provider) == SECRET
    assert credentials.password_for(profile, provider) == SECRET
    assert asked == ["prod", "prod"]
    assert not any(SECRET in f.read_text(errors="ignore") for f in tmp_path.rglob("*") if f.is_file())


def test_keyring_set_get_delete(memory_keyring):
    profile = _profiles()[1]
    assert credentials.keyring_available()
    credentials.set_password(profile, SECRET)
    assert credentials.password_for(profile, lambda p: "never asked") == SECRET
    assert credentials.has_password(profile)
    assert credentials.delete_password(profile) is True
    assert credentials.delete_password(profile) is False
    assert credentials.get_password(profile) is None
    with pytest.raises(CoreError, match="empty"):
        credentials.set_password(profile, "")


def test_cli_sources(monkeypatch):
    profile = _profiles()[1]
    monkeypatch.setenv("THESIS_REDIS_PASSWORD", SECRET)
    assert credentials.env_password(profile) == SECRET
    monkeypatch.delenv("THESIS_REDIS_PASSWORD")
    assert credentials.env_password(profile) is None
    assert credentials.terminal_prompt(profile) is None  # pytest's stdin is not a terminal
