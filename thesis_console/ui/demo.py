"""The demonstration: a handful of sample theses through the core, and local workers to run them.

Within a minute a first-time user sees every view alive: jobs waiting, active with moving progress,
one scheduled, some failing once and succeeding on retry, one failing for good, completed ones, and
the workers in the Workers view and the Local workers panel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from thesis_console.core.thesis_request import ThesisRequest

log = logging.getLogger("thesis_console.ui.demo")

DEMO_WORKERS = 2


@dataclass(frozen=True)
class SampleThesis:
    topic: str
    field_of_study: str
    options: dict[str, Any] = field(default_factory=dict)
    chapters: int = 3
    delay_s: float = 0.0
    degree_level: str = "master"
    language: str = "en"


SAMPLES: tuple[SampleThesis, ...] = (
    SampleThesis("Energy-aware scheduling of batch jobs in small data centres", "Computer Science", {"pace_s": 1.5}),
    SampleThesis("Soil microbiome responses to drought in alpine meadows", "Ecology", {"pace_s": 1.5}),
    SampleThesis("Rhetoric of austerity in European parliamentary debates", "Political Science", {"fail_times": 1, "pace_s": 0.5}),
    SampleThesis("Low-cost seismic sensors for school buildings", "Civil Engineering", {"fail_times": 1, "pace_s": 0.5}),
    SampleThesis("Narrative structure in early modern travel writing", "Literature", {"pace_s": 1.0}, degree_level="bachelor"),
    SampleThesis("Federated learning for rare disease registries", "Medical Informatics", {"pace_s": 2.0}, chapters=4, degree_level="doctorate"),
    SampleThesis("Urban heat islands and tree canopy in mid-sized cities", "Geography", {"pace_s": 0.3}, language="de"),
    SampleThesis("Price formation in peer-to-peer electricity markets", "Economics", {"fail_always": True, "pace_s": 0.3}),
    SampleThesis("Tidal energy and coastal sediment transport", "Oceanography", {"pace_s": 1.0}, delay_s=45.0),
)


def sample_requests() -> list[tuple[ThesisRequest, float]]:
    """The sample requests (validated) with their delays."""
    return [
        (
            ThesisRequest(
                topic=s.topic,
                field_of_study=s.field_of_study,
                degree_level=s.degree_level,
                language=s.language,
                chapters=s.chapters,
                target_words=2000,
                options=dict(s.options),
            ),
            s.delay_s,
        )
        for s in SAMPLES
    ]


async def enqueue_samples(actions: Any, queue: str) -> list[str]:
    """Queue every sample through the core's actions; returns the new job ids."""
    ids: list[str] = []
    for request, delay in sample_requests():
        ids.append(await actions.enqueue(request, queue=queue, delay_s=delay))
    return ids


class LocalStart(StrEnum):
    """What the demo did about local workers."""

    STARTED = "started"
    REUSED = "reused"
    """The panel already runs a supervisor (its own, or one an earlier console left running)."""
    NOT_STARTED = "not started"


def start_local_workers(panel: Any, count: int = DEMO_WORKERS, queue: str | None = None) -> LocalStart:
    """Ask the Local workers panel to start ``count`` workers on ``queue``, or reuse the supervisor it runs.

    The panel (``LocalWorkersPanel``) starts a supervisor with its slider's value on
    the queues of its queue field, so those are set first.
    """
    if panel is None or not callable(getattr(panel, "start", None)):
        return LocalStart.NOT_STARTED
    if panel.is_running():
        return LocalStart.REUSED
    slider = getattr(panel, "slider", None)
    if slider is not None:
        slider.setValue(count)
    queues_edit = getattr(panel, "queues_edit", None)
    if queue and queues_edit is not None:
        queues_edit.setText(queue)
    try:
        panel.start()
    except Exception as exc:
        log.warning("could not start local workers: %s", exc)
        return LocalStart.NOT_STARTED
    process = getattr(panel, "process", None)
    return LocalStart.STARTED if process is not None else LocalStart.NOT_STARTED


async def run_demo(window: Any) -> str:
    """Queue the samples on the window's current queue and start local workers; returns what it did."""
    queue = window.controller.current_queue
    outcome = await window.controller.act("demo", lambda actions: enqueue_samples(actions, queue), notice=lambda _ids: None)
    if outcome.error is not None:
        raise RuntimeError(outcome.error)
    ids = outcome.value or []
    panel = getattr(window, "local_workers", None)
    started = start_local_workers(panel, queue=queue)
    text = f"demo: queued {len(ids)} sample theses in {queue}"
    if started is LocalStart.STARTED:
        text += f" and started {DEMO_WORKERS} local workers"
    elif started is LocalStart.REUSED:
        adopted = getattr(panel, "adopted", None)
        whose = f"supervisor {adopted.record.id} left running by an earlier console" if adopted is not None else "its supervisor"
        text += f"; the Local workers panel already runs {whose}: reused it (it must take jobs from {queue} to run them)"
    else:
        text += "; start workers in the Local workers panel to run them"
    window.controller.request_refresh()
    return text
