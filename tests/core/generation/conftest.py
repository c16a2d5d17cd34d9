"""Fixtures for the generation tests: a loopback chat-completions server and the environment for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.generation.chat_server import DEFAULT_KEY, DEFAULT_MODEL, ChatServer

_OPENAI_VARS = (
    "THESIS_BACKEND",
    "THESIS_OPENAI_BASE_URL",
    "THESIS_OPENAI_MODEL",
    "THESIS_OPENAI_API_KEY",
    "OPENAI_API_KEY",
    "THESIS_OPENAI_TIMEOUT",
    "THESIS_OPENAI_TEMPERATURE",
)


@pytest.fixture(autouse=True)
def no_outside_generation_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own OPENAI_API_KEY or THESIS_BACKEND must not leak into these tests."""
    for name in _OPENAI_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture
def output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "out"
    monkeypatch.setenv("THESIS_OUTPUT_DIR", str(folder))
    return folder


@pytest.fixture
def openai_env(chat_server: ChatServer, monkeypatch: pytest.MonkeyPatch, output_dir: Path) -> ChatServer:
    """The 'openai' back-end's settings pointing at ``chat_server`` (not yet chosen as the back-end)."""
    monkeypatch.setenv("THESIS_OPENAI_BASE_URL", chat_server.base_url)
    monkeypatch.setenv("THESIS_OPENAI_MODEL", DEFAULT_MODEL)
    monkeypatch.setenv("THESIS_OPENAI_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("THESIS_OPENAI_TIMEOUT", "10")
    return chat_server
