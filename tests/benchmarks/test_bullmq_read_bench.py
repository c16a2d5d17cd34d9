"""The BullMQ reading benchmark runs end to end on a small data set (no timing is checked here)."""

from __future__ import annotations

import re

from benchmarks import bullmq_read_bench


def test_the_benchmark_runs_on_a_small_data_set(capsys):
    assert bullmq_read_bench.main(["--jobs", "3000", "--repeat", "1", "--retry-jobs", "500", "--no-board"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^(page \w+ @\w+ \([\d,]+\)|counts of 10 queues)\s+[\d.]+\s+(\d+)\s+\d+", out, re.MULTILINE)
    trips = {what: int(rt) for what, rt in rows}
    assert len(trips) == 10 and trips["counts of 10 queues"] == 1
    assert trips["page waiting @end (1,150)"] == 2 and trips["page failed @middle (450)"] == 2
    assert "ours (console retry-all)" in out and "Node BullMQ queue.retryJobs" in out
