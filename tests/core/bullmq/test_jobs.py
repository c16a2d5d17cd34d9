"""Reading a BullMQ job hash into a row (core/bullmq/jobs.py)."""

from __future__ import annotations

import pytest

from thesis_console.core.bullmq.jobs import failed_reason


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b'"the request asks to fail always (fail_always)"', "the request asks to fail always (fail_always)"),  # Python
        (b"the request asks to fail always", "the request asks to fail always"),  # Node
        (b'"quoted" and then more', '"quoted" and then more'),  # not one JSON string: as it is
        (b'"a \\"nested\\" quote\\nand a line"', 'a "nested" quote\nand a line'),
        (b'"broken \\x"', '"broken \\x"'),
        (b'"', '"'),
        (b"", ""),
        (None, None),
    ],
)
def test_failed_reason_is_shown_as_the_worker_meant_it(raw, shown) -> None:
    assert failed_reason(raw) == shown
