"""How times, durations and counts read in tables: short, local and unambiguous."""

from __future__ import annotations

import time


def fmt_time(ts: float | None, now: float | None = None) -> str:
    """A Unix time as local ``HH:MM:SS`` when it is today, else ``YYYY-MM-DD HH:MM``; empty for None."""
    if ts is None:
        return ""
    now = time.time() if now is None else now
    local = time.localtime(ts)
    if time.localtime(now)[:3] == local[:3]:
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def fmt_compact_time(ts: float | None, now: float | None = None) -> str:
    """A Unix time short enough for a table column: ``HH:MM:SS`` today, ``28 Nov 14:05`` this year,
    else ``2025-11-28``; empty for None (the tooltip gives the full time)."""
    if ts is None:
        return ""
    now = time.time() if now is None else now
    local, today = time.localtime(ts), time.localtime(now)
    if today[:3] == local[:3]:
        return time.strftime("%H:%M:%S", local)
    if today.tm_year == local.tm_year:
        return time.strftime("%d %b %H:%M", local).lstrip("0")
    return time.strftime("%Y-%m-%d", local)


def fmt_full_time(ts: float | None) -> str:
    """A Unix time with date and seconds, for tool tips and the detail panel."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def fmt_duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4m 05s``, ``2h 03m``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 0:
        seconds = 0.0
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def fmt_count(n: int) -> str:
    """A count with thin thousands separators: ``1 234 567``."""
    return f"{n:,}".replace(",", "\u202f")


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 job``, ``3 jobs``, ``1 234 jobs`` (``many`` for irregular plurals)."""
    return f"{fmt_count(n)} {noun if n == 1 else (many or noun + 's')}"


def paused_text(paused: bool, by: str = "", at: float | None = None) -> str:
    """``paused by ana@lab at 2026-11-30 12:03:07``; empty when not paused."""
    if not paused:
        return ""
    return "paused" + (f" by {by}" if by else "") + (f" at {fmt_full_time(at)}" if at else "")
