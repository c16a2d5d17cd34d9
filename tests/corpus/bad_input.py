"""Bad input a person (or a script) can give the command-line tools; each must be a clear message and exit 2.

Each case is ``(argv, phrase)``: the arguments after the program name and a phrase the message must
hold. ``{url}`` in an argument stands for the test server's URL without its database number.
``PASSWORD`` appears in some URLs: it must never be printed.
"""

from __future__ import annotations

PASSWORD = "p4ss-W0rd-in-url"
NOT_UTF8 = "\udcff"
"""What Python makes of the byte 0xff in an argument (surrogateescape)."""

URLS: list[tuple[str, str]] = [
    ("redis://h:p/notadb", "port in"),
    ("{url}/notadb", "database in"),
    ("", "the Redis URL is empty"),
    ("{url}/0\nFLUSHALL", "line break"),
    (f"redis://:{PASSWORD}@127.0.0.1:notaport/0", "port in"),
    (f"redis://:{PASSWORD}@[::1/0", "cannot be read"),
    (f"redis://127.0.0.1:notaport/0?password={PASSWORD}", "port in"),
    ("{url}/0?db=abc", "bad parameter"),
    (f"{PASSWORD}", "not a URL"),
]

QUEUES: list[str] = [NOT_UTF8, "a:b", "a b", "", "x" * 65, "esc\x1b[2J", "ünïcode"]

CONSOLE: list[tuple[list[str], str]] = [
    (["enqueue", "--topic", NOT_UTF8], "not valid UTF-8"),
    (["enqueue", "--topic", "A topic", "--field", "caf" + NOT_UTF8], "not valid UTF-8"),
    (["enqueue", "--topic", "A topic", "--queue", NOT_UTF8], "not valid UTF-8"),
    (["show", NOT_UTF8], "not valid UTF-8"),
    (["jobs", "--queue", NOT_UTF8, "--state", "waiting"], "not valid UTF-8"),
    (["empty", "--queue", NOT_UTF8, "--state", "failed", "--yes"], "not valid UTF-8"),
    *[(["enqueue", "--topic", "A topic", "--delay", v], "--delay") for v in ("nan", "inf", "-inf", "1e300", "1e12", "-1", "x")],
    *[(["enqueue", "--topic", "A topic", "--pace", v], "--pace") for v in ("nan", "-1", "inf", "1e9", "x")],
    *[(["enqueue", "--topic", "A topic", "--queue", q], "--queue") for q in QUEUES[1:]],
    *[(["jobs", "--queue", q, "--state", "waiting"], "--queue") for q in QUEUES[1:]],
    *[(["empty", "--queue", q, "--state", "failed", "--yes"], "--queue") for q in QUEUES[1:]],
    *[(["retry", "--all", "--queue", q], "--queue") for q in QUEUES[1:]],
    *[(["--url", url, "status"], phrase) for url, phrase in URLS],
    (["--url", "{url}/99999", "status"], "no such database"),
]

WORKER: list[tuple[list[str], str]] = [
    *[(["--url", url], phrase) for url, phrase in URLS],
    *[(["--queue", q], "--queue") for q in QUEUES],
    (["--url", "{url}/99999"], "no such database"),
    (["--url", "{url}/0", "--url-file", "/nonexistent"], "cannot read the URL file"),
    (["--url-file", "/nonexistent"], "cannot read the URL file"),
]
