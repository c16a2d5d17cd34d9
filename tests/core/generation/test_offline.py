"""The offline back-end: deterministic, structured text near the word target."""

from __future__ import annotations

from pathlib import Path

import pytest

from thesis_console.core.generation.job import generate_thesis
from thesis_console.core.generation.offline import OfflineBackend
from thesis_console.core.thesis_request import CHAPTERS_MAX, CHAPTERS_MIN, ThesisRequest


def _parts(request: ThesisRequest) -> tuple[list[str], list[str], list[str]]:
    backend = OfflineBackend()  # a fresh instance each time: nothing may be carried over
    outline = backend.outline(request)
    bodies = [backend.chapter(request, i, title, outline) for i, title in enumerate(outline)]
    return outline, bodies, backend.references(request)


def test_same_request_gives_the_same_parts():
    request = ThesisRequest(topic="Deterministic generation", chapters=6, target_words=3000)
    assert _parts(request) == _parts(ThesisRequest.from_json(request.to_json()))


def test_same_request_gives_the_same_document(output_dir):
    request = ThesisRequest(topic="Deterministic generation", chapters=4, target_words=2000).to_json()
    first, second = generate_thesis(request), generate_thesis(request)
    assert first["path"] != second["path"]  # two files, so no run overwrites another
    assert Path(first["path"]).read_text(encoding="utf-8") == Path(second["path"]).read_text(encoding="utf-8")
    assert first["words"] == second["words"] and first["backend"] == "offline"


@pytest.mark.parametrize("chapters", range(CHAPTERS_MIN, CHAPTERS_MAX + 1))
def test_outline_has_the_requested_number_of_distinct_chapters(chapters):
    outline = OfflineBackend().outline(ThesisRequest(topic="Chapter counts", chapters=chapters))
    assert len(outline) == chapters and len(set(outline)) == chapters
    assert outline[0] == "Introduction" and outline[-1] == "Conclusion"


@pytest.mark.parametrize(
    ("target", "chapters"), [(1000, 3), (1000, 12), (2000, 4), (8000, 5), (30000, 10), (5000, 12)]
)
def test_document_length_is_near_the_target(output_dir, target, chapters):
    summary = generate_thesis(ThesisRequest(topic="Word targets", chapters=chapters, target_words=target).to_json())
    # Every chapter reaches its share and overshoots by one sentence at most; headings, contents and
    # references come on top, which matters only for short documents with many chapters.
    assert target <= summary["words"] <= target * 1.25
    if target >= 8000:
        assert summary["words"] <= target * 1.05


def test_different_topics_give_different_text():
    _, bodies_a, refs_a = _parts(ThesisRequest(topic="Quantum error correction", chapters=4))
    _, bodies_b, refs_b = _parts(ThesisRequest(topic="Medieval trade routes", chapters=4))
    assert all(a != b for a, b in zip(bodies_a, bodies_b, strict=True))
    assert refs_a != refs_b
    assert "Quantum error correction" in bodies_a[0] and "Medieval trade routes" in bodies_b[0]
    # Not only the topic's name changes: the choice of sentences follows the topic too.
    sentences_b = bodies_b[1].replace("Medieval trade routes", "Quantum error correction")
    assert sentences_b != bodies_a[1]


def test_chapter_bodies_use_only_subheadings():
    request = ThesisRequest(topic="Document structure", chapters=3, target_words=3000)
    outline, bodies, references = _parts(request)
    for index, body in enumerate(bodies):
        headings = [line for line in body.splitlines() if line.startswith("#")]
        assert headings and all(h.startswith(f"### {index + 1}.") for h in headings)
    assert len(references) == 5 and all(request.topic in r for r in references)
