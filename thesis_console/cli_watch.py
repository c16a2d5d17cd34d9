"""``thesis-console check`` and ``thesis-console serve-metrics``: the alert rules for cron, monitoring
systems and Prometheus.

``check`` evaluates the rules once and exits in the Nagios plugin convention: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (Redis unreachable, a bad rules file or bad usage). Its alert history (when
an alert started and ended, for the "for M minutes" rules and the window's history) is kept in the
per-user data folder, never in Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import sys
from pathlib import Path
from typing import Any

from prometheus_client.registry import CollectorRegistry

from thesis_console.core.alerts.history import AlertHistory
from thesis_console.core.alerts.rules import AlertRules, RuleKind, RulesStore, Severity
from thesis_console.core.alerts.tracker import Alert, AlertTracker
from thesis_console.core.alerts.watch import WatchReport, evaluate_once, read_for_rules
from thesis_console.core.alerts.watch_data import MinuteCache
from thesis_console.core.bullmq.known_queues import KnownQueues
from thesis_console.core.metrics_export import RECENT_MINUTES, WatchCollector
from thesis_console.core.metrics_http import start_metrics_server
from thesis_console.core.session import Session
from thesis_console.core.types import CoreError

NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 1, 2, 3
DEFAULT_METRICS_PORT = 9465
DEFAULT_METRICS_BIND = "127.0.0.1"
COMMAND_NAMES = ("check", "serve-metrics")

CHECK_EPILOG = """\
exit codes (Nagios plugin convention):
  0  OK: no alert fires
  1  WARNING: at least one warning alert fires, none critical
  2  CRITICAL: at least one critical alert fires
  3  UNKNOWN: Redis unreachable, a bad rules file, or bad usage

output: one line per firing alert, most severe first, or one OK line; the first line ends with
  Nagios performance data: waiting_QUEUE=N;WARN;;0 for each queue (WARN: the waiting-depth
  limit), workers, supervisors and alerts_firing.

rules: the profile's entry in THESIS_ALERTS or alerts.json in the per-user config folder (--rules
  FILE to use another file); defaults for anything not set. History: the per-user data folder.
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def add_parsers(add: Any) -> None:
    """Register the subcommands with ``add(name, help, **kwargs)`` of :func:`thesis_console.cli.build_parser`."""
    check = add("check", "evaluate the alert rules once; Nagios exit codes")
    check.epilog = CHECK_EPILOG
    check.add_argument(
        "--rules",
        default=None,
        metavar="FILE",
        help="alert rules file (default: THESIS_ALERTS or alerts.json)",
    )
    check.add_argument(
        "--no-history",
        action="store_true",
        help="neither read nor update the alert history (rules with a duration then only fire from stored samples)",
    )
    serve = add("serve-metrics", "serve Prometheus/OpenMetrics metrics of the queues over HTTP")
    serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_METRICS_PORT,
        help=f"port (default {DEFAULT_METRICS_PORT}; 0 for any free one)",
    )
    serve.add_argument(
        "--bind", default=DEFAULT_METRICS_BIND, metavar="ADDRESS",
        help=f"address to listen on (default {DEFAULT_METRICS_BIND}; 0.0.0.0 exposes it to the network)",
    )  # fmt: skip
    serve.add_argument(
        "--rules", default=None, metavar="FILE", help="alert rules file for thesis_alert_firing"
    )


def usage_exit_code(argv: list[str] | None) -> int | None:
    """The exit code for bad usage of ``check`` (UNKNOWN), or None for the other subcommands."""
    args = list(sys.argv[1:] if argv is None else argv)
    while args and args[0].startswith("-"):  # global options before the subcommand
        option = args.pop(0)
        if option in ("--url", "--profile") and args:
            args.pop(0)
    return NAGIOS_UNKNOWN if args[:1] == ["check"] else None


def load_rules(path: str | None, profile: str) -> AlertRules:
    return RulesStore(Path(path) if path else None).load(profile)


# ---------------------------------------------------------------------- check
async def check(session: Session, args: argparse.Namespace, _: Any) -> int:
    try:
        rules = load_rules(args.rules, session.profile.name)
        known = KnownQueues.of(session.profile.name, session.display_url, session.reader.bullmq_prefix)
        walks = session.reader.queues is None  # no list in the profile: BullMQ queues are found by a key walk
        keep = walks and not args.no_history  # --no-history: no file at all
        kept = known.load() if keep else None
        if kept is not None:
            session.reader.start_from_bull_queues(kept)  # one round trip instead of a key walk
        data = await read_for_rules(session.reader, rules)
        if keep and kept is None:
            known.save(await session.reader.bull_queues())  # what the read just found: no second walk
        if args.no_history:
            report = evaluate_once(data, rules, AlertTracker())
        else:
            with AlertHistory(session.profile.name, session.display_url).editing() as tracker:
                report = evaluate_once(data, rules, tracker)
    except CoreError as exc:
        if args.json:
            print(json.dumps({"status": "unknown", "exit_code": NAGIOS_UNKNOWN, "error": str(exc)}))
        else:
            print(f"UNKNOWN - {exc}")
        return NAGIOS_UNKNOWN
    code = {None: NAGIOS_OK, Severity.WARNING: NAGIOS_WARNING, Severity.CRITICAL: NAGIOS_CRITICAL}[
        report.worst
    ]
    if args.json:
        print(json.dumps(check_json(report, code), ensure_ascii=False))
    else:
        print(check_text(report, rules))
    return code


