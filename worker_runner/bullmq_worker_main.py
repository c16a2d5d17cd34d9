"""Entry point of one supervised BullMQ worker process: ``python -m worker_runner.bullmq_worker_main``.

The BullMQ twin of :mod:`worker_runner.worker_main` (same start-up: die with the supervisor, log to
its own file, wait for Redis), running the ``bullmq`` package's Worker with concurrency 1 on one
queue. Each job runs :func:`~thesis_console.core.generation.job.run_generation` in a thread, so the
event loop keeps renewing the job's lock (a processor that blocks the loop loses its lock and the job
runs twice); progress goes back to the loop as ``updateProgress`` calls (10 at the start, the stages,
100 at the end) and the result is the job's returnvalue, as a Node worker returns it.

The request runs through ``run_generation`` unless :data:`RUN_ENV` names another function of the same
signature that is on the workers' allowlist (the soak runs its recording job so).

A job whose name is not the thesis job's, or whose data is not a thesis request, fails at once with
BullMQ's ``UnrecoverableError`` (no retries) and a reason that says why; any other failure is retried
as the job's own ``attempts`` and ``backoff`` say.

The worker's id (the first part of every lock token it holds) is its name, so the supervisor can
tell its jobs when it dies (:mod:`worker_runner.bullmq_supervision`). SIGTERM closes it after its
job; a second SIGTERM stops it at once (the supervisor then puts the job back in wait).

Exit codes: 0 stopped on request, 1 the worker failed, 2 bad arguments or :data:`RUN_ENV`, 78 Redis refused us.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Any, cast

from worker_runner.bullmq_payload import InvalidPayload, parse_payload
from worker_runner.worker_args import start_worker_process, worker_parser

log = logging.getLogger("worker_runner.bullmq_worker")

METRICS_POINTS = 7 * 24 * 60
"""BullMQ's own per-minute metrics are kept for 7 days, so Node tools read them too."""
PROGRESS_TIMEOUT_S = 30.0
RECONNECT_MAX_S = 1.0
"""Longest wait between two tries to reach Redis again. The package's own back-off doubles up to 20 s
(2, 4, 8, 16 s...), so a worker came back up to 16 s after a short Redis restart (measured: 7 to 9 s
after a 1 to 2 s outage); Node's ioredis waits at most 2 s."""
RECONNECT_TRIES = 600
"""How many tries each Redis command makes (about 10 minutes at :data:`RECONNECT_MAX_S`; the
package's default gives up after about 6): a job's completion waits out an outage that long."""
RUN_ENV = "THESIS_BULLMQ_RUN"
"""``module.func`` that a thesis request runs through instead of ``run_generation``: called with the
checked request and a :class:`~thesis_console.core.generation.job.RunContext`; it must be on the
allowlist (``THESIS_WORKER_ALLOW``)."""
RunFunction = Callable[[dict[str, Any], Any], dict[str, Any]]


class BadRunFunction(ValueError):
    """:data:`RUN_ENV` names no function this worker may run; the message says why."""


def run_function(environ: Mapping[str, str] | None = None) -> RunFunction:
    """The function thesis requests run through: ``run_generation``, or the allowed one :data:`RUN_ENV` names.

    Raises:
        BadRunFunction: the name is not ``module.func``, not on the allowlist, or does not import.
    """
    from thesis_console.core.generation.job import run_generation
    from thesis_console.core.job_allowlist import Allowlist, parse_name

    env = os.environ if environ is None else environ
    raw = env.get(RUN_ENV, "").strip()
    if not raw:
        return run_generation
    try:
        name = parse_name(raw)
        allowed = Allowlist.from_environment(env)
    except ValueError as exc:
        raise BadRunFunction(f"{RUN_ENV}: {exc}") from None
    if name not in allowed.names:
        raise BadRunFunction(f"{RUN_ENV}: {name} is not on the allowlist (add it with --allow)")
    module, _, attr = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise BadRunFunction(f"{RUN_ENV}: {name} cannot be imported: {exc}") from None
    if not callable(found):
        raise BadRunFunction(f"{RUN_ENV}: {name} is not a function")
    return cast(RunFunction, found)


def build_parser() -> argparse.ArgumentParser:
    parser = worker_parser("python -m worker_runner.bullmq_worker_main", __doc__, "worker name (also its lock-token id)")
    parser.add_argument("--queue", required=True, help="BullMQ queue name")
    parser.add_argument("--prefix", default="bull", help="BullMQ key prefix")
    parser.add_argument("--job-name", default="generate-thesis", help="the only job name this worker runs")
    return parser


