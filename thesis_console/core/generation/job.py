"""``generate_thesis``: the job function that a worker runs for each thesis request.

Stages: start (10 %), outline, each chapter (progress moves per chapter), references, assembly
into one Markdown document in the output folder (100 %). It returns a small summary.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from rq import get_current_job
from rq.job import Job

from thesis_console.core import contract
from thesis_console.core.generation.backend import GenerationError, backend_for
from thesis_console.core.thesis_request import ThesisRequest

OUTPUT_DIR_ENV = "THESIS_OUTPUT_DIR"


def output_dir() -> Path:
    """Where finished documents go: ``THESIS_OUTPUT_DIR``, else the per-user data folder."""
    configured = os.environ.get(OUTPUT_DIR_ENV)
    return Path(configured) if configured else Path(platformdirs.user_data_dir("thesis-console", appauthor=False)) / "theses"


@dataclass(frozen=True)
class RunContext:
    """Where a run reports to, whichever queue runs it.

    Attributes:
        job_id: the queue's job id (names the output file), or None outside a worker.
        attempt: which attempt this is, counting from 1, or None when unknown (``fail_times`` then
            never fails).
        report: called with a percentage and a stage name as the run moves on.
    """

    job_id: str | None
    attempt: int | None
    report: Callable[[int, str], None]


def generate_thesis(request: dict[str, Any]) -> dict[str, Any]:
    """Generate one thesis and write it as Markdown (the RQ job function).

    Args:
        request: a :class:`ThesisRequest` as JSON. ``options`` may hold ``pace_s`` (seconds to wait
            per stage, for demonstrations), ``fail_times`` (fail that many first attempts) and
            ``fail_always`` (always fail), which demonstrations and tests use.

    Returns:
        ``{"path", "words", "chapters", "title", "backend"}``.
    """
    job = get_current_job()
    if job is None:
        return run_generation(request, RunContext(None, None, lambda percent, stage: None))

    def report(percent: int, stage: str) -> None:
        contract.set_progress(job, percent, stage)

    return run_generation(request, RunContext(job.id, attempt_number(job), report))


def run_generation(request: dict[str, Any], context: RunContext) -> dict[str, Any]:
    """The work of :func:`generate_thesis`, reporting progress through ``context`` (any queue).

    Raises:
        InvalidRequest: the request is not a valid :class:`ThesisRequest`.
        GenerationError: the back-end failed, or the request asks to fail.
    """
    req = ThesisRequest.from_json(request)
    pace = float(req.options.get("pace_s", 0) or 0)

    def progress(percent: int, stage: str) -> None:
        context.report(percent, stage)
        if pace:
            time.sleep(pace)

    progress(10, "started")
    _maybe_fail(req, context.attempt)
    backend = backend_for(req)
    outline = backend.outline(req)
    if len(outline) != req.chapters:
        raise GenerationError(f"back-end {backend.name} gave {len(outline)} chapter titles, expected {req.chapters}")
    progress(20, "outline")
    bodies: list[str] = []
    for index, title in enumerate(outline):
        bodies.append(backend.chapter(req, index, title, outline))
        progress(20 + int(70 * (index + 1) / req.chapters), f"chapter {index + 1}/{req.chapters}")
    references = backend.references(req)
    progress(95, "references")
    title = req.topic.strip()
    document = _assemble(req, title, outline, bodies, references)
    # Outside a worker there is no job id; a random one keeps two runs in the same second apart.
    path = _write(document, title, context.job_id or f"local-{uuid.uuid4().hex[:12]}")
    words = len(document.split())
    context.report(100, "completed")
    return {"path": str(path), "words": words, "chapters": req.chapters, "title": title, "backend": backend.name}


def _maybe_fail(req: ThesisRequest, attempt: int | None) -> None:
    if req.options.get("fail_always"):
        raise GenerationError("the request asks to fail always (fail_always)")
    fail_times = int(req.options.get("fail_times", 0) or 0)
    if fail_times and attempt is not None and attempt <= fail_times:
        raise GenerationError(f"planned failure on attempt {attempt} of {fail_times} (fail_times)")


def attempt_number(job: Job) -> int:
    """Which attempt this is, counting from 1, from the job's retries left."""
    left = job.retries_left
    if left is None:
        return 1
    return contract.MAX_RETRIES - int(left) + 1


def _assemble(req: ThesisRequest, title: str, outline: list[str], bodies: list[str], references: list[str]) -> str:
    parts = [
        f"# {title}",
        f"*A {req.degree_level} thesis in {req.field_of_study}* ({req.language})",
        "## Contents",
        "\n".join(f"{i + 1}. {t}" for i, t in enumerate(outline)),
    ]
    for i, (chapter_title, body) in enumerate(zip(outline, bodies, strict=True)):
        parts.append(f"## {i + 1}. {chapter_title}")
        parts.append(body)
    parts.append("## References")
    parts.append("\n".join(f"- {ref}" for ref in references))
    return "\n\n".join(parts) + "\n"


def _write(document: str, title: str, job_id: str) -> Path:
    folder = output_dir()
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "thesis"
    path = folder / f"{slug}-{job_id}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)
    return path
