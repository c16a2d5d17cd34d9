"""Run every benchmark module in turn: ``python -m benchmarks [name ...]``.

Each module is run as its own process (so one's memory and threads do not skew the next) and
prints its own table. Names: worker, core-read, core-act, gui, watch, bullmq-worker, bullmq-read, bullmq-metrics, position.
"""

from __future__ import annotations

import subprocess
import sys

MODULES = {
    "worker": "benchmarks.worker_bench",
    "core-read": "benchmarks.core_read_bench",
    "core-act": "benchmarks.core_act_bench",
    "gui": "benchmarks.gui_bench",
    "watch": "benchmarks.watch_bench",
    "bullmq-worker": "benchmarks.bullmq_worker_bench",
    "bullmq-read": "benchmarks.bullmq_read_bench",
    "bullmq-metrics": "benchmarks.bullmq_metrics_bench",
    "position": "benchmarks.position_bench",
}


def main(argv: list[str]) -> int:
    names = argv or list(MODULES)
    failed = []
    for name in names:
        module = MODULES.get(name)
        if module is None:
            print(f"unknown benchmark {name!r}; choose from {', '.join(MODULES)}", file=sys.stderr)
            return 2
        print(f"\n=== {name} ({module}) ===", flush=True)
        if subprocess.call([sys.executable, "-m", module]) != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
