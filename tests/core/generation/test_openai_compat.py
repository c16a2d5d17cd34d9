"""The OpenAI-compatible back-end against a real HTTP server on loopback (see chat_server.py)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from tests.core.generation.chat_server import DEFAULT_KEY, DEFAULT_MODEL, ChatServer, Reply, completion
from tests.helpers import wait_for
from thesis_console.core import contract
from thesis_console.core.generation.backend import GenerationError
from thesis_console.core.generation.job import generate_thesis
from thesis_console.core.generation.openai_compat import (
    DEFAULT_BASE_URL,
    EndpointError,
    OpenAICompatBackend,
    clean_chapter,
    parse_string_list,
    settings_from_env,
)
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import ThesisRequest

REQUEST = ThesisRequest(topic="Back-pressure in job queues", chapters=4, target_words=2000)


def _outline_error(server: ChatServer, reply: Reply) -> EndpointError:
    server.scripted.append(reply)
    with pytest.raises(EndpointError) as caught:
        OpenAICompatBackend.from_env().outline(REQUEST)
    assert DEFAULT_KEY not in str(caught.value)
    assert f"127.0.0.1:{server.port}/v1/chat/completions" in str(caught.value)  # names the endpoint
    return caught.value


# --- the whole job over HTTP ---------------------------------------------------------------------


@pytest.mark.parametrize("chosen_by", ["THESIS_BACKEND", "options"])
def test_generate_thesis_over_http_writes_the_markdown(openai_env, output_dir, monkeypatch, chosen_by):
    if chosen_by == "THESIS_BACKEND":
        monkeypatch.setenv("THESIS_BACKEND", "openai")
        options = {}
    else:
        monkeypatch.setenv("THESIS_BACKEND", "offline")  # the request's own choice wins
        options = {"backend": "openai"}
    request = ThesisRequest(topic="Queues under load", chapters=4, target_words=2000, language="de", options=options)

    summary = generate_thesis(request.to_json())  # in-process: there is no current RQ job

    assert set(summary) == {"path", "words", "chapters", "title", "backend"}
    assert summary["backend"] == "openai" and summary["chapters"] == 4 and summary["title"] == "Queues under load"
    path = Path(summary["path"])
    assert path.parent == output_dir
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Queues under load\n")
    assert summary["words"] == len(text.split())
    assert 2000 <= summary["words"] <= 2300  # the server writes the words asked for, plus headings
    for number in range(1, 5):
        assert f"\n## {number}. Server Title {number}\n\nBody of chapter {number} from the server." in text
    assert text.count("\n## ") == 4 + 2  # contents, four chapters, references: the model's own ## were demoted
    assert "\n### A subsection\n" in text
    assert "- Author 1 (2020). Reference 1. Journal." in text

    seen = openai_env.seen
    assert len(seen) == 1 + 4 + 1  # outline, each chapter, references
    assert all(s.status == 200 for s in seen)
    assert all(s.authorization == f"Bearer {DEFAULT_KEY}" and s.body["model"] == DEFAULT_MODEL for s in seen)
    assert all(s.body["temperature"] == 0.7 for s in seen)
    assert "JSON array of exactly 4 strings" in seen[0].prompt
    assert all("about 500 words" in s.prompt for s in seen[1:5])
    assert "German" in seen[0].system


def test_wrong_chapter_count_fails_the_job(openai_env, output_dir, monkeypatch):
    monkeypatch.setenv("THESIS_BACKEND", "openai")
    openai_env.titles = ["Only", "Three", "Titles"]
    with pytest.raises(GenerationError, match="gave 3 chapter titles, expected 4"):
        generate_thesis(REQUEST.to_json())
    assert len(openai_env.seen) == 1 and not output_dir.exists()


def test_missing_model_fails_the_job_naming_the_variable(output_dir, monkeypatch):
    monkeypatch.setenv("THESIS_BACKEND", "openai")
    monkeypatch.setenv("THESIS_OPENAI_API_KEY", DEFAULT_KEY)
    with pytest.raises(GenerationError, match="THESIS_OPENAI_MODEL is not set"):
        generate_thesis(REQUEST.to_json())


# --- errors raise GenerationError so that RQ retries ---------------------------------------------


def test_rate_limit_names_retry_after(openai_env):
    error = _outline_error(
        openai_env, Reply(429, {"error": {"message": "Rate limit reached"}}, headers={"Retry-After": "7"})
    )
    assert isinstance(error, GenerationError) and error.status == 429 and error.retry_after == "7"
    assert "rate limited" in str(error) and "retry after 7 s" in str(error) and "Rate limit reached" in str(error)


def test_rate_limit_without_retry_after(openai_env):
    error = _outline_error(openai_env, Reply(429, {"error": {"message": "slow down"}}))
    assert error.retry_after is None and "HTTP 429" in str(error) and "retry after" not in str(error)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(openai_env, status):
    error = _outline_error(openai_env, Reply(status, "upstream exploded"))
    assert error.status == status and "server error" in str(error) and f"HTTP {status}" in str(error)
    assert "upstream exploded" in str(error)


def test_refused_key_is_reported_without_the_key(openai_env, monkeypatch):
    monkeypatch.setenv("THESIS_OPENAI_API_KEY", "sk-wrong-key-abcdef")
    with pytest.raises(EndpointError) as caught:
        OpenAICompatBackend.from_env().outline(REQUEST)
    message = str(caught.value)
    assert caught.value.status == 401 and "the API key was refused" in message and "THESIS_OPENAI_API_KEY" in message
    assert "sk-wrong-key" not in message
    assert openai_env.seen[0].authorization == "Bearer sk-wrong-key-abcdef"  # it was sent, just not accepted


def test_forbidden_counts_as_a_refused_key(openai_env):
    error = _outline_error(openai_env, Reply(403, {"error": {"message": "project has no access"}}))
    assert "the API key was refused" in str(error) and "HTTP 403" in str(error)


def test_a_server_echoing_the_key_has_it_masked(openai_env):
    error = _outline_error(openai_env, Reply(400, {"error": {"message": f"bad key {DEFAULT_KEY} in request"}}))
    assert "bad key *** in request" in str(error) and "HTTP 400" in str(error)


def test_unknown_model_is_reported(openai_env, monkeypatch):
    monkeypatch.setenv("THESIS_OPENAI_MODEL", "no-such-model")
    with pytest.raises(EndpointError, match="HTTP 404.*THESIS_OPENAI_MODEL.*no-such-model"):
        OpenAICompatBackend.from_env().outline(REQUEST)


def test_timeout(openai_env, monkeypatch):
    monkeypatch.setenv("THESIS_OPENAI_TIMEOUT", "0.3")
    error = _outline_error(openai_env, Reply(200, completion('["a"]'), delay_s=3))
    assert "no answer within 0.3 s" in str(error) and "THESIS_OPENAI_TIMEOUT" in str(error)


def test_connection_refused(monkeypatch):
    with socket.socket() as probe:  # a port that nobody listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("THESIS_OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("THESIS_OPENAI_MODEL", DEFAULT_MODEL)
    with pytest.raises(EndpointError, match=f"connection refused.*127.0.0.1:{port}/v1/chat/completions"):
        OpenAICompatBackend.from_env().outline(REQUEST)


def test_body_that_is_not_json(openai_env):
    error = _outline_error(openai_env, Reply(200, "<html>Bad gateway</html>"))
    assert "not JSON" in str(error) and "<html>Bad gateway" in str(error)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"id": "x"}, "has no choices"),
        ({"choices": []}, "has no choices"),
        ({"choices": [{"index": 0}]}, r"no choices\[0\]\.message"),
        ({"choices": [{"message": {"content": None}, "finish_reason": "length"}]}, "no text.*finish_reason length"),
        ({"choices": [{"message": {"content": None, "refusal": "I can't"}}]}, "refused: I can't"),
        ({"error": {"message": "model overloaded"}}, "answered with an error: model overloaded"),
    ],
)
def test_replies_without_content(openai_env, body, problem):
    error = _outline_error(openai_env, Reply(200, body))
    assert error.status is None
    assert re.search(problem, str(error)), str(error)


def test_redirects_are_not_followed(openai_env):
    error = _outline_error(openai_env, Reply(307, b"", headers={"Location": "http://example.invalid/v1/x"}))
    assert error.status == 307 and "redirects" in str(error) and "THESIS_OPENAI_BASE_URL" in str(error)
    assert len(openai_env.seen) == 1


def test_loopback_endpoint_needs_no_key(openai_env, monkeypatch):
    monkeypatch.delenv("THESIS_OPENAI_API_KEY")
    openai_env.api_key = None
    titles = OpenAICompatBackend.from_env().outline(REQUEST)
    assert titles == [f"Server Title {i}" for i in range(1, 5)]
    assert openai_env.seen[0].authorization is None


# --- settings --------------------------------------------------------------------------------------


def test_settings_defaults():
    settings = settings_from_env({"THESIS_OPENAI_MODEL": "gpt-4o-mini", "THESIS_OPENAI_API_KEY": "sk-abc"})
    assert settings.base_url == DEFAULT_BASE_URL and settings.timeout_s == 120 and settings.temperature == 0.7
    assert settings.completions_url == "https://api.openai.com/v1/chat/completions"
    assert "sk-abc" not in repr(settings)


def test_model_is_required():
    with pytest.raises(GenerationError, match="THESIS_OPENAI_MODEL"):
        settings_from_env({"THESIS_OPENAI_API_KEY": "sk-abc"})


def test_key_is_required_for_a_remote_endpoint():
    with pytest.raises(GenerationError, match="THESIS_OPENAI_API_KEY.*OPENAI_API_KEY"):
        settings_from_env({"THESIS_OPENAI_MODEL": "m", "THESIS_OPENAI_BASE_URL": "https://llm.example.com/v1"})


def test_openai_api_key_is_the_fallback():
    settings = settings_from_env({"THESIS_OPENAI_MODEL": "m", "OPENAI_API_KEY": "sk-fallback"})
    assert settings.api_key == "sk-fallback"
    preferred = settings_from_env({"THESIS_OPENAI_MODEL": "m", "OPENAI_API_KEY": "a", "THESIS_OPENAI_API_KEY": "b"})
    assert preferred.api_key == "b"


@pytest.mark.parametrize("url", ["http://localhost:8080/v1", "http://127.0.0.1:11434/v1", "http://[::1]:8000/v1"])
def test_loopback_urls_go_without_key(url):
    assert settings_from_env({"THESIS_OPENAI_MODEL": "m", "THESIS_OPENAI_BASE_URL": url}).api_key is None


def test_full_completions_url_is_accepted_as_base():
    settings = settings_from_env(
        {"THESIS_OPENAI_MODEL": "m", "THESIS_OPENAI_BASE_URL": "http://localhost:8000/v1/chat/completions/"}
    )
    assert settings.completions_url == "http://localhost:8000/v1/chat/completions"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("THESIS_OPENAI_TIMEOUT", "soon"),
        ("THESIS_OPENAI_TIMEOUT", "0"),
        ("THESIS_OPENAI_TIMEOUT", "-5"),
        ("THESIS_OPENAI_TEMPERATURE", "hot"),
        ("THESIS_OPENAI_TEMPERATURE", "3"),
        ("THESIS_OPENAI_BASE_URL", "ftp://example.com/v1"),
        ("THESIS_OPENAI_BASE_URL", "localhost:8000"),
        ("THESIS_OPENAI_BASE_URL", "http://localhost:port/v1"),
    ],
)
def test_bad_settings_name_the_variable(name, value):
    with pytest.raises(GenerationError, match=name):
        settings_from_env({"THESIS_OPENAI_MODEL": "m", "THESIS_OPENAI_API_KEY": "sk-x", name: value})


def test_credentials_in_the_base_url_stay_out_of_messages():
    settings = settings_from_env(
        {"THESIS_OPENAI_MODEL": "m", "THESIS_OPENAI_API_KEY": "k", "THESIS_OPENAI_BASE_URL": "https://u:pw@h.example/v1?k=1"}
    )
    assert settings.label == "https://h.example/v1/chat/completions"
    with pytest.raises(GenerationError) as caught:
        settings_from_env({"THESIS_OPENAI_MODEL": "m", "THESIS_OPENAI_BASE_URL": "ftp://u:pw@h.example/v1"})
    assert "pw" not in str(caught.value)


# --- parsing replies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        '["Introduction", "Methods", "Results"]',
        'Here is the outline:\n```json\n["Introduction", "Methods", "Results"]\n```\nGood luck!',
        'Sure: ["Introduction", "Methods", "Results"] as requested.',
        '{"chapters": ["Introduction", "Methods", "Results"]}',
        '[{"title": "Introduction"}, {"title": "Methods"}, {"title": "Results"}]',
        '["1. Introduction", "Chapter 2: Methods", "**Results**"]',
        "Here are the chapters:\n\n1. Introduction\n2. Methods\n3. Results",
        "- Introduction\n- \"Methods\"\n- Results",
    ],
)
def test_titles_are_parsed_from_common_reply_shapes(reply):
    assert parse_string_list(reply) == ["Introduction", "Methods", "Results"]


def test_titles_keep_leading_numbers_that_belong_to_them():
    assert parse_string_list('["3D Printing", "5G Networks"]') == ["3D Printing", "5G Networks"]


def test_chapter_body_is_cleaned_of_its_own_top_headings():
    reply = "```markdown\n# Methods\n\nWe measure.\n\n## Setup\n\n```python\n# a comment\n```\n```"
    assert clean_chapter(reply) == "We measure.\n\n### Setup\n\n```python\n# a comment\n```"


# --- the retry policy applies: a real worker process against the loopback server ------------------


def test_worker_retries_after_a_503_and_completes(redis_conn, isolated_env, processes, openai_env, monkeypatch):
    monkeypatch.setenv("THESIS_BACKEND", "openai")
    openai_env.scripted.append(Reply(503, {"error": {"message": "The server is overloaded"}}))
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Retries over HTTP", chapters=3, target_words=1000))
    processes.start("-m", "worker_runner")

    job = wait_for(
        lambda: (j := Job.fetch(job_id, connection=redis_conn, serializer=contract.SERIALIZER)).get_status()
        == JobStatus.FINISHED
        and j,
        timeout=60,
        message="the thesis job to finish after one retry",
    )
    assert [a["outcome"] for a in job.meta["attempts"]] == ["retried", "completed"]
    assert [s.status for s in openai_env.seen] == [503] + [200] * (1 + 3 + 1)
    summary = job.return_value()
    assert summary["backend"] == "openai"
    text = Path(summary["path"]).read_text(encoding="utf-8")
    assert "## 3. Server Title 3" in text and Path(summary["path"]).parent == isolated_env / "out"
