"""``make soak``: the 1,000-job chaos run with full accounting (see :mod:`benchmarks.chaos`).

Options: ``--jobs N``, ``--seed S``, ``--deadline SECONDS``. Exits 1 when any job is lost or stuck.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.chaos import ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=ChaosConfig.seed)
    parser.add_argument("--deadline", type=float, default=ChaosConfig.deadline_s, help="seconds before giving up")
    args = parser.parse_args(argv)
    cfg = ChaosConfig(jobs=args.jobs, seed=args.seed, deadline_s=args.deadline)
    with tempfile.TemporaryDirectory(prefix="thesis-soak-") as tmp:
        report = run_chaos(cfg, Path(tmp))
    print()
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
