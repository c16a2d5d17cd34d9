"""The allowlist rule: exact names, no wildcards, every resolved name checked."""

from __future__ import annotations

import json
import pickle
import zlib

import pytest

from thesis_console.core import contract
from thesis_console.core.decoding import CallHead, call_head
from thesis_console.core.job_allowlist import ALLOW_ENV, Allowlist, CallbackKind, for_console, parse_names


def test_the_contract_job_function_is_always_allowed():
    assert Allowlist.of().names == {contract.JOB_FUNCTION}
    assert contract.JOB_FUNCTION in Allowlist.of(["a.b"]).names and Allowlist.of(["a.b"]).extra == ("a.b",)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("os.*", "'os.*' is a wildcard; name each function as module.func"),
        ("*", "'*' is a wildcard"),
        ("os.sys?em", "is a wildcard"),
        ("eval", "'eval' is not module.func"),
        ("os..system", "is not module.func"),
        ("os.system()", "is not module.func"),
        ("a.b-c", "is not module.func"),
    ],
)
def test_bad_names_are_refused_with_the_reason(raw, message):
    with pytest.raises(ValueError, match=message.replace("?", r"\?").replace("*", r"\*").replace("(", r"\(")):
        parse_names(f"tests.jobs.noop,{raw}")
    with pytest.raises(ValueError, match=ALLOW_ENV):
        Allowlist.from_environment({ALLOW_ENV: raw})


def test_names_are_trimmed_and_deduplicated():
    assert parse_names(" a.b , c.d.e,,a.b ") == ("a.b", "c.d.e")
    assert Allowlist.from_environment({}).names == {contract.JOB_FUNCTION}


def test_refusal_checks_function_instance_and_every_callback():
    rule = Allowlist.of(["tests.jobs.noop"])
    assert rule.refusal("tests.jobs.noop", False, {}) is None
    assert rule.refusal("os.system", False, {}) == "function not allowed: os.system"
    assert rule.refusal("builtins.eval", False, {}) == "function not allowed: builtins.eval"
    assert rule.refusal("tests.jobs", False, {}) == "function not allowed: tests.jobs"  # no prefix match
    assert rule.refusal(None, False, {}) == "function name is missing or not text"
    assert rule.refusal(["os.system"], False, {}) == "function name is missing or not text"
    assert rule.refusal("upper", True, {}) == "method of a stored instance not allowed: upper"
    assert rule.refusal("tests.jobs.noop", True, {}) == "method of a stored instance not allowed: tests.jobs.noop"
    for kind in CallbackKind:
        assert rule.refusal("tests.jobs.noop", False, {kind: "os.system"}) == f"{kind.label} not allowed: os.system"
        assert rule.refusal("tests.jobs.noop", False, {kind: ""}) is None
        assert rule.refusal("tests.jobs.noop", False, {kind: "tests.jobs.noop"}) is None
    assert rule.refusal("\x1b]0;pwned\x07os.system", False, {}) == "function not allowed: \\x1b]0;pwned\\x07os.system"
    assert rule.refusal("x" * 1000, False, {}).endswith("…")


def test_the_console_ignores_a_bad_variable(monkeypatch, caplog):
    monkeypatch.setenv(ALLOW_ENV, "os.*")
    assert for_console() == Allowlist.of()
    assert "wildcard" in caplog.text
    monkeypatch.setenv(ALLOW_ENV, "a.b")
    assert for_console() == Allowlist.of(["a.b"])


def _zipped(value) -> bytes:
    return zlib.compress(json.dumps(value).encode())


def test_call_head_reads_only_the_start_of_the_data():
    assert call_head(_zipped(["os.system", None, ["ls"], {}])) == CallHead("os.system", False)
    assert call_head(_zipped(["upper", "text", [], {}])) == CallHead("upper", True)
    assert call_head(_zipped(["f.g", None, ["x" * 10_000_000], {}])) == CallHead("f.g", False)
    assert call_head(json.dumps([" a.b", None]).encode()) == CallHead(" a.b", False)  # not zipped
    assert call_head(_zipped([42, None, [], {}])) == CallHead(42, False)
    assert call_head(_zipped(["a" * 10_000, None, [], {}])) == CallHead(None, False)  # name cut: unreadable
    assert call_head(_zipped({"not": "a list"})) is None
    assert call_head(zlib.compress(pickle.dumps(("os.system", None, (), {}), protocol=4))) is None
    assert call_head(b"\xff\xfe") is None and call_head(None) is None
