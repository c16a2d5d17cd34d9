"""``thesis-console profiles [list|add|edit|remove|test]``: connection profiles without the window.

A profile holds the URL, the ACL user, TLS files, read-only, trust-pickle, the queues shown, the
timeout and, per BullMQ queue, the job name and default options of the theses added to it
(``--bullmq-job QUEUE --job-name NAME --job-options JSON``), and never a password: a URL that carries one is refused. The password goes to the OS
keyring (``--password-stdin`` reads it from standard input, ``--ask-password`` asks on the
terminal); with no usable keyring it is not kept, and is asked each time (``THESIS_REDIS_PASSWORD``
or a prompt). It is never an argument, so ``ps`` never shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from thesis_console.cli import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, UsageError, format_table
from thesis_console.cli import _print_json as print_json
from thesis_console.core import credentials
from thesis_console.core.bullmq.job_defaults import BullJobDefaults, parse_options
from thesis_console.core.profiles import (
    EMBEDDED_PROFILE_NAME,
    ConnectionProfile,
    ProfileStore,
    parse_bullmq_jobs,
)
from thesis_console.core.queue_names import check_queue_name
from thesis_console.core.redis_url import has_password
from thesis_console.core.session import FailureKind, SessionError, open_session
from thesis_console.core.types import CoreError

PASSWORD_NOTE = (
    "passwords: --password-stdin (one line on standard input) or --ask-password (a prompt) stores it in the\n"
    "  keyring (service 'thesis-console', user = the profile name); never give it in the URL or as an argument.\n"
)


# ---------------------------------------------------------------------- the parser
def add_parsers(profiles: argparse.ArgumentParser) -> None:
    """The ``list``, ``add``, ``edit``, ``remove`` and ``test`` subcommands of ``profiles`` (``list`` by default)."""
    sub = profiles.add_subparsers(dest="profiles_action", metavar="ACTION")
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    parents = [json_flag]

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=text, description=text, parents=parents, epilog=PASSWORD_NOTE,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip

    action("list", "list the saved profiles (the default)")

    add = action("add", "save a new connection profile")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--url", dest="profile_url", required=True, metavar="URL",
                     help="redis://host:port/db, rediss://…, unix:///path.sock or sentinel://host:port/service, no password")  # fmt: skip
    _fields(add, editing=False)

    edit = action("edit", "change a saved profile; only the options given change")
    edit.add_argument("name", metavar="NAME")
    edit.add_argument("--url", dest="profile_url", default=None, metavar="URL", help="new URL (no password in it)")
    _fields(edit, editing=True)

    remove = action("remove", "forget a saved profile and its stored password")
    remove.add_argument("name", metavar="NAME")

    test = action("test", "connect with a saved profile: server version and round trip, or why not")
    test.add_argument("name", metavar="NAME")


def _fields(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    keep = "; empty to clear" if editing else ""
    parser.add_argument("--user", default=None, help=f"ACL user name (Redis 6+){keep}")
    parser.add_argument("--tls-ca", default=None, metavar="FILE", help=f"CA certificate file{keep}")
    parser.add_argument("--tls-cert", default=None, metavar="FILE", help=f"client certificate file{keep}")
    parser.add_argument("--tls-key", default=None, metavar="FILE", help=f"client key file{keep}")
    parser.add_argument("--queue", dest="queues", action="append", default=None, metavar="NAME",
                        help="a queue to show (repeat); none: all" + ("; --queue '' for all" if editing else ""))  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, metavar="S", help="connect and command timeout")
    for flag, what in (("read-only", "refuse every change to Redis"),
                       ("trust-pickle", "allow unpickling job data (only for a Redis you trust: code execution)")):  # fmt: skip
        parser.add_argument(f"--{flag}", dest=flag.replace("-", "_"), action=argparse.BooleanOptionalAction,
                            default=None, help=what)  # fmt: skip
    parser.add_argument("--bullmq-job", default=None, metavar="QUEUE",
                        help="the BullMQ queue whose thesis job name and default options --job-name and --job-options set")  # fmt: skip
    parser.add_argument("--job-name", default=None, metavar="NAME", help="the job name of theses added to --bullmq-job (default generate-thesis)")
    parser.add_argument("--job-options", default=None, metavar="JSON",
                        help='default job options of --bullmq-job, e.g. \'{"attempts": 3, "backoff": {"type": "exponential", "delay": 2000}}\'')  # fmt: skip
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    secret.add_argument("--ask-password", action="store_true", help="ask for the password on the terminal")
    if editing:
        secret.add_argument("--forget-password", action="store_true", help="delete the stored password")


# ---------------------------------------------------------------------- running
def run(args: argparse.Namespace) -> int:
    """Run ``profiles [ACTION]``; raises :class:`UsageError` for bad input (exit 2)."""
    action = getattr(args, "profiles_action", None) or "list"
    return _ACTIONS[action](args, ProfileStore())


def _list(args: argparse.Namespace, store: ProfileStore) -> int:
    profiles = _load(store)
    available = credentials.keyring_available()

    def stored(profile: ConnectionProfile) -> bool | None:
        return credentials.has_password(profile) if available else None

    if args.json:
        print_json(
            {
                "file": str(store.path),
                "keyring_available": available,
                "profiles": [_shown(p, stored(p)) for p in profiles],
            }
        )
        return EXIT_OK
    rows = [
        [
            p.name,
            p.display_url,
            p.username or "",
            "yes" if p.read_only else "",
            "yes" if p.trust_pickle else "",
            ",".join(p.queues) or "all",
            "yes" if p.uses_tls else "",
            {True: "stored", False: "none", None: "asked each time"}[stored(p)],
        ]
        for p in profiles
    ]
    print(format_table(["PROFILE", "URL", "USER", "READ-ONLY", "TRUST-PICKLE", "QUEUES", "TLS", "PASSWORD"], rows))
    print(f"\nfile: {store.path}" + ("" if available else "\n" + credentials.NO_KEYRING_MESSAGE))
    return EXIT_OK


def _add(args: argparse.Namespace, store: ProfileStore) -> int:
    profiles = _load(store)
    if any(p.name == args.name for p in profiles):
        raise UsageError(f"a profile named {args.name!r} exists; change it with: profiles edit {args.name!r}")
    values = _changes(args)
    profile = _with_job_defaults(args, _build(args.name, values))
    password = _password(args, profile)  # asked before saving, so a refused prompt saves nothing
    _save(store, [*profiles, profile])
    return _done(args, "added", profile, _store_password(profile, password))


def _edit(args: argparse.Namespace, store: ProfileStore) -> int:
    profiles = _load(store)
    old = _find(profiles, args.name)
    values = _changes(args)
    if old.embedded and {"url", "username", "tls_ca_file", "tls_cert_file", "tls_key_file"} & set(values):
        raise UsageError(f"{EMBEDDED_PROFILE_NAME!r} is the managed local Redis: its URL, user and TLS files are fixed")
    profile = _with_job_defaults(args, _build(old.name, {**old.to_json(), **values}))
    password = _password(args, profile)
    _save(store, [profile if p.name == old.name else p for p in profiles])
    note = _store_password(profile, password)
    if args.forget_password:
        note = "stored password deleted" if credentials.delete_password(profile) else "no password was stored"
    return _done(args, "changed", profile, note)


def _remove(args: argparse.Namespace, store: ProfileStore) -> int:
    profiles = _load(store)
    profile = _find(profiles, args.name)
    _save(store, [p for p in profiles if p.name != profile.name])
    note = "stored password deleted" if credentials.delete_password(profile) else ""
    if profile.embedded:
        note = "the managed local Redis comes back with its default settings"
    return _done(args, "removed", profile, note)


def _test(args: argparse.Namespace, store: ProfileStore) -> int:
    profile = _find(_load(store), args.name)

    def ask(p: ConnectionProfile) -> str | None:
        return credentials.env_password(p) or credentials.terminal_prompt(p)

    async def attempt() -> int:
        try:
            session = await open_session(profile, ask)
        except SessionError as exc:
            _report_test(args, profile, ok=False, text=str(exc))
            return EXIT_USAGE if exc.kind == FailureKind.BAD_URL else EXIT_UNREACHABLE
        state = session.state
        await session.close()
        rtt = f", round trip {state.round_trip_ms:.1f} ms" if state.round_trip_ms is not None else ""
        text = f"connected to {state.server}: Redis {state.version or '?'}{rtt}"
        _report_test(args, profile, ok=True, text=text, version=state.version, round_trip_ms=state.round_trip_ms)
        return EXIT_OK

    return asyncio.run(attempt())


def _report_test(args: argparse.Namespace, profile: ConnectionProfile, *, ok: bool, text: str, **extra: Any) -> None:
    if args.json:
        print_json({"profile": profile.name, "url": profile.display_url, "ok": ok, "message": text, **extra})
    elif ok:
        print(f"{profile.name}: {text}")
    else:
        print(f"thesis-console: {profile.name}: {text}", file=sys.stderr)


_ACTIONS: dict[str, Callable[[argparse.Namespace, ProfileStore], int]] = {
    "list": _list,
    "add": _add,
    "edit": _edit,
    "remove": _remove,
    "test": _test,
}


# ---------------------------------------------------------------------- helpers
def _load(store: ProfileStore) -> list[ConnectionProfile]:
    try:
        return store.load()
    except CoreError as exc:
        raise UsageError(str(exc)) from None


def _find(profiles: list[ConnectionProfile], name: str) -> ConnectionProfile:
    for profile in profiles:
        if profile.name == name:
            return profile
    known = ", ".join(repr(p.name) for p in profiles)
    raise UsageError(f"no connection profile named {name!r}; known profiles: {known}")


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The profile fields the options set (an empty text clears an optional one)."""
    values: dict[str, Any] = {}
    if args.profile_url is not None:
        if has_password(args.profile_url):
            raise UsageError(
                "the URL holds a password; give the URL without it, and the password with --password-stdin "
                "or --ask-password: it goes to the keyring, never to the profiles file"
            )
        values["url"] = args.profile_url
    if args.user is not None:
        values["username"] = args.user or None
    for option, field in (("tls_ca", "tls_ca_file"), ("tls_cert", "tls_cert_file"), ("tls_key", "tls_key_file")):
        path = getattr(args, option)
        if path is None:
            continue
        if path and not Path(path).expanduser().is_file():
            raise UsageError(f"--{option.replace('_', '-')}: no such file: {path}")
        values[field] = str(Path(path).expanduser().resolve()) if path else None
    if args.queues is not None:
        values["queues"] = tuple(q for q in args.queues if q)
    if args.timeout is not None:
        values["timeout_s"] = args.timeout
    for flag in ("read_only", "trust_pickle"):
        if getattr(args, flag) is not None:
            values[flag] = getattr(args, flag)
    return values


