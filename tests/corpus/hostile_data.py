"""A corpus of what a production Redis can hold and a console must survive.

``load(conn, marker_dir)`` writes every case into an (empty) Redis and returns the cases, each with
the job id, the state it sits in and what a reader must say about it. Malicious pickles write a file
into ``marker_dir`` when unpickled: the test then checks that no file appeared.
"""

from __future__ import annotations

import json
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path

QUEUE = "hostile"
TERMINAL_ATTACKS = (
    "Thesis: \x1b]0;window title taken\x07\x1b[2J\x00 screen cleared",
    "\x1b[31mred\x1b[0m \x9b2J \x1b]8;;http://evil.example\x07link\x1b]8;;\x07",
    "\x07bell\x1b[1A",
    "Traceback (most recent call last):\n\x1b]0;owned\x07RuntimeError: \x00nul \x1b[8mhidden",
)
"""Texts with control sequences a terminal would obey; every one holds ESC, BEL, NUL or an 8-bit CSI."""
RAW_CONTROLS = ("\x1b", "\x07", "\x00", "\x9b")
ESCAPED_WORKER = "esc\x1b[2Jworker"
ESCAPED_QUEUE = "esc\x1b]0;q\x07queue"


@dataclass(frozen=True)
class Case:
    job_id: str
    state: str  # a JobState value
    expect_problem: bool
    """True when the reader must flag the row (JobRow.problem set)."""
    what: str


