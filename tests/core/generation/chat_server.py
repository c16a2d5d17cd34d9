"""A real OpenAI-compatible chat-completions server on loopback, run in a thread, for tests.

It is a plain ``http.server`` that speaks the wire format, not a mock of the back-end: requests go
through urllib, sockets and JSON as they would against a real endpoint. By default it answers like a
cooperative model, choosing the answer from the prompt (outline, chapter or references); replies
queued in ``scripted`` are served first, one per request, to provoke failures.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "test-model"
DEFAULT_KEY = "sk-test-secret-0123456789"


@dataclass
class Reply:
    """One scripted answer: a status, a body (dict as JSON, or raw bytes/str) and headers."""

    status: int = 200
    body: dict[str, Any] | bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    authorization: str | None
    body: dict[str, Any]
    status: int = 0

    @property
    def prompt(self) -> str:
        return str(self.body["messages"][-1]["content"])

    @property
    def system(self) -> str:
        return str(self.body["messages"][0]["content"])


def completion(text: str) -> dict[str, Any]:
    """A chat-completions response body carrying ``text``."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": DEFAULT_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


class ChatServer:
    """Serve ``POST /v1/chat/completions`` on 127.0.0.1 at a free port.

    Attributes:
        model: the model name requests must carry (else 404, as OpenAI answers an unknown model).
        api_key: the key the ``Authorization: Bearer`` header must carry (else 401); ``None`` accepts
            requests without the header.
        scripted: replies served before the default answers, one per request.
        titles: override for the outline answer (to give a wrong count, say).
        on_request: called with each request before it is answered (from the server's thread).
        seen: every request received, in order.
    """

    def __init__(self, model: str = DEFAULT_MODEL, api_key: str | None = DEFAULT_KEY) -> None:
        self.model = model
        self.api_key = api_key
        self.scripted: deque[Reply] = deque()
        self.titles: list[str] | None = None
        self.on_request: Callable[[Seen], None] | None = None
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._released = threading.Event()  # set at stop, so a delayed answer does not hold the test up
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="chat-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def answer(self, seen: Seen) -> Reply:
        """The reply to one request: checks first, then a scripted reply, then the cooperative answer."""
        if self.on_request is not None:
            self.on_request(seen)
        if seen.path != "/v1/chat/completions":
            return Reply(404, {"error": {"message": f"no route {seen.path}"}})
        if self.api_key is not None and seen.authorization != f"Bearer {self.api_key}":
            return Reply(401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
        if seen.body.get("model") != self.model:
            return Reply(404, {"error": {"message": f"The model {seen.body.get('model')!r} does not exist"}})
        with self._lock:
            if self.scripted:
                return self.scripted.popleft()
        return Reply(200, completion(self._cooperative_text(seen.prompt)))

    def _cooperative_text(self, prompt: str) -> str:
        outline = re.search(r"JSON array of exactly (\d+) strings", prompt)
        if outline:
            titles = self.titles or [f"Server Title {i + 1}" for i in range(int(outline.group(1)))]
            # A preamble and a code fence, as chat models like to add: the back-end must see through them.
            return "Here is the outline:\n```json\n" + json.dumps(titles) + "\n```"
        chapter = re.search(r"Write the body of chapter (\d+) of \d+, titled \"([^\"]*)\".*?about (\d+) words", prompt, re.S)
        if chapter:
            number, title, words = int(chapter.group(1)), chapter.group(2), int(chapter.group(3))
            lead = f"Body of chapter {number} from the server."
            filler = " ".join(["word"] * max(0, words - len(lead.split())))
            # The model repeating the title as a heading, and a level-2 subheading: both must not break the document.
            return f"## {title}\n\n{lead}\n\n## A subsection\n\n{filler}"
        if "references" in prompt:
            return json.dumps([f"Author {i} (2020). Reference {i}. Journal." for i in range(1, 6)])
        return "I do not understand the request."


def _handler_for(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            seen = Seen(self.path, self.headers.get("Authorization"), body)
            reply = server.answer(seen)
            seen.status = reply.status
            with server._lock:
                server.seen.append(seen)
            if reply.delay_s:
                server._released.wait(reply.delay_s)
            payload = reply.body
            data = json.dumps(payload).encode() if isinstance(payload, dict) else (
                payload.encode() if isinstance(payload, str) else payload
            )
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json" if isinstance(payload, dict) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test): nothing left to say

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # keep test output clean

    return Handler