def check_text(report: WatchReport, rules: AlertRules) -> str:
    """One line per firing alert, most severe first, or one OK line when none fires; the first line
    ends with the performance data (:func:`perfdata`)."""
    alerts = sorted(report.update.firing, key=lambda a: (a.severity != Severity.CRITICAL, a.condition.key))
    if not alerts:
        snapshot = report.data.snapshot
        counted = ", ".join(
            f"{n} {noun}{'' if n == 1 else 's'}"
            for n, noun in ((len(snapshot.queues), "queue"), (len(snapshot.workers), "worker"),
                            (len(snapshot.supervisors), "supervisor"))
        )  # fmt: skip
        lines = [f"OK - no alert firing ({counted})"]
    else:
        lines = [f"{a.severity.value.upper()} {a.condition.rule.value} {a.condition.message}" for a in alerts]
    # A "|" starts performance data on any line of a plugin's output: none may come from a name.
    lines = [line.replace("|", "/") for line in lines]
    lines[0] += f" | {perfdata(report, rules)}"
    return "\n".join(lines)


def perfdata(report: WatchReport, rules: AlertRules) -> str:
    """Nagios performance data: the waiting jobs of each queue (warning above the waiting-depth
    rule's limit, when the rule is on), live RQ workers, live supervisors and firing alerts."""
    depth = rules.get(RuleKind.WAITING_DEPTH)
    warn = f"{depth.threshold:g}" if depth.enabled else ""
    snapshot = report.data.snapshot
    items = [f"{_perf_label('waiting_' + q.name)}={q.waiting};{warn};;0" for q in snapshot.queues]
    items += [
        f"workers={len(snapshot.workers)};;;0",
        f"supervisors={len(snapshot.supervisors)};;;0",
        f"alerts_firing={len(report.update.firing)};;;0",
    ]
    return " ".join(items)


def _perf_label(label: str) -> str:
    """A perfdata label: ``=``, ``|`` and control characters become ``_``; quoted (with ``'`` doubled)
    when it holds a space or a quote, as the plugin guidelines ask."""
    label = "".join("_" if c in "=|" or not c.isprintable() else c for c in label)
    if any(c.isspace() or c == "'" for c in label):
        return "'" + label.replace("'", "''") + "'"
    return label


def check_json(report: WatchReport, code: int) -> dict[str, Any]:
    def alert(a: Alert) -> dict[str, Any]:
        return {**condition(a.condition), "id": a.record.id, "started_at": a.record.started_at,
                "acknowledged": a.acknowledged}  # fmt: skip

    def condition(c: Any) -> dict[str, Any]:
        return {"rule": c.rule.value, "queue": c.queue, "subject": c.subject, "severity": c.severity.value,
                "message": c.message, "value": c.value}  # fmt: skip

    status = {NAGIOS_OK: "ok", NAGIOS_WARNING: "warning", NAGIOS_CRITICAL: "critical"}[code]
    return {
        "status": status,
        "exit_code": code,
        "taken_at": report.data.taken_at,
        "round_trips": report.data.round_trips,
        "queues": [q.name for q in report.data.snapshot.queues],
        "firing": [alert(a) for a in report.update.firing],
        "started": [a.record.id for a in report.update.started],
        "ended": [r.to_json() for r in report.update.ended],
        "pending": [condition(c) for c in report.update.pending],
    }


# ---------------------------------------------------------------------- serve-metrics
async def serve_metrics(session: Session, args: argparse.Namespace, _: Any) -> int:
    rules = load_rules(args.rules, session.profile.name)
    tracker = AlertTracker()  # in memory: the endpoint keeps no history file
    minutes = MinuteCache()
    loop = asyncio.get_running_loop()
    deadline_s = session.profile.timeout_s + 5.0

    async def read_report() -> WatchReport:
        data = await read_for_rules(session.reader, rules, RECENT_MINUTES, minutes)
        return evaluate_once(data, rules, tracker)

    def read() -> WatchReport:  # called on the HTTP server's thread, once per scrape
        return asyncio.run_coroutine_threadsafe(read_report(), loop).result(deadline_s)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(read))
    try:
        server, thread = start_metrics_server(registry, args.bind, args.port)
    except OSError as exc:
        raise CoreError(f"cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}") from None
    # What exists now (modules, the session, the server) lives as long as the process: out of the
    # collector's sight, a full collection no longer walks it (tens of ms, about once in 15 scrapes
    # at 100 queues).
    gc.freeze()
    host = f"[{args.bind}]" if ":" in args.bind else args.bind
    print(
        f"serving metrics on http://{host}:{server.server_port}/metrics (Ctrl-C or SIGTERM stops)", flush=True
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        thread.join(5)
    return NAGIOS_OK


COMMANDS = {"check": check, "serve-metrics": serve_metrics}
