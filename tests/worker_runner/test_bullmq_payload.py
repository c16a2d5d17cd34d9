"""The thesis request picked out of a BullMQ job's data, and the BullMQ supervisor options."""

from __future__ import annotations

import pytest

from worker_runner import config
from worker_runner.bullmq_payload import InvalidPayload, parse_payload


def test_the_producers_data_gives_the_request_in_either_spelling_and_names_what_is_ignored():
    payload = parse_payload({"thesisId": 7, "topic": "Queues at scale", "targetWords": 5000, "workMs": 3, "plan": "x"})
    assert payload.thesis_id == "7" and payload.ignored == ("plan", "workMs")
    assert payload.request["target_words"] == 5000 and payload.request["chapters"] == 5


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([1, 2], "must be a JSON object"),
        ({"thesisId": "t"}, "topic: is required"),
        ({"topic": "Queues at scale", "chapters": 40}, "chapters"),
        ({"topic": "Queues at scale", "targetWords": 5000, "target_words": 6000}, "target_words: given twice"),
        ({"topic": "Queues at scale", "thesisId": {"a": 1}}, "thesisId: must be text or a number"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_problem(data, problem):
    with pytest.raises(InvalidPayload, match=problem):
        parse_payload(data)


def test_backend_bullmq_defaults_to_the_thesis_systems_queue_and_refuses_several_queues_or_burst():
    resolved = config.resolve({"backend": "bullmq"}, environ={})
    assert resolved.backend is config.WorkerBackend.BULLMQ and resolved.queues == ("thesis-generation",)
    assert resolved.job_name == "generate-thesis" and resolved.bullmq_prefix == "bull"
    with pytest.raises(config.ConfigError, match="works on one queue"):
        config.resolve({"backend": "bullmq", "queues": ["a", "b"]}, environ={})
    with pytest.raises(config.ConfigError, match="no burst mode"):
        config.resolve({"backend": "bullmq", "burst": True}, environ={})
    with pytest.raises(config.ConfigError, match="--backend: must be one of rq, bullmq"):
        config.resolve({"backend": "celery"}, environ={})
