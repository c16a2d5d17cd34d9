"""The supervisor's options: each one has a flag and an environment variable, resolved here.

A flag wins over its variable, which wins over the default. Every value is checked, and a bad one
raises :class:`ConfigError` with a message that names the flag or variable and what is wrong.
:data:`OPTIONS` is the single table that the argument parser, ``--help`` and the documentation use.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from thesis_console.core import contract, job_allowlist
from thesis_console.core.bullmq.job_defaults import SEED_JOB_NAME
from thesis_console.core.queue_names import check_queue_name
from thesis_console.core.redis_url import check as check_url
from thesis_console.core.redis_url import read_url_file
from thesis_console.core.supervisor_protocol import HEARTBEAT_S, MAX_CONCURRENCY
from worker_runner.worker_logs import default_log_dir

DEFAULT_CONCURRENCY = 3
"""As many workers as the original system ran."""
SUPERVISOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
WORKER_CLASS_CHOICES = ("fork", "simple")
BULLMQ_DEFAULT_QUEUE = "thesis-generation"
"""The Next.js thesis system's queue."""
DEFAULT_BULLMQ_JOB_NAME = SEED_JOB_NAME
"""The job name the Next.js producer (and the console's enqueue) gives thesis jobs."""


class WorkerBackend(Enum):
    """Which queue system the supervised worker processes work on."""

    RQ = "rq"
    BULLMQ = "bullmq"


class ConfigError(ValueError):
    """An option has a bad value; the message names it."""


@dataclass(frozen=True)
class SupervisorConfig:
    """Everything one supervisor needs, checked."""

    url: str | None
    queues: tuple[str, ...]
    concurrency: int
    autoscale: tuple[int, int] | None
    autoscale_cooldown_s: float
    jobs_per_worker: float
    worker_class: str
    supervisor_id: str
    grace_s: float
    log_dir: Path
    log_max_bytes: int
    log_backups: int
    log_level: str
    heartbeat_s: float
    recovery_interval_s: float
    restart_backoff_max_s: float
    burst: bool = False
    allow: tuple[str, ...] = ()
    """Functions workers may run besides the contract's job function (``module.func`` each)."""
    backend: WorkerBackend = WorkerBackend.RQ
    bullmq_prefix: str = "bull"
    job_name: str = DEFAULT_BULLMQ_JOB_NAME
    """BullMQ workers run only jobs of this name (RQ workers go by the allowlist)."""

    @property
    def allowlist(self) -> job_allowlist.Allowlist:
        return job_allowlist.Allowlist.of(self.allow)

    @property
    def initial_desired(self) -> int:
        """Workers to start with: the concurrency, or the autoscale minimum."""
        return self.autoscale[0] if self.autoscale else self.concurrency


# ----------------------------------------------------------------- value parsers (raise ValueError)
def parse_concurrency(raw: str) -> int:
    value = _int(raw)
    if not 1 <= value <= MAX_CONCURRENCY:
        raise ValueError(f"must be 1 to {MAX_CONCURRENCY}, got {value}")
    return value


def parse_autoscale(raw: str) -> tuple[int, int]:
    """``MIN:MAX`` (also ``MIN-MAX`` or ``MIN,MAX``) with 1 <= MIN <= MAX <= 64."""
    parts = re.split(r"[:,\-]", raw.strip())
    if len(parts) != 2:
        raise ValueError(f"must be MIN:MAX, got {raw!r}")
    low, high = _int(parts[0]), _int(parts[1])
    if not 1 <= low <= high <= MAX_CONCURRENCY:
        raise ValueError(f"need 1 <= MIN <= MAX <= {MAX_CONCURRENCY}, got {low}:{high}")
    return low, high


def parse_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {raw!r}")
    return value


def parse_non_negative_seconds(raw: str) -> float:
    try:
        if float(raw) == 0:
            return 0.0
    except ValueError:
        pass
    return parse_seconds(raw)


def parse_positive_number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"must be positive, got {raw!r}")
    return value


def parse_bytes(raw: str) -> int:
    value = _int(raw)
    if value < 1024:
        raise ValueError(f"must be at least 1024 bytes, got {value}")
    return value


def parse_count(raw: str) -> int:
    value = _int(raw)
    if not 0 <= value <= 100:
        raise ValueError(f"must be 0 to 100, got {value}")
    return value


def parse_worker_class(raw: str) -> str:
    value = raw.strip().lower()
    if value not in WORKER_CLASS_CHOICES:
        raise ValueError(f"must be one of {', '.join(WORKER_CLASS_CHOICES)}, got {raw!r}")
    return value


def parse_backend(raw: str) -> WorkerBackend:
    try:
        return WorkerBackend(raw.strip().lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(b.value for b in WorkerBackend)}, got {raw!r}") from None


def parse_key_part(raw: str) -> str:
    """A BullMQ prefix or job name: 1 to 64 letters, digits, '.', '_' or '-'."""
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
        raise ValueError(f"must be 1 to 64 letters, digits, '.', '_' or '-', got {raw!r}")
    return value


