"""The thesis request: what a producer asks for, validated before anything touches Redis."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DEGREE_LEVELS = ("bachelor", "master", "doctorate")
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")
TOPIC_MIN, TOPIC_MAX = 3, 300
CHAPTERS_MIN, CHAPTERS_MAX = 3, 12
WORDS_MIN, WORDS_MAX = 1_000, 200_000
FIELD_MAX = 120
PACE_MAX_S = 600.0
"""Longest ``pace_s`` (seconds per stage) a request may ask for."""


class InvalidRequest(ValueError):
    """A request field is wrong; ``field`` names it and the message says what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class ThesisRequest:
    """One thesis to generate.

    Attributes:
        topic: what the thesis is about, 3 to 300 characters.
        field_of_study: the discipline, for example "Computer Science".
        degree_level: one of :data:`DEGREE_LEVELS`.
        language: an ISO 639-1 code from :data:`LANGUAGES`.
        chapters: number of chapters, 3 to 12.
        target_words: target length of the whole document in words.
        options: back-end options that are not part of the request proper (``pace_s``,
            ``fail_times`` for demonstrations and tests); JSON values only.
    """

    topic: str
    field_of_study: str = "Computer Science"
    degree_level: str = "master"
    language: str = "en"
    chapters: int = 5
    target_words: int = 8_000
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ThesisRequest:
        """Rebuild a request from :meth:`to_json` output, validating it again.

        Raises:
            InvalidRequest: a field is missing, unknown or wrong.
        """
        if not isinstance(data, dict):
            raise InvalidRequest("request", f"expected an object, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(unknown[0], "unknown field")
        if "topic" not in data:
            raise InvalidRequest("topic", "is required")
        return cls(**data)


def validate(req: ThesisRequest) -> None:
    """Check every field; the first problem is raised as :class:`InvalidRequest` naming the field."""
    if not isinstance(req.topic, str):
        raise InvalidRequest("topic", "must be text")
    topic = req.topic.strip()
    if not TOPIC_MIN <= len(topic) <= TOPIC_MAX:
        raise InvalidRequest("topic", f"must be {TOPIC_MIN} to {TOPIC_MAX} characters, got {len(topic)}")
    if not isinstance(req.field_of_study, str) or not req.field_of_study.strip():
        raise InvalidRequest("field_of_study", "must not be empty")
    if len(req.field_of_study) > FIELD_MAX:
        raise InvalidRequest("field_of_study", f"must be at most {FIELD_MAX} characters")
    if req.degree_level not in DEGREE_LEVELS:
        raise InvalidRequest("degree_level", f"must be one of {', '.join(DEGREE_LEVELS)}, got {req.degree_level!r}")
    if req.language not in LANGUAGES:
        raise InvalidRequest("language", f"must be one of {', '.join(LANGUAGES)}, got {req.language!r}")
    if not isinstance(req.chapters, int) or isinstance(req.chapters, bool):
        raise InvalidRequest("chapters", "must be a whole number")
    if not CHAPTERS_MIN <= req.chapters <= CHAPTERS_MAX:
        raise InvalidRequest("chapters", f"must be {CHAPTERS_MIN} to {CHAPTERS_MAX}, got {req.chapters}")
    if not isinstance(req.target_words, int) or isinstance(req.target_words, bool):
        raise InvalidRequest("target_words", "must be a whole number")
    if not WORDS_MIN <= req.target_words <= WORDS_MAX:
        raise InvalidRequest("target_words", f"must be {WORDS_MIN} to {WORDS_MAX}, got {req.target_words}")
    if not isinstance(req.options, dict):
        raise InvalidRequest("options", "must be an object")
    for name, value in (("topic", req.topic), ("field_of_study", req.field_of_study)):
        if any(c in value for c in _NOT_TEXT):
            raise InvalidRequest(name, "must be plain text: it holds a control character or bytes that are not UTF-8")
    pace = req.options.get("pace_s", 0)
    if isinstance(pace, bool) or not isinstance(pace, (int, float)) or not 0 <= pace <= PACE_MAX_S:
        raise InvalidRequest("pace_s", f"must be a number of seconds from 0 to {PACE_MAX_S:g}, got {pace!r}")


_NOT_TEXT = frozenset(chr(c) for c in (*range(0x20), 0x7F)) - {"\t"} | frozenset(chr(c) for c in range(0xD800, 0xE000))
"""Control characters and lone surrogates (what Python makes of bytes that are not UTF-8)."""