def _with_job_defaults(args: argparse.Namespace, profile: ConnectionProfile) -> ConnectionProfile:
    """``profile`` with the BullMQ job name and options given for ``--bullmq-job`` (the rest kept)."""
    if args.bullmq_job is None:
        if args.job_name is not None or args.job_options is not None:
            raise UsageError("--job-name and --job-options need --bullmq-job QUEUE (the BullMQ queue they are for)")
        return profile
    try:
        queue = check_queue_name(args.bullmq_job)
        current = profile.job_defaults(queue)
        options = parse_options(args.job_options) if args.job_options is not None else current.options
        defaults = BullJobDefaults(args.job_name if args.job_name is not None else current.job_name, options)
    except CoreError as exc:
        raise UsageError(f"--bullmq-job {args.bullmq_job}: {exc}") from None
    return profile.with_job_defaults(queue, defaults)


def _build(name: str, values: dict[str, Any]) -> ConnectionProfile:
    fields = {f.name for f in dataclasses.fields(ConnectionProfile)}
    clean = {k: v for k, v in values.items() if k in fields and k != "name"}
    try:
        clean["bullmq_jobs"] = parse_bullmq_jobs(clean.get("bullmq_jobs", {}))
    except CoreError as exc:
        raise UsageError(str(exc)) from None
    if "queues" in clean:
        clean["queues"] = tuple(clean["queues"])
    if "queues" in values:
        for queue in clean["queues"]:
            try:
                check_queue_name(queue)
            except ValueError as exc:
                raise UsageError(f"--queue: {exc}") from None
    try:
        return ConnectionProfile(name=name, **clean)
    except (CoreError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def _save(store: ProfileStore, profiles: list[ConnectionProfile]) -> None:
    try:
        store.save(profiles)
    except CoreError as exc:
        raise UsageError(str(exc)) from None


def _password(args: argparse.Namespace, profile: ConnectionProfile) -> str | None:
    """The password given with --password-stdin or --ask-password, or None."""
    if args.password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: standard input held no password")
        return password
    if args.ask_password:
        if not sys.stdin.isatty():
            raise UsageError("--ask-password needs a terminal; use --password-stdin to pipe it in")
        try:
            password = getpass.getpass(f"Password for {profile.name} ({profile.display_url}): ")
        except (EOFError, KeyboardInterrupt):
            password = ""
        if not password:
            raise UsageError("no password was given")
        return password
    return None


def _store_password(profile: ConnectionProfile, password: str | None) -> str:
    if password is None:
        return ""
    try:
        credentials.set_password(profile, password)
    except CoreError as exc:
        return f"password not stored: {exc}"
    return "password stored in the keyring"


def _done(args: argparse.Namespace, what: str, profile: ConnectionProfile, note: str) -> int:
    if args.json:
        print_json({"action": what, "profile": _shown(profile, None), "note": note})
    else:
        print(f"profile {profile.name!r} {what}: {profile.display_url}" + (f"; {note}" if note else ""))
    return EXIT_OK


def _shown(profile: ConnectionProfile, password_stored: bool | None) -> dict[str, Any]:
    return {**profile.to_json(), "url": profile.display_url, "password_stored": password_stored}
