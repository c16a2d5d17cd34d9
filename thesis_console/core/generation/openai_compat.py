"""The HTTP back-end: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama, ...).

Configuration comes from the environment (see :meth:`OpenAICompatBackend.from_env`). Every failure,
including rate limits, raises :class:`GenerationError`, so that the queue's retry policy (three
retries, 2/4/8 s apart) applies instead of a retry loop hidden in here.

The API key never appears in a message, a log line or a ``repr``: error texts name the endpoint by
scheme, host and path only, and anything the server echoes back has the key masked.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from thesis_console.core.generation.backend import GenerationError
from thesis_console.core.thesis_request import ThesisRequest

log = logging.getLogger(__name__)

BASE_URL_ENV = "THESIS_OPENAI_BASE_URL"
MODEL_ENV = "THESIS_OPENAI_MODEL"
API_KEY_ENV = "THESIS_OPENAI_API_KEY"
FALLBACK_API_KEY_ENV = "OPENAI_API_KEY"
TIMEOUT_ENV = "THESIS_OPENAI_TIMEOUT"
TEMPERATURE_ENV = "THESIS_OPENAI_TEMPERATURE"

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_TEMPERATURE = 0.7
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""A chat reply is a few kilobytes; a bigger body is a misconfigured endpoint, not a chapter."""
_EXCERPT_CHARS = 200

LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
}


class EndpointError(GenerationError):
    """The endpoint failed or answered with something unusable.

    Attributes:
        status: the HTTP status, when the server answered with one.
        retry_after: the server's ``Retry-After`` header, as sent, when it gave one.
    """

    def __init__(self, message: str, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how to reach the endpoint. ``api_key`` is kept out of ``repr`` on purpose."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    temperature: float = DEFAULT_TEMPERATURE

    @property
    def completions_url(self) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"{parts.path}/chat/completions"))

    @property
    def label(self) -> str:
        """The completions URL without credentials, query or fragment: safe for messages and logs."""
        parts = urlsplit(self.completions_url)
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback_url(self.base_url)


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost`` or a loopback address)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_from_env(environ: Mapping[str, str] | None = None) -> EndpointSettings:
    """Read and check the endpoint settings.

    Raises:
        GenerationError: a variable is missing or wrong; the message names it (never the key's value).
    """
    env = os.environ if environ is None else environ
    base_url = _base_url(env.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL)
    model = env.get(MODEL_ENV, "").strip()
    if not model:
        raise GenerationError(
            f"{MODEL_ENV} is not set: the 'openai' back-end needs the model name, for example {MODEL_ENV}=gpt-4o-mini"
        )
    api_key = env.get(API_KEY_ENV, "").strip() or env.get(FALLBACK_API_KEY_ENV, "").strip() or None
    settings = EndpointSettings(
        base_url=base_url,
        model=model,
        api_key=api_key,
        timeout_s=_positive_number(env, TIMEOUT_ENV, DEFAULT_TIMEOUT_S),
        temperature=_temperature(env),
    )
    if api_key is None and not settings.is_loopback:
        raise GenerationError(
            f"no API key for {settings.label}: set {API_KEY_ENV} (or {FALLBACK_API_KEY_ENV}); "
            "only an endpoint on this machine (localhost, 127.0.0.1, ::1) may go without one"
        )
    if api_key is not None and urlsplit(base_url).scheme == "http" and not settings.is_loopback:
        log.warning("the API key goes to %s over plain http, unencrypted", settings.label)
    return settings


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    # People often paste the full completions URL; accept it rather than POST to .../chat/completions/chat/completions.
    path = parts.path.rstrip("/").removesuffix("/chat/completions")
    try:
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # a port that is not a number
        valid = False
    if not valid:
        raise GenerationError(
            f"{BASE_URL_ENV} must be an http(s) URL such as {DEFAULT_BASE_URL}, got {_without_credentials(raw)!r}"
        )
    return urlunsplit(parts._replace(path=path))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return url.replace(parts.netloc, "***@" + parts.netloc.rsplit("@", 1)[1], 1)


def _positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise GenerationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise GenerationError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _temperature(env: Mapping[str, str]) -> float:
    raw = env.get(TEMPERATURE_ENV, "").strip()
    if not raw:
        return DEFAULT_TEMPERATURE
    try:
        value = float(raw)
    except ValueError:
        raise GenerationError(f"{TEMPERATURE_ENV} must be a number from 0 to 2, got {raw!r}") from None
    if not 0 <= value <= 2:
        raise GenerationError(f"{TEMPERATURE_ENV} must be a number from 0 to 2, got {raw!r}")
    return value


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Following a redirect would resend the Authorization header to wherever it points; refuse instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


