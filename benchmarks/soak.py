"""``make soak``: the 1,000-job chaos run with full accounting (see :mod:`benchmarks.chaos`).

``--bullmq`` runs the BullMQ mode instead (:mod:`benchmarks.bullmq_soak`). Options: ``--jobs N``, ``--seed S``, ``--deadline SECONDS``, ``--workdir DIR`` (keep the run's
files: ledger, Redis data, supervisor logs, theses). Prints Markdown tables for the README and
exits 1 when the run failed: a job lost or stuck, completed twice, designed to succeed but failed
(or the reverse), or with a wrong output.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.chaos import ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    if "--bullmq" in (sys.argv[1:] if argv is None else argv):
        from benchmarks.bullmq_soak import main as bullmq_main

        return bullmq_main(argv)
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=ChaosConfig.jobs)
    parser.add_argument("--seed", type=int, default=ChaosConfig.seed)
    parser.add_argument("--deadline", type=float, default=ChaosConfig.deadline_s, help="seconds before giving up")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run's files in this folder")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.deadline <= 0:
        parser.error("--jobs and --deadline must be positive")
    cfg = ChaosConfig(jobs=args.jobs, seed=args.seed, deadline_s=args.deadline)
    if args.workdir is not None:
        report = run_chaos(cfg, args.workdir, title="make soak")
    else:
        with tempfile.TemporaryDirectory(prefix="thesis-soak-") as tmp:
            report = run_chaos(cfg, Path(tmp), title="make soak")
    print()
    print(report.table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
