from __future__ import annotations

import io
import json
import threading

import pytest

from thesis_console.core.supervisor_protocol import (
    autoscale_message,
    queue_control,
    resize_message,
    stop_message,
)
from worker_runner.control import (
    Command,
    CommandError,
    StatusWriter,
    StdinCommands,
    from_message,
    parse_line,
    pop_redis_commands,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("resize 5", Command("resize", concurrency=5, text="resize 5")),
        ("  resize   12 \n", Command("resize", concurrency=12, text="resize   12")),
        ("autoscale 2 8", Command("autoscale", minimum=2, maximum=8, text="autoscale 2 8")),
        ("autoscale 2:8", Command("autoscale", minimum=2, maximum=8, text="autoscale 2:8")),
        ("autoscale off", Command("autoscale-off", text="autoscale off")),
        ("stop", Command("stop", text="stop")),
        ("STATUS", Command("status", text="STATUS")),
        ("   ", None),
    ],
)
def test_parse_line(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("resize 0", "1 to 64"),
        ("resize 65", "1 to 64"),
        ("resize many", "whole number"),
        ("autoscale 8 2", "MIN must not exceed MAX"),
        ("launch", "unknown command"),
        ("stop later", "unknown command"),
    ],
)
def test_bad_lines_say_what_is_wrong(line, message):
    with pytest.raises(CommandError, match=message):
        parse_line(line)


def test_messages_of_the_shared_protocol_become_commands():
    assert from_message(resize_message(4)).concurrency == 4
    auto = from_message(autoscale_message(1, 3))
    assert (auto.op, auto.minimum, auto.maximum, auto.source) == ("autoscale", 1, 3, "redis")
    assert from_message(stop_message()).op == "stop"
    with pytest.raises(CommandError):
        from_message({"op": "resize", "concurrency": 500})


def test_redis_control_list_is_drained_in_order(redis_conn):
    with redis_conn.pipeline() as pipe:
        queue_control(pipe, "sup-1", resize_message(2))
        queue_control(pipe, "sup-1", autoscale_message(1, 4))
        pipe.execute()
    redis_conn.rpush("thesis:supervisor:sup-1:control", "not json", json.dumps({"op": "resize", "concurrency": 0}))
    items = pop_redis_commands(redis_conn, "sup-1")
    assert [getattr(i, "op", None) for i in items] == ["resize", "autoscale", None, None]
    assert all(isinstance(i, CommandError) for i in items[2:])
    assert pop_redis_commands(redis_conn, "sup-1") == []


def test_stdin_reader_wakes_the_loop_and_ends_quietly_at_eof():
    woke = threading.Event()
    reader = StdinCommands(io.StringIO("resize 3\nnonsense\n\nstop\n"), woke.set)
    reader.start()
    reader._thread.join(5)
    assert woke.is_set()
    items = reader.drain()
    assert [getattr(i, "op", "error") for i in items] == ["resize", "error", "stop"]


def test_status_writer_survives_a_closed_stream():
    stream = io.StringIO()
    writer = StatusWriter(stream)
    writer.write({"event": "status", "live": 1})
    assert json.loads(stream.getvalue()) == {"event": "status", "live": 1}
    stream.close()
    writer.write({"event": "status"})  # no exception
