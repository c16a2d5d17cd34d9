"""``thesis-console``: the desktop console, and headless subcommands over the same core.

With no subcommand it opens the GUI. Exit codes: 0 success, 2 bad usage or invalid input,
3 Redis unreachable, 1 any other failure (including jobs an action had to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import enum
import json
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import redis.exceptions

from thesis_console import cli_control, cli_watch
from thesis_console.core import credentials, policy
from thesis_console.core.policy import JobAction
from thesis_console.core.producer import check_delay
from thesis_console.core.profiles import (
    EMBEDDED_PROFILE_NAME,
    ConnectionProfile,
    ProfileStore,
    ad_hoc_profile,
    embedded_profile,
)
from thesis_console.core.queue_names import check_queue_name
from thesis_console.core.queue_pause import QueuePause
from thesis_console.core.redis_target import describe_error
from thesis_console.core.session import FailureKind, Session, SessionError, open_session
from thesis_console.core.terminal_text import escape_controls, escape_lines
from thesis_console.core.thesis_request import (
    DEGREE_LEVELS,
    LANGUAGES,
    PACE_MAX_S,
    InvalidRequest,
    ThesisRequest,
)
from thesis_console.core.types import (
    ActionResult,
    Backend,
    CoreError,
    JobDetail,
    JobPage,
    JobState,
    ReadOnlyError,
    Snapshot,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
MAX_PAGE = 1000
SKIPPED_SHOWN = 20
EMPTYABLE = frozenset(s for s in JobState if policy.empty_verdict(s))  # RQ's; a BullMQ queue refuses a few more

EPILOG = """\
connection (any subcommand):
  --url URL          redis://, rediss://, unix:// or sentinel://host:port[,host:port]/service[/db]
  --profile NAME     a saved connection profile (see `thesis-console profiles`)
  default            REDIS_URL, else the embedded local Redis (started when needed)

passwords: the keyring entry of the profile (service "thesis-console"), else THESIS_REDIS_PASSWORD,
  else a prompt on a terminal when the server asks for one. Profiles file: THESIS_PROFILES or the
  per-user config folder. A password inside --url shows in `ps` to every user: prefer a profile
  (`profiles add NAME --url URL --ask-password`) or REDIS_URL.

exit codes:
  0  success
  1  failure: Redis refused the action, a read-only profile, a job not found, or some jobs skipped
  2  bad usage or invalid input
  3  Redis unreachable (refused, wrong password, TLS mismatch, not a Redis, timeout, DNS failure)
