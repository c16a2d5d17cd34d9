"""``make soak``: the 1,000-job chaos run with full accounting (see :mod:`benchmarks.chaos`).

``--bullmq`` runs it on the thesis system's BullMQ queue with supervised Python BullMQ workers
(:mod:`benchmarks.bullmq_chaos`; needs the Node producer that ``make test`` installs in tests/node).
Options: ``--jobs N``, ``--seed S``, ``--deadline SECONDS``, ``--workdir DIR`` (keep the run's files:
ledger, Redis data, supervisor logs, theses). Prints Markdown tables for the README and exits 1 when
the run failed: a job lost or stuck, completed twice, designed to succeed but failed (or the
reverse), or with a wrong output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.chaos import ChaosConfig, ChaosRun, RqRun, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bullmq", action="store_true", help="run on BullMQ with Python BullMQ workers")
    parser.add_argument("--jobs", type=int, default=ChaosConfig.jobs)
    parser.add_argument("--seed", type=int, default=ChaosConfig.seed)
    parser.add_argument("--deadline", type=float, default=ChaosConfig.deadline_s, help="seconds before giving up")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run's files in this folder")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.deadline <= 0:
        parser.error("--jobs and --deadline must be positive")
    backend: type[ChaosRun] = RqRun
    cfg = ChaosConfig(jobs=args.jobs, seed=args.seed, deadline_s=args.deadline)
    title = "make soak"
    if args.bullmq:
        from benchmarks.bench_setup import NODE_MISSING, node_bullmq_installed
        from benchmarks.bullmq_chaos import BullRun, bullmq_config

        if not node_bullmq_installed():
            print(NODE_MISSING, file=sys.stderr)
            return 2
        backend, title = BullRun, "make soak ARGS=--bullmq"
        cfg = bullmq_config(jobs=args.jobs, seed=args.seed, deadline_s=args.deadline)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs", flush=True)
    if args.workdir is not None:
        report = run_chaos(cfg, args.workdir, title=title, backend=backend)
    else:
        with tempfile.TemporaryDirectory(prefix="thesis-soak-") as tmp:
            report = run_chaos(cfg, Path(tmp), title=title, backend=backend)
    print()
    print(report.table())
    print(f"load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