def parse_supervisor_id(raw: str) -> str:
    if not SUPERVISOR_ID_PATTERN.match(raw):
        raise ValueError(f"must be 1 to 64 letters, digits, '-' or '_', got {raw!r}")
    return raw


def parse_queue_names(raw: str) -> tuple[str, ...]:
    names = tuple(q.strip() for q in raw.split(",") if q.strip())
    if not names:
        raise ValueError("names no queue")
    for name in names:
        check_queue_name(name)
    return names


def parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return value


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _int(raw: str) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"must be a whole number, got {raw!r}") from None


def default_supervisor_id() -> str:
    """``{short host name}-{pid}``, cleaned to the id alphabet."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]) or "host"
    return f"{host[:40]}-{os.getpid()}"


# ----------------------------------------------------------------- the table
@dataclass(frozen=True)
class OptionSpec:
    """One supervisor option: its flag, its variable, its default and how to read it."""

    dest: str
    flags: tuple[str, ...]
    env: str
    parse: Callable[[str], Any]
    default: Callable[[], Any]
    default_text: str
    help: str
    metavar: str | None = None
    is_switch: bool = False
    repeatable: bool = False
    """The flag may be given several times (the variable is then comma-separated); the values add up."""


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("url", ("--url",), "REDIS_URL", check_url, lambda: None, "the embedded local Redis",
               "Redis URL: redis://, rediss:// (TLS) or unix://; a password in it shows in `ps`, so give such "
               "a URL in REDIS_URL or --url-file instead", "URL"),
    OptionSpec("url_file", ("--url-file",), "THESIS_WORKER_URL_FILE", read_url_file, lambda: None, "none",
               "read the Redis URL from this file (one line, mode 600: readable by its owner only); "
               "the way to give a password without showing it in `ps`", "PATH"),
    OptionSpec("queues", ("--queue",), "THESIS_QUEUES", parse_queue_names,
               lambda: (contract.queue_name(),), "THESIS_QUEUE or 'thesis'",
               "queue to work on; repeat the flag for several (the variable is comma-separated)", "NAME",
               repeatable=True),
    OptionSpec("concurrency", ("-n", "--concurrency"), "THESIS_WORKER_CONCURRENCY", parse_concurrency,
               lambda: DEFAULT_CONCURRENCY, str(DEFAULT_CONCURRENCY),
               f"number of worker processes, 1 to {MAX_CONCURRENCY}; changeable while running", "N"),
    OptionSpec("autoscale", ("--autoscale",), "THESIS_WORKER_AUTOSCALE", parse_autoscale, lambda: None, "off",
               "grow and shrink between MIN and MAX workers by queue depth (overrides --concurrency)", "MIN:MAX"),
    OptionSpec("autoscale_cooldown_s", ("--autoscale-cooldown",), "THESIS_WORKER_AUTOSCALE_COOLDOWN",
               parse_seconds, lambda: 30.0, "30",
               "seconds the load must stay low before autoscale shrinks (growing is immediate)", "S"),
    OptionSpec("jobs_per_worker", ("--jobs-per-worker",), "THESIS_WORKER_JOBS_PER_WORKER", parse_positive_number,
               lambda: 1.0, "1", "autoscale aims at this many waiting plus running jobs per worker", "J"),
    OptionSpec("worker_class", ("--worker-class",), "THESIS_WORKER_CLASS", parse_worker_class, lambda: "fork",
               "fork", "fork: RQ's Worker, a forked work horse per job (a crashing job cannot take the worker "
               "down); simple: RQ's SimpleWorker, jobs in the worker process (faster for tiny jobs)", "{fork,simple}"),
    OptionSpec("supervisor_id", ("--id",), "THESIS_SUPERVISOR_ID", parse_supervisor_id, default_supervisor_id,
               "HOST-PID", "this supervisor's id in Redis (consoles and 'ctl' address it by it); "
               "set a stable one for a service", "ID"),
    OptionSpec("grace_s", ("--grace",), "THESIS_WORKER_GRACE", parse_non_negative_seconds, lambda: 60.0, "60",
               "on SIGTERM/SIGINT or 'stop', seconds running jobs get to finish before they are stopped "
               "and put back in their queue", "S"),
    OptionSpec("log_dir", ("--log-dir",), "THESIS_WORKER_LOG_DIR", lambda raw: Path(raw).expanduser(),
               default_log_dir, "DATA_DIR/worker-logs",
               "folder of the per-worker log files ({worker name}.log, rotated)", "DIR"),
    OptionSpec("log_max_bytes", ("--log-max-bytes",), "THESIS_WORKER_LOG_MAX_BYTES", parse_bytes,
               lambda: 10 * 1024 * 1024, "10485760", "size at which a worker's log file is rotated", "BYTES"),
    OptionSpec("log_backups", ("--log-backups",), "THESIS_WORKER_LOG_BACKUPS", parse_count, lambda: 3, "3",
               "rotated log files kept per worker", "N"),
    OptionSpec("log_level", ("--log-level",), "THESIS_LOG_LEVEL", parse_log_level, lambda: "INFO", "INFO",
               "log level of the supervisor and its workers", "LEVEL"),
    OptionSpec("heartbeat_s", ("--heartbeat",), "THESIS_SUPERVISOR_HEARTBEAT", parse_seconds,
               lambda: HEARTBEAT_S, str(HEARTBEAT_S), "seconds between refreshes of this supervisor's record "
               "in Redis", "S"),
    OptionSpec("recovery_interval_s", ("--recovery-interval",), "THESIS_RECOVERY_INTERVAL", parse_seconds,
               lambda: 10.0, "10", "seconds between checks for jobs left behind by dead workers on any host "
               "(a local worker's death is handled at once)", "S"),
    OptionSpec("restart_backoff_max_s", ("--restart-backoff-max",), "THESIS_RESTART_BACKOFF_MAX", parse_seconds,
               lambda: 30.0, "30", "longest wait before restarting a worker that keeps crashing", "S"),
    OptionSpec("allow", ("--allow",), job_allowlist.ALLOW_ENV, job_allowlist.parse_names, lambda: (),
               "only the contract's job function", "also run jobs of this function (an exact module.func, no "
               "wildcard); repeat the flag for several (the variable is comma-separated). Any other job is "
               "failed unrun", "MODULE.FUNC", repeatable=True),
    OptionSpec("backend", ("--backend",), "THESIS_WORKER_BACKEND", parse_backend, lambda: WorkerBackend.RQ, "rq",
               "rq: RQ workers; bullmq: Python BullMQ workers (the bullmq package's Worker, one job at a time "
               "each) on BullMQ queues such as thesis-generation, beside or instead of Node workers", "{rq,bullmq}"),
    OptionSpec("bullmq_prefix", ("--bullmq-prefix",), "THESIS_BULLMQ_PREFIX", parse_key_part, lambda: "bull", "bull",
               "key prefix of the BullMQ queues (BullMQ's prefix option)", "PREFIX"),
    OptionSpec("job_name", ("--job-name",), "THESIS_BULLMQ_JOB_NAME", parse_key_part,
               lambda: DEFAULT_BULLMQ_JOB_NAME, DEFAULT_BULLMQ_JOB_NAME,
               "BullMQ workers run only jobs of this name; any other fails at once, unretried", "NAME"),
    OptionSpec("burst", ("--burst",), "THESIS_WORKER_BURST", parse_bool, lambda: False, "off",
               "run one plain worker until the queues are empty, then exit (no supervisor)", None, True),
)


def resolve(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> SupervisorConfig:
    """Build the configuration from parsed flags (None when not given) and the environment.

    Raises:
        ConfigError: a flag or variable has a bad value.
    """
    environ = os.environ if environ is None else environ
    resolved: dict[str, Any] = {}
    for spec in OPTIONS:
        given = values.get(spec.dest)
        if spec.is_switch and given is False:
            given = None
        if given is not None:
            resolved[spec.dest] = _parse_flag(spec, given)
        elif environ.get(spec.env, "") != "":
            resolved[spec.dest] = _parse(spec, environ[spec.env], spec.env)
        else:
            resolved[spec.dest] = spec.default()
    _take_url_file(resolved, values, environ)
    if resolved["backend"] is WorkerBackend.BULLMQ:
        _check_bullmq(resolved, values, environ)
    return SupervisorConfig(**resolved)


def _check_bullmq(resolved: dict[str, Any], values: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """A BullMQ supervisor works on one queue (the thesis system's unless named) and has no burst mode."""
    if values.get("queues") is None and environ.get("THESIS_QUEUES", "") == "":
        resolved["queues"] = (BULLMQ_DEFAULT_QUEUE,)
    if len(resolved["queues"]) != 1:
        raise ConfigError(f"--backend bullmq works on one queue; give one --queue, got {', '.join(resolved['queues'])}")
    if resolved["burst"]:
        raise ConfigError("--burst is for RQ workers; --backend bullmq has no burst mode")


def _take_url_file(resolved: dict[str, Any], values: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Put the URL read from ``--url-file`` in ``url``: it wins over ``REDIS_URL``, and clashes with ``--url``."""
    from_file = resolved.pop("url_file")
    if from_file is None:
        return
    if values.get("url") is not None:
        if values.get("url_file") is not None:
            raise ConfigError("give --url or --url-file, not both")
        return  # --url on the command line wins over THESIS_WORKER_URL_FILE
    if values.get("url_file") is None and environ.get("REDIS_URL", "") != "":
        raise ConfigError("both REDIS_URL and THESIS_WORKER_URL_FILE are set; set one")
    resolved["url"] = from_file


def _parse_flag(spec: OptionSpec, given: Any) -> Any:
    name = spec.flags[-1]
    if spec.is_switch:
        return bool(given)
    if spec.repeatable and isinstance(given, list):
        names: list[str] = []
        for item in given:
            names.extend(_parse(spec, item, name))
        return tuple(dict.fromkeys(names))
    return _parse(spec, given, name)


def _parse(spec: OptionSpec, raw: Any, name: str) -> Any:
    try:
        return spec.parse(str(raw))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