class ThesisProcessor:
    """The BullMQ processor: checks the job, runs the generation in a thread, reports progress."""

    def __init__(self, job_name: str, run: RunFunction | None = None) -> None:
        self.job_name = job_name
        self.run = run_function() if run is None else run
        self._ignored_said: set[str] = set()

    async def __call__(self, job: Any, token: str) -> dict[str, Any]:
        from bullmq.custom_errors import UnrecoverableError

        from thesis_console.core.generation.job import RunContext

        if job.name != self.job_name:
            raise UnrecoverableError(
                f"job name {job.name!r} is not the thesis job's ({self.job_name!r}); this worker runs only thesis jobs"
            )
        try:
            payload = parse_payload(job.data)
        except InvalidPayload as exc:
            raise UnrecoverableError(f"not a valid thesis request: {exc}") from None
        new = [name for name in payload.ignored if name not in self._ignored_said]
        if new:
            self._ignored_said.update(new)
            log.info("ignoring field(s) the thesis request does not have: %s", ", ".join(new))
        loop = asyncio.get_running_loop()

        def report(percent: int, stage: str) -> None:
            # From the generation thread: the loop sends it, and this thread waits so the order holds.
            asyncio.run_coroutine_threadsafe(job.updateProgress(percent), loop).result(PROGRESS_TIMEOUT_S)

        attempt = int(job.attemptsMade) + 1
        log.info("job %s (thesis %s), attempt %s: started", job.id, payload.thesis_id, attempt)
        context = RunContext(job_id=str(job.id), attempt=attempt, report=report)
        result = await asyncio.to_thread(self.run, payload.request, context)
        log.info("job %s: completed", job.id)
        if payload.thesis_id is not None:
            result = {"thesisId": payload.thesis_id, **result}
        return result


def worker_class() -> type:
    """The package's Worker, failing a job whose stored data or options are not JSON (instead of crashing)."""
    from bullmq import Worker

    class ThesisBullWorker(Worker):  # type: ignore[misc]
        def nextJobFromJobData(self, job_data=None, job_id=None, limit_until=0, delay_until=0, token=None):  # noqa: N802, ANN001
            try:
                return super().nextJobFromJobData(job_data, job_id, limit_until, delay_until, token)
            except ValueError as exc:  # json.loads of the job's data, opts or progress
                problem = f"the job's stored data is not JSON ({exc}); it cannot be run"
                log.warning("job %s: %s", job_id, problem)
                repaired = {**(job_data or {}), "data": "null", "opts": "{}", "progress": "0"}
                job = super().nextJobFromJobData(repaired, job_id, limit_until, delay_until, token)
                job.deferredFailure = problem  # failed at once by the Worker, with UnrecoverableError
                return job

    return ThesisBullWorker


def reconnect_quickly(worker: Any) -> None:
    """Give the worker's two Redis clients (commands, blocking waits) a retry capped at :data:`RECONNECT_MAX_S`."""
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    for client in (worker.client, worker.bclient):
        client.set_retry(Retry(ExponentialBackoff(cap=RECONNECT_MAX_S, base=0.05), RECONNECT_TRIES))


async def work(args: argparse.Namespace, url: str, processor: ThesisProcessor) -> int:
    stops = 0
    stop = asyncio.Event()
    worker = worker_class()(
        args.queue,
        processor,
        {
            "connection": url,
            "prefix": args.prefix,
            "concurrency": 1,
            "autorun": False,
            "name": args.name,
            "metrics": {"maxDataPoints": METRICS_POINTS},
        },
    )
    reconnect_quickly(worker)
    worker.id = args.name  # lock tokens are "<id>:<n>": the supervisor finds this worker's jobs by it
    worker.lockManager.worker_id = args.name
    worker.on("error", lambda err, *rest: log.error("worker error: %s: %s", type(err).__name__, err))
    worker.on("failed", lambda job, err, *rest: log.warning("job %s failed: %s", job.id, err))

    def on_signal() -> None:
        nonlocal stops
        stops += 1
        stop.set()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, on_signal)
    loop.add_signal_handler(signal.SIGINT, on_signal)
    running = asyncio.ensure_future(worker.run())
    log.info("worker %s takes jobs named %r from %s:%s", args.name, args.job_name, args.prefix, args.queue)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({running, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        stopper.cancel()
        log.error("the BullMQ work loop ended on its own")
        return 1
    log.info("stopping after the current job")
    stop.clear()
    closing = asyncio.ensure_future(worker.close())
    again = asyncio.ensure_future(stop.wait())
    await asyncio.wait({closing, again}, return_when=asyncio.FIRST_COMPLETED)
    if not closing.done():
        log.info("second stop request: leaving the current job to the supervisor")
        logging.shutdown()
        os._exit(0)  # the job's thread cannot be stopped; the supervisor puts the job back in wait
    again.cancel()
    running.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start_worker_process(args)
    url = os.environ.get("REDIS_URL", "")
    if not url:
        log.error("REDIS_URL is not set; the supervisor passes it")
        return 2
    try:
        processor = ThesisProcessor(args.job_name)
    except BadRunFunction as exc:
        log.error("%s", exc)
        return 2
    from worker_runner.worker_main import wait_for_redis

    wait_for_redis(url, args.supervisor_pid).close()
    url = os.environ.get("REDIS_URL", url)  # the embedded Redis may have moved while we waited
    return asyncio.run(work(args, url, processor))


if __name__ == "__main__":
    sys.exit(main())
