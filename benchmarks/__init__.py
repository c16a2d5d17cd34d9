"""Benchmarks (``make bench``): side-by-side comparisons in one run, printed as tables with ratios."""
