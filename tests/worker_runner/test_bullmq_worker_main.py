"""Which function a BullMQ worker runs thesis requests through: run_generation, or an allowed one named by THESIS_BULLMQ_RUN."""

from __future__ import annotations

import pytest

from benchmarks.soak_job import SOAK_BULLMQ_RUN, soak_bullmq_run
from thesis_console.core.generation.job import run_generation
from thesis_console.core.job_allowlist import ALLOW_ENV
from worker_runner.bullmq_worker_main import RUN_ENV, BadRunFunction, run_function


def test_without_the_variable_requests_run_through_run_generation():
    assert run_function({}) is run_generation
    assert run_function({RUN_ENV: "  "}) is run_generation


def test_an_allowed_function_is_imported_and_used():
    assert run_function({RUN_ENV: SOAK_BULLMQ_RUN, ALLOW_ENV: SOAK_BULLMQ_RUN}) is soak_bullmq_run


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({RUN_ENV: SOAK_BULLMQ_RUN}, f"{SOAK_BULLMQ_RUN} is not on the allowlist (add it with --allow)"),
        ({RUN_ENV: "eval"}, "is not module.func"),
        ({RUN_ENV: "benchmarks.*"}, "is a wildcard"),
        ({RUN_ENV: "benchmarks.nowhere.run", ALLOW_ENV: "benchmarks.nowhere.run"}, "cannot be imported"),
        ({RUN_ENV: "benchmarks.soak_job.SOAK_FUNCTION", ALLOW_ENV: "benchmarks.soak_job.SOAK_FUNCTION"}, "is not a function"),
        ({RUN_ENV: SOAK_BULLMQ_RUN, ALLOW_ENV: "os.*"}, "THESIS_WORKER_ALLOW"),
    ],
)
def test_a_function_the_worker_may_not_run_is_refused_with_the_reason(env, says):
    with pytest.raises(BadRunFunction, match="THESIS_BULLMQ_RUN") as caught:
        run_function(env)
    assert says in str(caught.value)