class OpenAICompatBackend:
    """A :class:`~thesis_console.core.generation.backend.ThesisBackend` that asks a chat-completions endpoint."""

    name = "openai"

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        handlers: list[urllib.request.BaseHandler] = [_RefuseRedirects()]
        if settings.is_loopback:
            # A proxy from http_proxy would otherwise receive requests meant for this machine.
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenAICompatBackend:
        """A back-end configured from ``THESIS_OPENAI_*`` variables.

        ``THESIS_OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``), ``THESIS_OPENAI_MODEL``
        (required), ``THESIS_OPENAI_API_KEY`` or else ``OPENAI_API_KEY`` (required unless the URL is
        loopback), ``THESIS_OPENAI_TIMEOUT`` (seconds, default 120) and ``THESIS_OPENAI_TEMPERATURE``
        (default 0.7).

        Raises:
            GenerationError: a setting is missing or wrong; the message names the variable.
        """
        return cls(settings_from_env(environ))

    def outline(self, request: ThesisRequest) -> list[str]:
        reply = self._complete(_system_prompt(request), _outline_prompt(request), "outline")
        titles = parse_string_list(reply)
        if len(titles) != request.chapters:
            raise EndpointError(
                f"{self.settings.label} gave {len(titles)} chapter titles, expected {request.chapters} "
                f"(reply began: {_excerpt(reply, self.settings.api_key)!r})"
            )
        return titles

    def chapter(self, request: ThesisRequest, index: int, title: str, outline: list[str]) -> str:
        purpose = f"chapter {index + 1}/{len(outline)}"
        reply = self._complete(_system_prompt(request), _chapter_prompt(request, index, title, outline), purpose)
        body = clean_chapter(reply)
        if not body:
            raise EndpointError(f"{self.settings.label} returned an empty text for {purpose}")
        return body

    def references(self, request: ThesisRequest) -> list[str]:
        reply = self._complete(_system_prompt(request), _references_prompt(request), "references")
        entries = parse_string_list(reply)
        if not entries:
            raise EndpointError(
                f"{self.settings.label} gave no reference entries "
                f"(reply began: {_excerpt(reply, self.settings.api_key)!r})"
            )
        return entries

    def _complete(self, system: str, user: str, purpose: str) -> str:
        """POST one chat completion and return the reply's text.

        Raises:
            EndpointError: for every HTTP, network or format problem, naming the endpoint.
        """
        settings = self.settings
        body = json.dumps(
            {
                "model": settings.model,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                "temperature": settings.temperature,
            }
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "thesis-console"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        http_request = urllib.request.Request(settings.completions_url, data=body, headers=headers, method="POST")
        started = time.monotonic()
        raw = self._send(http_request, purpose)
        payload = self._decode(raw, purpose)
        text = _reply_text(payload, settings.label, purpose)
        usage = payload.get("usage")
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
        log.info(
            "%s from %s (%s) in %.1f s%s",
            purpose,
            settings.label,
            settings.model,
            time.monotonic() - started,
            f", {tokens} tokens" if isinstance(tokens, int) else "",
        )
        return text

    def _send(self, http_request: urllib.request.Request, purpose: str) -> bytes:
        label = self.settings.label
        timeout = self.settings.timeout_s
        try:
            with self._opener.open(http_request, timeout=timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, purpose) from None
        except urllib.error.URLError as exc:
            raise EndpointError(f"{purpose}: {_network_problem(exc.reason, timeout)} ({label})") from None
        except (TimeoutError, HTTPException, OSError) as exc:
            raise EndpointError(f"{purpose}: {_network_problem(exc, timeout)} ({label})") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise EndpointError(f"{purpose}: {label} sent more than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB")
        return raw

    def _http_error(self, exc: urllib.error.HTTPError, purpose: str) -> EndpointError:
        label = self.settings.label
        status = exc.code
        try:
            detail = _server_message(exc.read(64 * 1024), self.settings.api_key)
        except Exception:  # the error body is a courtesy; a broken one must not hide the status
            detail = ""
        finally:
            exc.close()
        suffix = f": {detail}" if detail else ""
        if status == 429:
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            hint = f"; the server asks to retry after {retry_after.strip()}" if retry_after else ""
            if retry_after and retry_after.strip().isdigit():
                hint += " s"
            return EndpointError(
                f"{purpose}: rate limited by {label} (HTTP 429){hint}{suffix}", status, retry_after
            )
        if status in (401, 403):
            return EndpointError(
                f"{purpose}: the API key was refused by {label} (HTTP {status}); check {API_KEY_ENV}{suffix}", status
            )
        if status >= 500:
            return EndpointError(f"{purpose}: server error at {label} (HTTP {status}){suffix}", status)
        if 300 <= status < 400:
            location = exc.headers.get("Location", "") if exc.headers else ""
            return EndpointError(
                f"{purpose}: {label} redirects (HTTP {status}) to {_without_credentials(location)!r}; "
                f"set {BASE_URL_ENV} to the final address (redirects are not followed, to keep the key safe)",
                status,
            )
        if status == 404:
            return EndpointError(
                f"{purpose}: not found at {label} (HTTP 404); check {BASE_URL_ENV} (most servers end it in /v1) "
                f"and {MODEL_ENV}{suffix}",
                status,
            )
        return EndpointError(f"{purpose}: {label} rejected the request (HTTP {status}){suffix}", status)

    def _decode(self, raw: bytes, purpose: str) -> dict[str, Any]:
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            text = raw[:_EXCERPT_CHARS].decode("utf-8", "replace")
            raise EndpointError(
                f"{purpose}: {self.settings.label} answered with a body that is not JSON "
                f"(began: {_excerpt(text, self.settings.api_key)!r})"
            ) from None
        if not isinstance(payload, dict):
            raise EndpointError(
                f"{purpose}: {self.settings.label} answered with JSON {type(payload).__name__}, expected an object"
            )
        return payload


def _network_problem(reason: object, timeout: float) -> str:
    """A short, human description of a failure below HTTP."""
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s ({TIMEOUT_ENV})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server running and listening on that port?)"
    if isinstance(reason, ConnectionResetError):
        return "the server closed the connection"
    if isinstance(reason, ssl.SSLError):
        return f"the TLS connection failed ({reason})"
    if isinstance(reason, HTTPException):
        return f"the server broke off the answer ({type(reason).__name__})"
    text = str(reason) or type(reason).__name__
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"the host name could not be resolved ({text})"
    return f"could not reach the server ({text})"


