"""The offline back-end: composes structured text from the request, deterministically.

It needs no network and gives the same document for the same request, which makes it the default
for development, demonstrations and tests.
"""

from __future__ import annotations

import hashlib
import random

from thesis_console.core.thesis_request import ThesisRequest

_CHAPTER_KINDS = [
    "Introduction",
    "Background and Related Work",
    "Problem Statement",
    "Methodology",
    "Design",
    "Implementation",
    "Evaluation",
    "Results",
    "Discussion",
    "Threats to Validity",
    "Future Work",
    "Conclusion",
]

_SENTENCES = [
    "This chapter examines {topic} from the perspective of {field}.",
    "Prior work in {field} has approached {topic} with a range of methods, each with its limits.",
    "We state the assumptions that frame our treatment of {topic} and justify each of them.",
    "The argument proceeds in steps, so that every claim about {topic} rests on evidence given earlier.",
    "A {degree} thesis is expected to show command of the literature and a contribution of its own.",
    "Where the evidence on {topic} is mixed, we say so and weigh the competing readings.",
    "The results are compared with a baseline, and the differences are tested for significance.",
    "Each design decision is traced back to a requirement identified in the problem statement.",
    "The discussion relates the findings on {topic} to open questions in {field}.",
    "Limitations of the data and of the method are named so that readers can judge the conclusions.",
]


class OfflineBackend:
    name = "offline"

    def outline(self, request: ThesisRequest) -> list[str]:
        middle = _CHAPTER_KINDS[1:-1]
        picks = middle[: request.chapters - 2] if request.chapters - 2 <= len(middle) else middle
        return ["Introduction", *picks, "Conclusion"][: request.chapters]

    def chapter(self, request: ThesisRequest, index: int, title: str, outline: list[str]) -> str:
        rng = random.Random(_seed(request, index))
        words_per_chapter = max(60, request.target_words // max(1, request.chapters))
        values = {
            "topic": request.topic.strip(),
            "field": request.field_of_study,
            "degree": request.degree_level,
        }
        paragraphs: list[str] = []
        words = 0
        section = 1
        while words < words_per_chapter:
            if len(paragraphs) % 3 == 0:
                heading = f"### {index + 1}.{section} {title}: part {section}"
                paragraphs.append(heading)
                words += len(heading.split())
                section += 1
            sentences: list[str] = []
            for _ in range(rng.randint(4, 7)):
                sentence = rng.choice(_SENTENCES).format(**values)
                sentences.append(sentence)
                words += len(sentence.split())
                # Stop mid-paragraph once the target is met, so a chapter overshoots by one sentence at most.
                if words >= words_per_chapter:
                    break
            paragraphs.append(" ".join(sentences))
        return "\n\n".join(paragraphs)

    def references(self, request: ThesisRequest) -> list[str]:
        rng = random.Random(_seed(request, -1))
        authors = ["Smith, J.", "Garcia, M.", "Chen, L.", "Müller, K.", "Okafor, A.", "Rossi, P.", "Tanaka, H."]
        return [
            f"{rng.choice(authors)} ({2000 + rng.randint(0, 25)}). "
            f"{request.topic.strip()}: {kind.lower()}. Journal of {request.field_of_study}, {rng.randint(1, 60)}."
            for kind in ("a survey", "methods", "an empirical study", "theory", "applications")
        ]


def _seed(request: ThesisRequest, index: int) -> int:
    digest = hashlib.sha256(f"{request.topic}|{request.field_of_study}|{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
