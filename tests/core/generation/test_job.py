"""``generate_thesis``: the summary, the file, the progress it reports and how it fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from rq.job import Job

from tests.core.generation.chat_server import Seen
from thesis_console.core import contract
from thesis_console.core.generation.backend import GenerationError
from thesis_console.core.generation.job import OUTPUT_DIR_ENV, generate_thesis
from thesis_console.core.generation.job import output_dir as default_output_dir
from thesis_console.core.producer import enqueue_thesis
from thesis_console.core.thesis_request import InvalidRequest, ThesisRequest


def test_summary_and_markdown_file(output_dir):
    request = ThesisRequest(topic="  Summaries of jobs  ", chapters=3, target_words=1500, degree_level="bachelor")
    summary = generate_thesis(request.to_json())
    assert summary.keys() == {"path", "words", "chapters", "title", "backend"}
    assert summary["title"] == "Summaries of jobs" and summary["chapters"] == 3 and summary["backend"] == "offline"
    path = Path(summary["path"])
    assert path.parent == output_dir and path.name.startswith("summaries-of-jobs-") and path.suffix == ".md"
    assert not list(output_dir.glob("*.tmp"))
    text = path.read_text(encoding="utf-8")
    assert summary["words"] == len(text.split())
    assert text.startswith("# Summaries of jobs\n\n*A bachelor thesis in Computer Science* (en)\n\n## Contents\n\n1. Introduction")
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Contents",
        "## 1. Introduction",
        "## 2. Background and Related Work",
        "## 3. Conclusion",
        "## References",
    ]


def test_default_output_folder_is_per_user_data(monkeypatch):
    monkeypatch.delenv(OUTPUT_DIR_ENV, raising=False)
    folder = default_output_dir()
    assert folder.name == "theses" and "thesis-console" in folder.parts


def test_unknown_backend_is_named(output_dir):
    with pytest.raises(GenerationError, match="unknown generation back-end 'gpt'"):
        generate_thesis(ThesisRequest(topic="Who writes this", options={"backend": "gpt"}).to_json())
    assert not output_dir.exists()


def test_invalid_request_is_rejected_before_any_work(output_dir):
    with pytest.raises(InvalidRequest, match="chapters"):
        generate_thesis({"topic": "Too many chapters", "chapters": 40})
    with pytest.raises(InvalidRequest, match="unknown field"):
        generate_thesis({"topic": "Strange field", "colour": "red"})


def test_fail_always_raises_generation_error(output_dir):
    with pytest.raises(GenerationError, match="fail_always"):
        generate_thesis(ThesisRequest(topic="Doomed", options={"fail_always": True}).to_json())


def _fetch(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=contract.SERIALIZER)


def test_progress_is_ten_at_start_and_hundred_at_the_end(redis_conn, openai_env, monkeypatch):
    """The HTTP server reads the job's progress from Redis as each request arrives, so every stage is seen."""
    monkeypatch.setenv("THESIS_BACKEND", "openai")
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Watching progress", chapters=3, target_words=1000))
    seen_progress: list[tuple[int | None, str | None]] = []

    def record(_: Seen) -> None:
        seen_progress.append(contract.progress_of(_fetch(redis_conn, job_id).meta))

    openai_env.on_request = record
    job = _fetch(redis_conn, job_id)
    summary = job.perform()  # runs generate_thesis in this process as the current RQ job

    assert seen_progress == [
        (10, "started"),  # asking for the outline
        (20, "outline"),  # chapter 1
        (43, "chapter 1/3"),
        (66, "chapter 2/3"),
        (90, "chapter 3/3"),  # asking for the references
    ]
    assert contract.progress_of(_fetch(redis_conn, job_id).meta) == (100, "completed")
    assert Path(summary["path"]).name.endswith(f"-{job_id}.md")


def test_fail_times_fails_the_first_attempts_only(redis_conn, output_dir):
    job_id = enqueue_thesis(redis_conn, ThesisRequest(topic="Fails once", chapters=3, options={"fail_times": 1}))
    job = _fetch(redis_conn, job_id)
    with pytest.raises(GenerationError, match="attempt 1 of 1"):
        job.perform()
    job.retries_left = contract.MAX_RETRIES - 1  # what RQ records when it schedules the retry
    assert job.perform()["backend"] == "offline"
