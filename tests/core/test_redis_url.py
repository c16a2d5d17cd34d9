"""Redis URLs: every place a secret can hide is redacted, every bad form is named, nothing raises."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thesis_console.core.redis_url import (
    NOT_A_URL,
    BadRedisUrl,
    check,
    has_password,
    parse_sentinel_url,
    problem,
    read_url_file,
    redact,
)

SECRET = "Zq7-secret-Pw"

SECRET_URLS = [
    f"redis://:{SECRET}@127.0.0.1:6379/0",
    f"redis://ops:{SECRET}@127.0.0.1:6379/0",
    f"redis://127.0.0.1:6379/0?password={SECRET}",
    f"redis://127.0.0.1:6379/0?db=1&PASSWORD={SECRET}",
    f"rediss://h:6380/0?ssl_password={SECRET}",
    f"redis://h/0?password={SECRET}@x",
    f"sentinel://:{SECRET}@h1:26379,h2:26380/mymaster/0",
    f"sentinel://h1:26379/mymaster?sentinel_password={SECRET}",
    f"unix:///tmp/redis.sock?db=0&password={SECRET}",
    f"unix://:{SECRET}@/tmp/redis.sock",
    # Malformed ones: still never shown.
    f"redis://:{SECRET}@127.0.0.1:notaport/0",
    f"redis://:{SECRET}@[::1/0",
    f"redis://:pa/{SECRET}@host/0",
    f"redis://:pa?{SECRET}@host/0",
    f"redis://:{SECRET}",
    f"redis://h:{SECRET}/0",
    SECRET,
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_no_secret_survives_redaction_or_a_problem_message(url):
    shown = redact(url)
    assert SECRET not in shown
    assert SECRET not in (problem(url) or "")


@pytest.mark.parametrize("url", SECRET_URLS[:10])
def test_a_password_anywhere_is_found(url):
    assert has_password(url)
    assert "***" in redact(url)


def test_redaction_keeps_what_is_not_secret():
    assert redact("redis://ops:x@h:6379/2?db=2&socket_timeout=3") == "redis://ops:***@h:6379/2?db=2&socket_timeout=3"
    assert redact("redis://h:6379/0?username=bob") == "redis://h:6379/0?username=***"
    assert redact("redis://[::1]:6379/0") == "redis://[::1]:6379/0"
    assert redact("unix:///run/redis.sock?db=1") == "unix:///run/redis.sock?db=1"
    assert not has_password("redis://ops@h:6379/0") and not has_password("redis://:@h/0")


def test_a_text_that_is_not_a_url_is_never_echoed():
    assert redact("hunter2") == NOT_A_URL
    assert "hunter2" not in (problem("hunter2") or "")


def test_control_characters_are_escaped():
    assert redact("redis://h/0\n\x1b]0;x\x07") == "redis://h/0\\n\\x1b]0;x\\x07"


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("", "empty"),
        ("redis://h:p/notadb", "port in"),
        ("redis://h:6379/notadb", "database .* must be a number"),
        ("redis://h:6379/0\nFLUSHALL", "line break"),
        ("redis://h:6379/0 x", "space"),
        ("redis://:pw@127.0.0.1:notaport/0", "port in"),
        ("redis://:pw@[::1/0", "cannot be read"),
        ("redis:///0", "no host name"),
        ("redis://h/0?db=abc", "bad parameter"),
        ("redis://h/99999999999", "must be 0 to"),
        ("mysql://h", "must start with"),
        ("unix://", "no socket path"),
        ("sentinel://h:1", "service name is missing"),
        ("redis://:a/b@h/0", "%2F"),
    ],
)
def test_each_bad_url_is_named(url, phrase):
    found = problem(url)
    assert found is not None and re.search(phrase, found), found
    with pytest.raises(BadRedisUrl):
        check(url)


@pytest.mark.parametrize(
    "url",
    ["redis://h:6379/0", "rediss://h/1?ssl_cert_reqs=none", "unix:///tmp/r.sock?db=2", "sentinel://a:1,b/svc/3",
     "redis://u:p%40ss@[::1]:6379/15", "redis://h:6379/0?password=x"],
)
def test_good_urls_pass(url):
    assert problem(url) is None
    assert check(url) == url


def test_sentinel_urls():
    assert parse_sentinel_url("sentinel://:pw@a:1,b:2/svc/3") == ([("a", 1), ("b", 2)], "svc", 3)
    assert parse_sentinel_url("sentinel://[::1]/svc") == ([("::1", 26379)], "svc", 0)


@given(st.text(max_size=80))
def test_redact_and_problem_never_raise(text):
    for url in (text, "redis://" + text, f"redis://:{text}@h/0", f"redis://h/0?password={text}"):
        redact(url)
        problem(url)
        has_password(url)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=6, max_size=30))
def test_a_query_password_never_survives(secret):
    if "&" in secret or "#" in secret:
        return
    assert secret not in redact(f"redis://h:6379/0?password={secret}").replace("password=***", "")


# ---------------------------------------------------------------------- URL files
def test_url_file_is_read_when_only_its_owner_can_read_it(tmp_path):
    path = tmp_path / "redis.url"
    path.write_text(f"redis://:{SECRET}@127.0.0.1:6379/0\n")
    os.chmod(path, 0o600)
    assert read_url_file(path) == f"redis://:{SECRET}@127.0.0.1:6379/0"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_url_file_readable_by_others_is_refused(tmp_path, mode):
    path = tmp_path / "redis.url"
    path.write_text(f"redis://:{SECRET}@127.0.0.1:6379/0\n")
    os.chmod(path, mode)
    with pytest.raises(BadRedisUrl, match="chmod 600") as caught:
        read_url_file(path)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [(b"", "empty"), (b"redis://h/0\nredis://h/1\n", "one line"), (b"\xff\xfe", "UTF-8"), (SECRET.encode(), "not a URL")],
)
def test_bad_url_files_are_named(tmp_path, content, phrase):
    path = tmp_path / "redis.url"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(BadRedisUrl, match=phrase) as caught:
        read_url_file(path)
    assert SECRET not in str(caught.value)


def test_missing_url_file(tmp_path):
    with pytest.raises(BadRedisUrl, match="cannot read the URL file"):
        read_url_file(tmp_path / "absent")
