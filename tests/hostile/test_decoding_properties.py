"""Property-based tests: decoding any job hash gives a row or a payload, never an exception."""

from __future__ import annotations

import json
import pickle
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from thesis_console.core.decoding import decode_job_data, decode_meta, decode_serialized, parse_time
from thesis_console.core.job_rows import build_row
from thesis_console.core.types import JobState

FIELDS = ["status", "origin", "description", "created_at", "enqueued_at", "started_at", "ended_at",
          "meta", "data", "retries_left", "retry_intervals", "worker_name", "timeout", "exc_info", "last_heartbeat"]  # fmt: skip

raw_values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.text(max_size=40).map(str.encode),
    st.integers().map(lambda i: str(i).encode()),
    st.sampled_from([b"", b"null", b"{}", b"[]", b"nan", b"2026-01-01T00:00:00Z", b"\x80\x04K\x01.", b"\xff\xfe"]),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
        max_leaves=10,
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), raw_values), st.sampled_from(list(JobState)))
def test_any_hash_gives_a_row(fields, state):
    row = build_row("job-1", "q", state, {k: v for k, v in fields.items()})
    assert row.id == "job-1"
    assert row.progress is None or 0 <= row.progress <= 100


@settings(max_examples=300, deadline=None)
@given(raw_values)
def test_any_value_decodes_without_raising(raw):
    for trust in (False,):
        decode_serialized(raw, trust_pickle=trust)
        decode_job_data(raw, trust_pickle=trust)
        decode_meta(raw, trust_pickle=trust)
        decode_job_data(zlib.compress(raw or b""), trust_pickle=trust)
    try:
        parse_time(raw)  # documented: a time, None, or ValueError naming the problem
    except ValueError as exc:
        assert str(exc)


class _Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('unpickled!')",))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=5), st.integers(min_value=0, max_value=40))
def test_pickles_are_never_loaded_untrusted(protocol, cut):
    raw = pickle.dumps(("f", None, (_Boom(),), {}), protocol=protocol)
    raw = raw[: max(1, len(raw) - cut)]
    for value in (raw, zlib.compress(raw)):
        payload = decode_serialized(value, trust_pickle=False)
        assert payload.kind in {"pickled", "binary", "error", "text"}
        decode_job_data(value, trust_pickle=False)


def test_a_zlib_bomb_is_described_not_unzipped() -> None:
    from tests.worker_runner.test_allowlist import zlib_bomb
    from thesis_console.core.decoding import exc_from_hash, shorten

    bomb = zlib_bomb()
    data = decode_job_data(bomb)
    assert data.function is None and data.problem is not None and "unzips to more than 64 MiB" in data.problem
    assert data.args.kind == "error"
    assert "not unzipped" in (exc_from_hash(bomb) or "")
    assert "not unzipped" in shorten(bomb)
    # Just under the bound still unzips.
    assert decode_job_data(zlib.compress(b'["tests.jobs.noop", null, [], {}]' + b" " * (1 << 20))).function == "tests.jobs.noop"
