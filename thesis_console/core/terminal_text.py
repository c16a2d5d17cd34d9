"""Text from Redis made safe for a terminal: control characters shown as escapes, never sent raw.

A topic, a queue name or a job hash written by anyone who can write to Redis may hold ESC, OSC or
BEL sequences that a terminal would obey (retitle the window, move the cursor, hide text) and NUL
bytes that cut a line short. :func:`escape_controls` writes each of them as ``\\xNN`` (``\\n``,
``\\r`` and ``\\t`` as themselves).
"""

from __future__ import annotations

import re

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if 0xDC80 <= ord(char) <= 0xDCFF:  # a byte that was not UTF-8, as Python's surrogateescape keeps it
        return f"\\x{ord(char) - 0xDC00:02x}"
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """``text`` with every C0 and C1 control character (and DEL, the line and paragraph separators,
    and the lone surrogates that stand for bytes that were not UTF-8) written as an escape."""
    return _CONTROLS.sub(_escape, text)


def escape_lines(text: str) -> str:
    """Like :func:`escape_controls`, but line breaks (``\\n``) stay line breaks."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))
