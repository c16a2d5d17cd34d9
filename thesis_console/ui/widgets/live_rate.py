"""Live throughput smoothed over a sliding window.

Each live sample says how many jobs ended between two snapshots (a fraction of a second to a few
seconds apart). Drawn as a rate per sample, one job in a one-second interval reads as 60 jobs/min; the
chart instead shows, at each sample, the jobs that ended in the window before it (the stored metrics'
interval, one minute), per minute: the figure the stored per-minute steps give for a full minute.
"""

from __future__ import annotations

import numpy as np


def sliding_rate(starts: np.ndarray, ends: np.ndarray, counts: np.ndarray, window_s: float) -> np.ndarray:
    """Events per second over the ``window_s`` seconds before each sample's end.

    Args:
        starts: when each sample's interval began (the previous snapshot), oldest first.
        ends: when each sample's interval ended (its snapshot).
        counts: events in each interval; spread evenly over it.
        window_s: the sliding window.

    Returns:
        One rate per sample; NaN where the samples do not yet cover a whole window before it.
    """
    if window_s <= 0:
        raise ValueError(f"the window must be positive, got {window_s}")
    n = len(ends)
    if n == 0:
        return np.zeros(0)
    # The running total as a function of time: flat across a gap between samples, rising linearly
    # through each sample's interval.
    total = np.cumsum(counts)
    xs = np.empty(2 * n)
    xs[0::2], xs[1::2] = starts, ends
    xs = np.maximum.accumulate(xs)  # an interval that starts before the previous one ended is cut
    ys = np.empty(2 * n)
    ys[0::2], ys[1::2] = total - counts, total
    window_start = ends - window_s
    rate = (total - np.interp(window_start, xs, ys)) / window_s
    rate[window_start < xs[0]] = np.nan
    return rate