def _reply_text(payload: dict[str, Any], label: str, purpose: str) -> str:
    """``choices[0].message.content``, with a message that says which part is missing."""
    if "error" in payload and "choices" not in payload:
        raise EndpointError(f"{purpose}: {label} answered with an error: {_error_detail(payload)}")
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices:
        raise EndpointError(f"{purpose}: the reply from {label} has no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise EndpointError(f"{purpose}: the reply from {label} has no choices[0].message")
    content = message.get("content")
    if isinstance(content, list):  # some servers send content parts instead of one string
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if not isinstance(content, str) or not content.strip():
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise EndpointError(f"{purpose}: the model at {label} refused: {refusal.strip()[:_EXCERPT_CHARS]}")
        reason = first.get("finish_reason") if isinstance(first, dict) else None
        why = f" (finish_reason {reason})" if isinstance(reason, str) else ""
        raise EndpointError(f"{purpose}: the reply from {label} has no text in choices[0].message.content{why}")
    return content


def _server_message(raw: bytes, api_key: str | None) -> str:
    """The error message a server put in its body (OpenAI style or plain text), shortened and masked."""
    text = raw.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return _excerpt(text, api_key)
    return _excerpt(_error_detail(payload) if isinstance(payload, dict) else text, api_key)


def _error_detail(payload: dict[str, Any]) -> str:
    error = payload.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    detail = payload.get("detail") or payload.get("message")
    return str(detail) if detail else json.dumps(payload)[:_EXCERPT_CHARS]


def _excerpt(text: str, api_key: str | None) -> str:
    """One line of at most 200 characters, with the key masked should a server echo it."""
    if api_key:
        text = text.replace(api_key, "***")
    line = " ".join(text.split())
    return line if len(line) <= _EXCERPT_CHARS else line[: _EXCERPT_CHARS - 1] + "…"


# --- prompts -------------------------------------------------------------------------------------


def _system_prompt(request: ThesisRequest) -> str:
    language = LANGUAGE_NAMES.get(request.language, request.language)
    return (
        f"You are an experienced academic writer drafting a {request.degree_level} thesis in "
        f"{request.field_of_study}. Write in {language}. Follow the requested output format exactly."
    )


def _outline_prompt(request: ThesisRequest) -> str:
    return (
        f"Propose the chapters of a {request.degree_level} thesis on the topic: {request.topic.strip()}\n\n"
        f"Reply with a JSON array of exactly {request.chapters} strings, the chapter titles in order, "
        "and nothing else. Give titles only: no numbers and no 'Chapter' prefix."
    )


def chapter_word_target(request: ThesisRequest) -> int:
    """Words asked for per chapter: the document's target shared evenly among the chapters."""
    return max(1, request.target_words // request.chapters)


def _chapter_prompt(request: ThesisRequest, index: int, title: str, outline: list[str]) -> str:
    contents = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(outline))
    return (
        f"Write the body of chapter {index + 1} of {len(outline)}, titled \"{title}\", of the thesis "
        f"\"{request.topic.strip()}\".\n\nThe thesis outline:\n{contents}\n\n"
        f"Aim for about {chapter_word_target(request)} words. Use Markdown: paragraphs, with ### subheadings "
        "where they help. Do not repeat the chapter title as a heading and do not end with a bibliography."
    )


def reference_count(request: ThesisRequest) -> int:
    return min(20, request.chapters + 3)


def _references_prompt(request: ThesisRequest) -> str:
    return (
        f"List {reference_count(request)} references for a {request.degree_level} thesis in "
        f"{request.field_of_study} on the topic: {request.topic.strip()}\n\n"
        "Prefer well-known, real works (books, journal articles, conference papers), each formatted in APA style. "
        "Reply with a JSON array of strings, one reference each, and nothing else."
    )


# --- parsing replies -----------------------------------------------------------------------------

_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_LIST_MARKER = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)]|\(\d{1,2}\))\s+")
_CHAPTER_PREFIX = re.compile(
    r"^(?:chapter|kapitel|chapitre|cap[ií]tulo|capitolo|hoofdstuk)\s+[0-9ivxlc]+\s*[:.\-–—]?\s*", re.IGNORECASE
)
_NUMBER_PREFIX = re.compile(r"^\d{1,2}(?:[.)]|(?:\.\d{1,2})+\.?)\s+")


