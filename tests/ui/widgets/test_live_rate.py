"""The live throughput's sliding window (ui/widgets/live_rate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from thesis_console.ui.widgets.live_rate import sliding_rate


def samples(n: int, every_s: float, t0: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    ends = t0 + every_s * np.arange(1, n + 1)
    return ends - every_s, ends


def test_one_job_in_one_second_is_one_job_per_minute_not_sixty():
    starts, ends = samples(240, 1.0)  # four minutes of 1 s snapshots
    counts = np.zeros(240)
    counts[100] = 1.0
    per_min = 60 * sliding_rate(starts, ends, counts, 60.0)
    assert np.nanmax(per_min) == pytest.approx(1.0)
    # The job counts for the minute after it ended, then leaves the window.
    assert per_min[100] == pytest.approx(1.0) and per_min[159] == pytest.approx(1.0)
    assert per_min[161] == pytest.approx(0.0) and per_min[99] == pytest.approx(0.0)


def test_a_steady_rate_reads_the_same_at_any_sampling_interval():
    for every_s in (0.5, 2.0, 7.0):
        starts, ends = samples(int(300 / every_s), every_s)
        counts = np.full(len(ends), 2.0 * every_s)  # 2 jobs/s
        per_min = 60 * sliding_rate(starts, ends, counts, 60.0)
        covered = ~np.isnan(per_min)
        assert covered.any()
        assert per_min[covered] == pytest.approx(120.0)


def test_no_rate_until_a_whole_window_is_covered():
    starts, ends = samples(10, 10.0)
    rate = sliding_rate(starts, ends, np.ones(10), 60.0)
    assert np.isnan(rate[:5]).all()  # the first sample starts at 1000; a full minute ends at 1060
    assert not np.isnan(rate[5:]).any()


def test_a_gap_between_samples_adds_no_jobs():
    # Samples 1000-1060, then none until a sample covering 1300-1301 (after a reconnection).
    starts = np.append(np.arange(1000.0, 1060.0), 1300.0)
    ends = starts + 1.0
    counts = np.append(np.zeros(60), 3.0)
    rate = sliding_rate(starts, ends, counts, 60.0)
    assert rate[-1] * 60 == pytest.approx(3.0)  # three jobs in the minute before 1301, not spread over the gap
    assert rate[-2] == 0.0


def test_bad_window_and_empty_input():
    with pytest.raises(ValueError, match="window must be positive"):
        sliding_rate(np.zeros(1), np.ones(1), np.ones(1), 0.0)
    assert len(sliding_rate(np.zeros(0), np.zeros(0), np.zeros(0), 60.0)) == 0
