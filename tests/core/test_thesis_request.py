from __future__ import annotations

import pytest

from thesis_console.core.thesis_request import InvalidRequest, ThesisRequest


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"topic": "ab"}, "topic"),
        ({"topic": "x" * 301}, "topic"),
        ({"field_of_study": " "}, "field_of_study"),
        ({"degree_level": "kindergarten"}, "degree_level"),
        ({"language": "klingon"}, "language"),
        ({"chapters": 2}, "chapters"),
        ({"chapters": 13}, "chapters"),
        ({"chapters": True}, "chapters"),
        ({"target_words": 10}, "target_words"),
        ({"target_words": "many"}, "target_words"),
    ],
)
def test_invalid_field_is_named(changes, field):
    with pytest.raises(InvalidRequest) as info:
        ThesisRequest(**{"topic": "Queues in practice", **changes})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")


def test_round_trip_and_unknown_field():
    req = ThesisRequest(topic="Queues in practice", chapters=3, target_words=1000)
    assert ThesisRequest.from_json(req.to_json()) == req
    with pytest.raises(InvalidRequest, match="colour: unknown field"):
        ThesisRequest.from_json({**req.to_json(), "colour": "red"})
    with pytest.raises(InvalidRequest, match="topic: is required"):
        ThesisRequest.from_json({"chapters": 3})