class _Marker:
    """Unpickling this calls ``open(path, 'w')``: proof that someone unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _json_data(func: str, args: list, kwargs: dict) -> bytes:
    return zlib.compress(json.dumps([func, None, args, kwargs]).encode())


def _pickle_data(obj) -> bytes:
    return zlib.compress(pickle.dumps(obj, protocol=4))


def _base_job(job_id: str, queue: str = QUEUE, status: str = "queued") -> dict[bytes | str, bytes | str]:
    return {
        "status": status,
        "origin": queue,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "enqueued_at": "2026-01-01T00:00:01.000000Z",
        "description": f"hostile case {job_id}",
        "timeout": "180",
        "data": _json_data("tests.jobs.noop", [], {}),
    }


def load(conn, marker_dir: Path, big_args_mb: int = 10) -> list[Case]:
    """Write the corpus; returns the job cases (other keys are written too but have no rows)."""
    marker_dir.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []
    pipe = conn.pipeline(transaction=False)
    pipe.sadd("rq:queues", f"rq:queue:{QUEUE}")

    def job(job_id: str, fields: dict, state: str, problem: bool, what: str, key: bytes | str | None = None):
        key = key or f"rq:job:{job_id}"
        if fields:
            pipe.hset(key, mapping=fields)
        _place(pipe, job_id, state)
        cases.append(Case(job_id if isinstance(job_id, str) else job_id.decode("utf-8", "replace"), state, problem, what))

    # A sane JSON job, as a control.
    job("ok-json", _base_job("ok-json"), "waiting", False, "a well-formed JSON job")
    # Written by an older RQ (1.x): pickled data, exc_info in the hash, no results stream.
    old = _base_job("old-rq", status="failed")
    old["data"] = _pickle_data(("tests.jobs.boom", None, (), {}))
    old["exc_info"] = zlib.compress(b"Traceback (most recent call last):\nRuntimeError: old failure")
    old["ended_at"] = "2026-01-01T00:00:05Z"
    job("old-rq", old, "failed", False, "RQ 1.x hash: pickled data (shown as pickled), exc_info field")
    # Half-written: only a status.
    job("half", {"status": "started"}, "active", True, "half-written hash: only a status")
    # Listed but its hash is missing.
    job("ghost", {}, "waiting", True, "id in the queue, hash missing")
    # Wrongly typed fields.
    bad = _base_job("bad-types")
    bad.update({"enqueued_at": "yesterday-ish", "meta": "{not json", "retries_left": "many", "timeout": "[]"})
    job("bad-types", bad, "waiting", True, "garbage timestamps, meta not JSON, retries_left not a number")
    # Data that is neither JSON nor pickle nor zlib.
    junk = _base_job("junk-data")
    junk["data"] = b"\x00\x01garbage\xff"
    job("junk-data", junk, "waiting", False, "data is neither zlib, JSON nor pickle (rows skip data; the detail says)")
    # Truncated pickle.
    trunc = _base_job("trunc-pickle")
    trunc["data"] = zlib.compress(pickle.dumps(("tests.jobs.noop", None, (), {}), protocol=4)[:-7])
    job("trunc-pickle", trunc, "waiting", False, "truncated pickle: shown as pickled, never loaded")
    # Malicious pickles in data, meta and the result stream.
    evil = _base_job("evil", status="finished")
    evil["data"] = _pickle_data(("tests.jobs.noop", None, (_Marker(str(marker_dir / "data-unpickled")),), {}))
    evil["meta"] = pickle.dumps({"x": _Marker(str(marker_dir / "meta-unpickled"))})
    job("evil", evil, "completed", False, "malicious pickles in data and meta")
    import base64

    pipe.xadd(
        "rq:results:evil",
        {
            "type": "1",
            "created_at": "2026-01-01T00:00:09Z",
            "return_value": base64.b64encode(pickle.dumps(_Marker(str(marker_dir / "result-unpickled")))),
        },
    )
    # Non-UTF-8 bytes in the id and in values.
    weird_id = b"bin-\xff\xfe-id"
    weird = _base_job("x")
    weird["description"] = b"caf\xe9 \xff description"
    weird["origin"] = QUEUE
    pipe.hset(b"rq:job:" + weird_id, mapping=weird)
    pipe.rpush(f"rq:queue:{QUEUE}", weird_id)
    cases.append(Case(weird_id.decode("utf-8", "backslashreplace"), "waiting", True, "non-UTF-8 bytes in the id and description"))
    # 10 MB of arguments.
    big = _base_job("big-args")
    big["data"] = _json_data("tests.jobs.noop", ["x" * (big_args_mb * 1024 * 1024)], {})
    job("big-args", big, "waiting", False, f"{big_args_mb} MB of JSON arguments")
    # Terminal control sequences (ESC/CSI, OSC with BEL, 8-bit CSI, NUL) in a description, a topic,
    # a stage, a traceback, a worker's name and host, and a queue name: a terminal must never get them raw.
    esc = _base_job("term-escapes")
    esc["description"] = TERMINAL_ATTACKS[0]
    esc["meta"] = json.dumps({"topic": TERMINAL_ATTACKS[1], "progress": 10, "stage": TERMINAL_ATTACKS[2]})
    esc["exc_info"] = zlib.compress(TERMINAL_ATTACKS[3].encode())
    job("term-escapes", esc, "waiting", False, "ESC/OSC/BEL/NUL sequences in description, topic, stage, traceback")
    pipe.hset(f"rq:worker:{ESCAPED_WORKER}", mapping={
        "name": ESCAPED_WORKER, "hostname": TERMINAL_ATTACKS[1], "pid": "1", "queues": QUEUE, "state": "idle",
        "birth": "2026-01-01T00:00:00.000000Z", "last_heartbeat": "2026-01-01T00:00:00.000000Z",
    })  # fmt: skip
    pipe.sadd("rq:workers", f"rq:worker:{ESCAPED_WORKER}")
    pipe.sadd("rq:queues", f"rq:queue:{ESCAPED_QUEUE}")
    pipe.rpush(f"rq:queue:{ESCAPED_QUEUE}", "ok-json")
    # A key with an RQ job name that is not a hash.
    pipe.set("rq:job:string-job", "I am a string")
    _place(pipe, "string-job", "waiting")
    cases.append(Case("string-job", "waiting", True, "rq:job:string-job is a string, not a hash"))
    # Keys of other applications with RQ-like names.
    pipe.hset("rq:queue:not-a-list", mapping={"a": "b"})
    pipe.sadd("rq:queues", "rq:queue:not-a-list", "rq:queue:missing-queue", b"rq:queue:\xff\xfe")
    pipe.rpush("rq:worker:not-a-hash", "x")
    pipe.sadd("rq:workers", "rq:worker:not-a-hash", "rq:worker:gone")
    pipe.set("rq:finished:not-a-zset", "x")
    pipe.set("rq:wip:hostile-other", "x")
    # A BullMQ queue in the same Redis.
    pipe.hset("bull:thesis:1", mapping={"name": "generate", "data": json.dumps({"topic": "bull"}), "opts": "{}"})
    pipe.rpush("bull:thesis:wait", "1")
    pipe.set("bull:thesis:id", "1")
    pipe.zadd("bull:thesis:completed", {"0": 1})
    pipe.hset("bull:thesis:meta", mapping={"opts.maxLenEvents": "10000"})
    pipe.execute()
    return cases


def _place(pipe, job_id: str | bytes, state: str) -> None:
    registry = {
        "active": f"rq:wip:{QUEUE}",
        "completed": f"rq:finished:{QUEUE}",
        "failed": f"rq:failed:{QUEUE}",
        "scheduled": f"rq:scheduled:{QUEUE}",
        "deferred": f"rq:deferred:{QUEUE}",
        "canceled": f"rq:canceled:{QUEUE}",
    }
    if state == "waiting":
        pipe.rpush(f"rq:queue:{QUEUE}", job_id)
    elif state == "active":
        member = job_id + (b":exec" if isinstance(job_id, bytes) else ":exec")
        pipe.zadd(registry[state], {member: 4102444800})
    else:
        pipe.zadd(registry[state], {job_id: 4102444800})


def huge_registry(conn, members: int = 1_000_000, queue: str = "huge", chunk: int = 50_000) -> str:
    """A failed registry with ``members`` entries whose job hashes do not exist (ids only)."""
    key = f"rq:failed:{queue}"
    conn.sadd("rq:queues", f"rq:queue:{queue}")
    for start in range(0, members, chunk):
        conn.zadd(key, {f"huge-{i:07d}": 4102444800 + i for i in range(start, min(members, start + chunk))})
    return key
