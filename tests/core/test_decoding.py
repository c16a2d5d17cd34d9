from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from thesis_console.core import decoding


class _Touch:
    """Unpickling an instance creates a file: the evidence that a pickle was run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_of_every_protocol_are_recognised_without_unpickling(tmp_path, protocol):
    marker = tmp_path / "ran"
    raw = pickle.dumps({"evil": _Touch(marker)}, protocol=protocol)
    assert decoding.looks_pickled(raw)
    payload = decoding.decode_serialized(raw)
    assert payload.kind == "pickled" and payload.value is None and payload.size == len(raw)
    assert not marker.exists()


def test_trusted_pickle_is_unpickled_and_made_displayable(tmp_path):
    marker = tmp_path / "ran"
    raw = pickle.dumps({"path": tmp_path, "touch": _Touch(marker)})
    payload = decoding.decode_serialized(raw, trust_pickle=True)
    assert payload.kind == "unpickled"
    assert marker.exists()  # trusted: it really was unpickled
    assert payload.value["path"] == repr(tmp_path)  # foreign objects become their repr


def test_trusted_pickle_that_raises_gives_an_error_payload():
    raw = b"\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08no_such_module\x94."
    payload = decoding.decode_serialized(raw, trust_pickle=True)
    assert payload.kind == "error" and "unpickling failed" in payload.note


def test_json_text_and_binary_are_told_apart():
    assert decoding.decode_serialized(b'{"a": [1, 2]}') .value == {"a": [1, 2]}
    text = decoding.decode_serialized(b"hello there")
    assert (text.kind, text.value) == ("text", "hello there")
    binary = decoding.decode_serialized(b"\xff\xfe\x00garbage")
    assert binary.kind == "binary" and binary.note == "neither JSON nor pickle"
    assert decoding.decode_serialized(None).kind == "missing"
    assert not decoding.looks_pickled(b'"a JSON string."')


def test_job_data_from_json_and_pickle_and_garbage(tmp_path):
    raw = zlib.compress(json.dumps(["pkg.mod.func", None, [1, "two"], {"k": 3}]).encode())
    data = decoding.decode_job_data(raw)
    assert data.function == "pkg.mod.func" and data.args.value == [1, "two"] and data.kwargs.value == {"k": 3}
    assert data.problem is None

    marker = tmp_path / "ran"
    pickled = decoding.decode_job_data(zlib.compress(pickle.dumps(("f", None, (_Touch(marker),), {}), protocol=5)))
    assert pickled.args.kind == "pickled" and pickled.function is None and not marker.exists()

    garbage = decoding.decode_job_data(zlib.compress(b"\x00\x01\x02\xff"))
    assert garbage.problem == "data is neither JSON nor pickle"
    uncompressed = decoding.decode_job_data(json.dumps(["f", None, [], {}]).encode())
    assert uncompressed.function == "f"  # RQ accepts data that is not zlib-compressed too
    assert decoding.decode_job_data(None).problem == "data field missing"
    wrong_shape = decoding.decode_job_data(zlib.compress(b"[1, 2]"))
    assert "not a (function, instance, args, kwargs) list" in (wrong_shape.problem or "")


def test_meta_decoding_reports_what_is_wrong():
    assert decoding.decode_meta(b'{"progress": 5}')[1] == {"progress": 5}
    assert decoding.decode_meta(b"[1]")[2] == "meta is not an object"
    assert decoding.decode_meta(b"\xff\x00")[2] == "meta is neither JSON nor pickle"
    payload, meta, problem = decoding.decode_meta(pickle.dumps({"a": 1}))
    assert payload.kind == "pickled" and meta == {} and problem is None


def test_times_in_every_format_rq_used():
    assert decoding.parse_time(b"2024-01-02T03:04:05.250000Z") == pytest.approx(1704164645.25)
    assert decoding.parse_time(b"2024-01-02T03:04:05Z") == pytest.approx(1704164645.0)
    assert decoding.parse_time(b"1704164645.5") == 1704164645.5
    assert decoding.parse_time(b"") is None and decoding.parse_time(None) is None
    with pytest.raises(ValueError):
        decoding.parse_time(b"yesterday")
    with pytest.raises(ValueError):
        decoding.parse_time(b"\xff")


def test_tracebacks_from_results_stream_and_old_hash_field():
    trace = "Traceback (most recent call last):\n  File x\nRuntimeError: boom\n\n"
    packed = base64.b64encode(zlib.compress(trace.encode()))
    assert decoding.exc_from_result(packed) == trace
    assert decoding.exc_from_hash(zlib.compress(trace.encode())) == trace
    assert decoding.exc_from_hash(trace.encode()) == trace
    assert decoding.last_line(trace) == "RuntimeError: boom"
    assert decoding.last_line(None) is None


def test_shorten_keeps_raw_fields_readable_and_short():
    assert decoding.shorten(b"plain") == "plain"
    long = decoding.shorten(b"x" * 1000)
    assert len(long) < 260 and long.endswith("(1000 chars)")
    assert decoding.shorten(zlib.compress(b'{"a": 1}')).startswith("<zlib ")
    assert decoding.shorten(pickle.dumps([1, 2])) == f"<pickle {len(pickle.dumps([1, 2]))} bytes>"
    assert decoding.shorten(b"\xff\xfe").startswith("<2 bytes: fffe")


def test_displayable_survives_a_failing_repr():
    class Bad:
        def __repr__(self):
            raise RuntimeError("no")

    assert "repr failed" in decoding.displayable(Bad())