def parse_string_list(reply: str) -> list[str]:
    """The list of strings a model meant, from a JSON array or, failing that, a Markdown list.

    Accepts a bare array, an array inside a code fence or after a preamble, an object holding one
    array (``{"chapters": [...]}``), array items that are objects with a ``title``, and plain
    numbered or bulleted lines. Items are cleaned of numbering, "Chapter 3:" prefixes, quotes and
    emphasis; empty items are dropped.
    """
    text = reply.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    items = _json_items(text)
    if items is None:
        items = _line_items(text)
    cleaned = (_clean_item(item) for item in items)
    return [item for item in cleaned if item]


def _json_items(text: str) -> list[str] | None:
    candidates = [text]
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            value = next((v for v in value.values() if isinstance(v, list)), None)
        if isinstance(value, list):
            return [_item_text(v) for v in value]
    return None


def _item_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("title", "name", "text", "reference", "citation"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return ""
    return "" if value is None else str(value)


def _line_items(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    marked = [line for line in lines if _LIST_MARKER.match(line)]
    # A preamble such as "Here are the chapters:" is not an item; when the reply is a list, keep only its items.
    return marked if marked else lines


def _clean_item(item: str) -> str:
    text = " ".join(item.split())
    text = _LIST_MARKER.sub("", text)
    text = text.rstrip(",").strip().strip("*_").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    text = _CHAPTER_PREFIX.sub("", text)
    text = _NUMBER_PREFIX.sub("", text)
    return text.strip().strip("*_").strip()


def clean_chapter(reply: str) -> str:
    """The chapter body ready to sit under the job's own ``## n. Title`` heading.

    Unwraps a reply fenced as a whole, drops a leading level-1 or level-2 heading (the model
    repeating the title) and turns any other level-1 or level-2 heading into level 3, so the
    document's chapter structure stays the job's.
    """
    text = reply.strip()
    whole = re.fullmatch(r"```(?:markdown|md)?[ \t]*\n(.*?)\n?```", text, re.DOTALL | re.IGNORECASE)
    if whole:
        text = whole.group(1).strip()
    lines = text.splitlines()
    if lines and re.match(r"^#{1,2}\s", lines[0]):
        lines = lines[1:]
    out: list[str] = []
    in_code = False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code:
            line = re.sub(r"^#{1,2}(?=\s)", "###", line)
        out.append(line)
    return "\n".join(out).strip()
