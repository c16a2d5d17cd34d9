"""The interface every generation back-end implements, and how one is chosen."""

from __future__ import annotations

import os
from typing import Protocol

from thesis_console.core.thesis_request import ThesisRequest

BACKEND_ENV = "THESIS_BACKEND"


class GenerationError(RuntimeError):
    """A back-end could not produce a part; raising it lets the retry policy apply."""


class ThesisBackend(Protocol):
    name: str

    def outline(self, request: ThesisRequest) -> list[str]:
        """Chapter titles, exactly ``request.chapters`` of them."""
        ...

    def chapter(self, request: ThesisRequest, index: int, title: str, outline: list[str]) -> str:
        """The Markdown body of chapter ``index`` (0-based), without its heading."""
        ...

    def references(self, request: ThesisRequest) -> list[str]:
        """Reference list entries."""
        ...


def backend_for(request: ThesisRequest) -> ThesisBackend:
    """The back-end named by ``request.options['backend']``, else ``THESIS_BACKEND``, else offline."""
    name = str(request.options.get("backend") or os.environ.get(BACKEND_ENV) or "offline")
    if name == "offline":
        from thesis_console.core.generation.offline import OfflineBackend

        return OfflineBackend()
    if name in {"openai", "http"}:
        from thesis_console.core.generation.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend.from_env()
    raise GenerationError(f"unknown generation back-end {name!r} (use 'offline' or 'openai')")
