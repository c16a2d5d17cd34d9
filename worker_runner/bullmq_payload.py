"""What a BullMQ thesis job carries, as the Next.js producer sends it, turned into a thesis request.

The data is a JSON object: ``thesisId`` and the :class:`~thesis_console.core.thesis_request.ThesisRequest`
fields, spelled as the request spells them (``target_words``) or the JavaScript way (``targetWords``).
Any other field the producer adds is ignored (the worker logs its name once), never a failure. The
request fields themselves are validated: a bad one is :class:`InvalidPayload` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thesis_console.core.thesis_request import InvalidRequest, ThesisRequest

THESIS_ID_FIELD = "thesisId"
REQUEST_FIELDS = tuple(ThesisRequest.__dataclass_fields__)
CAMEL_CASE = {"fieldOfStudy": "field_of_study", "degreeLevel": "degree_level", "targetWords": "target_words"}
"""The JavaScript spelling of the request fields whose names have more than one word."""


class InvalidPayload(ValueError):
    """The job's data is not a thesis request; the message names the field and the problem."""


@dataclass(frozen=True)
class ThesisPayload:
    """A checked thesis job: its thesis id (None when the producer sent none), the request, what was ignored."""

    thesis_id: str | None
    request: dict[str, Any]
    ignored: tuple[str, ...]


def parse_payload(data: Any) -> ThesisPayload:
    """Check a job's data and pick the thesis request out of it.

    Raises:
        InvalidPayload: the data is not an object, a request field is missing or wrong, or a field is
            given in both spellings.
    """
    if not isinstance(data, dict):
        raise InvalidPayload(f"the job's data must be a JSON object with the thesis request, got {type(data).__name__}")
    request: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in data.items():
        name = CAMEL_CASE.get(key, key)
        if name in REQUEST_FIELDS:
            if name in request:
                raise InvalidPayload(f"{name}: given twice ({key!r} and its other spelling)")
            request[name] = value
        elif key != THESIS_ID_FIELD:
            ignored.append(str(key))
    thesis_id = data.get(THESIS_ID_FIELD)
    if thesis_id is not None and not isinstance(thesis_id, (str, int)):
        raise InvalidPayload(f"{THESIS_ID_FIELD}: must be text or a number, got {type(thesis_id).__name__}")
    try:
        checked = ThesisRequest.from_json(request)
    except InvalidRequest as exc:
        raise InvalidPayload(str(exc)) from None
    except TypeError as exc:  # a field of the wrong shape that the dataclass itself refuses
        raise InvalidPayload(str(exc)) from None
    return ThesisPayload(
        thesis_id=None if thesis_id is None else str(thesis_id),
        request=checked.to_json(),
        ignored=tuple(sorted(ignored)),
    )