"""


class UsageError(Exception):
    """Bad usage found after parsing (exit code 2)."""


# ---------------------------------------------------------------------- the parser
def _common(json_flag: bool = True) -> argparse.ArgumentParser:
    """Connection options, accepted after the subcommand too (SUPPRESS keeps a value given before it)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="Redis URL (env REDIS_URL; default: the embedded Redis)")
    common.add_argument("--profile", default=argparse.SUPPRESS, help="saved connection profile to use")
    if json_flag:
        common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return common


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _queue_arg(text: str) -> str:
    try:
        return check_queue_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {escape_controls(text)!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be {low:g} to {high:g} seconds, got {escape_controls(text)!r}")
    return value


def _delay_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {escape_controls(text)!r}") from None
    try:
        return check_delay(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None


def _pace_arg(text: str) -> float:
    return _seconds(text, 0.0, PACE_MAX_S)


def _page_size(text: str) -> int:
    value = _non_negative(text)
    if not 1 <= value <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_PAGE}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thesis-console",
        description="Thesis Queue Console: the desktop window, or with a subcommand a headless tool over the same core.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=None, help="Redis URL (env REDIS_URL; default: the embedded local Redis)")
    parser.add_argument("--profile", default=None, help="saved connection profile to use")
    parser.add_argument("--json", action="store_true", default=False, help="print JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common()

    def add(name: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_text, description=help_text, parents=[common], epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs,
        )  # fmt: skip

    add("status", "queues with their counts, workers, supervisors and the server")

    jobs = add("jobs", "one page of the jobs in one state of a queue")
    jobs.add_argument("--queue", type=_queue_arg, default=None, help="queue name (default: THESIS_QUEUE or 'thesis')")
    jobs.add_argument("--state", required=True, choices=[s.value for s in JobState])
    jobs.add_argument("--offset", type=_non_negative, default=0, help="rows to skip (default 0)")
    jobs.add_argument("--limit", type=_page_size, default=50, help=f"rows to show, 1 to {MAX_PAGE} (default 50)")

    show = add("show", "everything about one job: arguments, result, traceback, timeline")
    show.add_argument("job_id", metavar="JOB")
    show.add_argument("--queue", help="the job's queue (a BullMQ job id is unique only in its queue)")

    enq = add("enqueue", "queue a thesis job and print its id")
    enq.add_argument("--topic", required=True)
    enq.add_argument("--field", dest="field_of_study", default="Computer Science")
    enq.add_argument("--degree", dest="degree_level", default="master", choices=DEGREE_LEVELS)
    enq.add_argument("--language", default="en", choices=LANGUAGES)
    enq.add_argument("--chapters", type=int, default=5)
    enq.add_argument("--words", dest="target_words", type=int, default=8000)
    enq.add_argument("--queue", type=_queue_arg, default=None, help="queue name (default: THESIS_QUEUE or 'thesis')")
    enq.add_argument("--at-front", action="store_true", help="put the job at the front of the queue")
    enq.add_argument("--delay", type=_delay_arg, default=0.0, help="schedule the job this many seconds from now")
    enq.add_argument("--pace", type=_pace_arg, default=0.0, help="seconds per stage (demonstrations)")
    enq.add_argument("--thesis-id", default=None, help="the thesisId of a BullMQ job (default: a new one)")

    retry = add("retry", "put failed, stopped or canceled jobs back in their queue")
    retry.add_argument("job_ids", nargs="*", metavar="JOB")
    retry.add_argument("--all", action="store_true", help="every failed job of --queue (Ctrl-C stops cleanly)")
    retry.add_argument("--queue", type=_queue_arg, default=None,
                       help="queue for --all (default: THESIS_QUEUE or 'thesis'); needed for a BullMQ queue's jobs")  # fmt: skip
    retry.add_argument("--batch", type=_page_size, default=1000, help="jobs per atomic step for --all")

    for name, text in (
        ("cancel", "cancel waiting, scheduled or deferred jobs"),
        ("stop", "stop running jobs (the worker running each one, on any host, kills it)"),
        ("delete", "delete jobs and everything RQ keeps about them"),
        ("promote", "enqueue scheduled jobs now instead of at their time"),
    ):
        job_parser = add(name, text)
        job_parser.add_argument("job_ids", nargs="+", metavar="JOB")
        job_parser.add_argument("--queue", type=_queue_arg, default=None, help="the jobs' queue (needed for a BullMQ queue)")

    empty = add("empty", "delete every job in one state of a queue")
    empty.add_argument("--queue", type=_queue_arg, required=True)
    empty.add_argument("--state", required=True, choices=[s.value for s in JobState if s in EMPTYABLE])
    empty.add_argument("--yes", action="store_true", help="confirm: this deletes the jobs")

    from thesis_console import cli_profiles

    cli_profiles.add_parsers(add("profiles", "list, add, edit, remove or test the saved connection profiles"))
    cli_watch.add_parsers(add)
    cli_control.add_parsers(add)
    return parser


# ---------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None, gui: Callable[[argparse.Namespace], int] | None = None) -> int:
    """Run a headless subcommand; with none, hand the parsed arguments to ``gui`` (the desktop app)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    for index, arg in enumerate(argv, 1):
        if any("\ud800" <= c <= "\udfff" for c in arg):
            print(f"thesis-console: argument {index} ({escape_controls(arg)}) is not valid UTF-8 text", file=sys.stderr)
            return EXIT_USAGE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage or --help
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        return (cli_watch.usage_exit_code(argv) or code) if code == EXIT_USAGE else code
    if args.command is None:
        if gui is None:
            print("thesis-console: a subcommand is required (this entry point has no GUI)", file=sys.stderr)
            parser.print_usage(sys.stderr)
            return EXIT_USAGE
        return gui(args)
    try:
        return _dispatch(args)
    except UsageError as exc:
        return _fail(args, EXIT_USAGE if args.command not in cli_watch.COMMANDS else cli_watch.NAGIOS_UNKNOWN, str(exc))
    except SessionError as exc:
        return _fail(args, EXIT_USAGE if exc.kind == FailureKind.BAD_URL else EXIT_UNREACHABLE, str(exc))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        return _fail(args, EXIT_UNREACHABLE, describe_error(exc, getattr(args, "connected_url", "")))
    except ReadOnlyError as exc:
        return _fail(args, EXIT_FAILURE, str(exc))
    except CoreError as exc:
        return _fail(args, EXIT_FAILURE, str(exc))
    except redis.exceptions.RedisError as exc:
        return _fail(args, EXIT_FAILURE, f"Redis error: {exc}")
    except KeyboardInterrupt:
        return _fail(args, EXIT_FAILURE, "interrupted")
    except BrokenPipeError:  # the reader of our output went away (`| head`): stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _fail(args: argparse.Namespace, code: int, message: str) -> int:
    print(f"thesis-console: {escape_lines(message)}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}))
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "profiles":
        from thesis_console import cli_profiles

        return cli_profiles.run(args)
    request = _enqueue_request(args) if args.command == "enqueue" else None
    if args.command == "empty" and not args.yes:
        raise UsageError(f"empty deletes every {args.state} job of queue {args.queue!r}; add --yes to confirm")
    if args.command == "retry":
        if args.all and args.job_ids:
            raise UsageError("retry: give job ids or --all, not both")
        if not args.all and not args.job_ids:
            raise UsageError("retry: give job ids, or --all with --queue")
    profile = choose_profile(args)
    args.connected_url = profile.url
    return asyncio.run(_with_session(profile, args, request))


def choose_profile(args: argparse.Namespace) -> ConnectionProfile:
    """``--profile``, else ``--url``, else ``REDIS_URL``, else the embedded profile.

    Raises:
        UsageError: both were given, the profile does not exist, or the URL is malformed.
    """
    url, name = getattr(args, "url", None), getattr(args, "profile", None)
    if url is not None and name:
        raise UsageError("give --url or --profile, not both")
    try:
        if name:
            return ProfileStore().get(name)
        if url is not None:
            return ad_hoc_profile(url)
        env = os.environ.get("REDIS_URL")
        if env:
            return ad_hoc_profile(env, name="REDIS_URL")
    except CoreError as exc:
        raise UsageError(str(exc)) from None
    with contextlib.suppress(CoreError):  # a damaged profiles file must not block the default
        return ProfileStore().get(EMBEDDED_PROFILE_NAME)
    return embedded_profile()


def _ask_password(profile: ConnectionProfile) -> str | None:
    return credentials.env_password(profile) or credentials.terminal_prompt(profile)


async def _with_session(profile: ConnectionProfile, args: argparse.Namespace, request: ThesisRequest | None) -> int:
    session = await open_session(profile, _ask_password)
    try:
        return await _COMMANDS[args.command](session, args, request)
    finally:
        await session.close()


# ---------------------------------------------------------------------- reading commands
async def _status(session: Session, args: argparse.Namespace, _: Any) -> int:
    snapshot = await session.reader.snapshot()
    if args.json:
        _print_json(snapshot)
    else:
        print(escape_lines(_status_text(snapshot, session)))
    return EXIT_OK


def _status_text(snapshot: Snapshot, session: Session) -> str:
    server = snapshot.server
    rtt = f", round trip {server.round_trip_ms:.1f} ms" if server.round_trip_ms is not None else ""
    lines = [f"Redis {server.version or '?'} at {session.display_url}{rtt}", ""]
    states = [s for s in JobState]
    paused = [q for q in snapshot.queues if q.paused]
    rows = [[q.name, q.backend.value, *(q.count(s) for s in states)] for q in snapshot.queues]
    headers = ["QUEUE", "BACKEND", *(s.value.upper() for s in states)]
    if paused:  # the column only when some queue is paused
        headers.append("PAUSED")
        for row, q in zip(rows, snapshot.queues, strict=True):
            row.append("paused" if q.paused else "")
    lines.append(format_table(headers, rows) if rows else "no queues")
    for q in paused:
        lines.append(f"queue {q.name} is paused {cli_control.describe_pause(QueuePause(q.name, q.paused_by, q.paused_at))}")
    lines.append("")
    workers = [
        [w.name, w.hostname, w.pid or "", w.state, ",".join(w.queues), w.current_job or "", w.successful, w.failed,
         w.supervisor or "none"]
        for w in snapshot.workers
    ]  # fmt: skip
    lines.append(
        format_table(["WORKER", "HOST", "PID", "STATE", "QUEUES", "JOB", "OK", "FAILED", "SUPERVISOR"], workers)
        if workers
        else "no workers"
    )
    if any(not w.honours_pause for w in snapshot.workers):
        lines.append("workers with no supervisor (a plain `rq worker`) do not honour paused queues")
    if snapshot.bullmq_workers:
        lines.append("")
        bull = [
            [w.name or "(unnamed)", w.library.value, w.queue, w.address, f"{w.age_s:.0f}s", f"{w.idle_s:.0f}s",
             w.connections, w.supervisor or "none"]
            for w in snapshot.bullmq_workers
        ]  # fmt: skip
        headers = ["BULLMQ WORKER", "LIBRARY", "QUEUE", "ADDRESS", "AGE", "IDLE", "CONNECTIONS", "SUPERVISOR"]
        lines.append(format_table(headers, bull))
    if snapshot.bullmq_workers_problem:
        lines.append(snapshot.bullmq_workers_problem)
    if snapshot.supervisors:
        lines.append("")
        sups = [
            [s.id, s.host, s.pid, f"{s.live}/{s.desired}", s.busy, ",".join(s.queues), s.state]
            for s in snapshot.supervisors
        ]
        lines.append(format_table(["SUPERVISOR", "HOST", "PID", "LIVE/WANTED", "BUSY", "QUEUES", "STATE"], sups))
    return "\n".join(lines)


async def _jobs(session: Session, args: argparse.Namespace, _: Any) -> int:
    page = await session.reader.page(_queue(args.queue), JobState(args.state), args.offset, args.limit)
    if args.json:
        _print_json(page)
    else:
        print(escape_lines(_page_text(page)))
    return EXIT_OK


def _page_text(page: JobPage) -> str:
    first = page.offset + 1 if page.rows else page.offset
    head = f"{page.queue} / {page.state.value}: rows {first}-{page.offset + len(page.rows)} of {page.total}"
    if not page.rows:
        return head
    rows = [
        [
            r.id,
            _shorten(r.topic or r.description, 48),
            f"{r.progress}%" if r.progress is not None else "",
            _when(r.enqueued_at),
            _when(r.ended_at or r.started_at),
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "",
            _shorten(r.problem or r.error_line or r.stage or "", 60),
        ]
        for r in page.rows
    ]
    return head + "\n" + format_table(["ID", "DESCRIPTION", "PROGRESS", "ENQUEUED", "STARTED/ENDED", "TOOK", "NOTE"], rows)


async def _show(session: Session, args: argparse.Namespace, _: Any) -> int:
    detail = await session.reader.detail(args.job_id, args.queue)
    if args.json:
        _print_json(detail)
    else:
        print(escape_lines(_detail_text(detail)))
    return EXIT_OK


def _detail_text(detail: JobDetail) -> str:
    row = detail.row
    fields = [
        ("id", row.id), ("queue", row.queue), ("backend", row.backend.value), ("state", row.state.value),
        ("status", row.status if row.backend is Backend.BULLMQ else ""),
        ("function" if row.backend is Backend.RQ else "name", detail.function or ""),
        ("description", row.description), ("progress", f"{row.progress}% {row.stage or ''}" if row.progress is not None else ""),
        ("attempts", row.attempts_used if row.attempts_used is not None else ""),
        ("retries left", row.retries_left if row.retries_left is not None else ""),
        ("enqueued", _when(row.enqueued_at)), ("started", _when(row.started_at)), ("ended", _when(row.ended_at)),
        ("worker", row.worker or ""), ("problem", row.problem or ""),
    ]  # fmt: skip
    width = max(len(name) for name, _ in fields)
    lines = [f"{name.ljust(width)}  {escape_controls(str(value))}" for name, value in fields if value not in ("", None)]
    labels = ("args", "kwargs", "meta", "result") if row.backend is Backend.RQ else ("data", "", "opts", "returnvalue")
    payloads = (detail.args, detail.kwargs, detail.meta, detail.result)
    for label, payload in zip(labels, payloads, strict=True):
        if payload.kind == "missing":
            continue
        if payload.kind in ("json", "unpickled"):
            body = json.dumps(payload.value, indent=2, default=str, ensure_ascii=False)
        elif payload.kind == "text":
            body = str(payload.value)
        else:
            body = f"<{payload.kind}, {payload.size} bytes>"
        note = f"  ({payload.note})" if payload.note else ""
        lines += ["", f"{label}:{note}", _indent(body)]
    if detail.traceback:
        lines += ["", "traceback:" if row.backend is Backend.RQ else "stacktrace:", _indent(detail.traceback.rstrip())]
    if detail.logs:
        lines += ["", "logs:", _indent("\n".join(detail.logs))]
    if detail.timeline:
        events = [[_when(e.at), e.what, e.outcome, _when(e.ended_at), e.worker or "", _shorten(e.detail, 50)] for e in detail.timeline]
        lines += ["", "timeline:", _indent(format_table(["AT", "WHAT", "OUTCOME", "ENDED", "WORKER", "DETAIL"], events))]
    return "\n".join(lines)


# ---------------------------------------------------------------------- acting commands
def _enqueue_request(args: argparse.Namespace) -> ThesisRequest:
    options = {"pace_s": args.pace} if args.pace else {}
    try:
        return ThesisRequest(
            topic=args.topic,
            field_of_study=args.field_of_study,
            degree_level=args.degree_level,
            language=args.language,
            chapters=args.chapters,
            target_words=args.target_words,
            options=options,
        )
    except InvalidRequest as exc:
        raise UsageError(f"invalid request: {exc}") from None


async def _enqueue(session: Session, args: argparse.Namespace, request: ThesisRequest | None) -> int:
    assert request is not None
    if args.delay < 0:
        raise UsageError(f"--delay must not be negative, got {args.delay}")
    job_id = await session.actions.enqueue(
        request, queue=args.queue, at_front=args.at_front, delay_s=args.delay, thesis_id=args.thesis_id
    )
    if args.json:
        _print_json({"id": job_id, "backend": (await session.actions.backend_of(args.queue)).value})
    else:
        print(job_id)
    return EXIT_OK


async def _retry(session: Session, args: argparse.Namespace, _: Any) -> int:
    if not args.all:
        return await _report(session, await session.actions.retry(args.job_ids, queue=args.queue), args, args.queue)
    queue = _queue(args.queue)
    cancel = asyncio.Event()
    show_progress = sys.stderr.isatty() and not args.json

    def progress(done: int, total: int) -> None:
        if show_progress:
            print(f"\rretrying failed jobs of {queue}: {done}/{total}", end="", file=sys.stderr, flush=True)

    loop = asyncio.get_running_loop()
    with _on_interrupt(loop, cancel.set):
        result = await session.actions.retry_all_failed(queue, progress=progress, cancel=cancel, batch=args.batch)
    if show_progress:
        print(file=sys.stderr)
    if cancel.is_set() and not args.json:
        print(
            f"stopped by request: {len(result.done)} retried; the rest are still failed (run it again to resume)",
            file=sys.stderr,
        )
    return await _report(session, result, args, queue)


def _job_action(action: JobAction) -> Callable[[Session, argparse.Namespace, Any], Awaitable[int]]:
    async def run(session: Session, args: argparse.Namespace, _: Any) -> int:
        return await _report(session, await session.actions.act_on_jobs(action, args.job_ids, queue=args.queue), args, args.queue)

    return run


async def _empty(session: Session, args: argparse.Namespace, _: Any) -> int:
    return await _report(session, await session.actions.empty(args.queue, JobState(args.state)), args, args.queue)


async def _report(session: Session, result: ActionResult, args: argparse.Namespace, queue: str | None) -> int:
    """Print what an action did (``--json``: with the backend that did it); exit 1 when any job was skipped."""
    if args.json:
        backend = await session.actions.backend_of(queue)
        _print_json({"action": result.action, "backend": backend.value, "done": list(result.done), "skipped": result.skipped})
    else:
        print(result.summary)
        if len(result.skipped) > SKIPPED_SHOWN:
            for reason, count in Counter(result.skipped.values()).most_common():
                print(f"  {count} x {reason}")
            print("(use --json to list every skipped job)")
        elif result.skipped:
            print(format_table(["SKIPPED JOB", "REASON"], list(result.skipped.items())))
    return EXIT_FAILURE if result.skipped else EXIT_OK


@contextlib.contextmanager
def _on_interrupt(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]):
    """Route Ctrl-C to ``callback`` (a clean stop between chunks) instead of cancelling the run."""
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


_COMMANDS: dict[str, Callable[[Session, argparse.Namespace, Any], Awaitable[int]]] = {
    "status": _status,
    "jobs": _jobs,
    "show": _show,
    "enqueue": _enqueue,
    "retry": _retry,
    "cancel": _job_action(JobAction.CANCEL),
    "stop": _job_action(JobAction.STOP),
    "delete": _job_action(JobAction.DELETE),
    "promote": _job_action(JobAction.PROMOTE),
    "empty": _empty,
    **cli_watch.COMMANDS,
    **cli_control.COMMANDS,
}


# ---------------------------------------------------------------------- formatting
def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Aligned columns: numbers to the right, text to the left, two spaces between columns."""
    body = [["" if v is None else escape_controls(str(v)) for v in row] for row in rows]
    numeric = [
        bool(body) and all(_is_number(row[i]) or row[i] == "" for row in body) for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in body)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)]
        return "  ".join(out).rstrip()

    return "\n".join([line(list(headers)), *(line(row) for row in body)])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _shorten(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _queue(name: str | None) -> str:
    from thesis_console.core.contract import queue_name

    return queue_name(name)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _print_json(value: Any) -> None:
    text = json.dumps(_jsonable(value), default=str, ensure_ascii=False)
    # JSON escapes C0 controls itself; DEL and the C1 controls (8-bit ESC/CSI/OSC) only here.
    print(_C1_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


_C1_CONTROLS = re.compile("[\x7f-\x9f\u2028\u2029]")


if __name__ == "__main__":
    sys.exit(main())
