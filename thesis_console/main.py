"""Entry point of ``thesis-console``: the desktop window, ``screenshot`` and ``--demo``, or a headless subcommand.

The GUI-only parts (``screenshot``, ``--demo``) are handled here so that :mod:`thesis_console.cli`
stays free of Qt; everything else is delegated to it.
"""

from __future__ import annotations

import argparse
import sys

from thesis_console import cli


def _gui(args: argparse.Namespace, demo: bool = False) -> int:
    from thesis_console.ui.app import run_gui

    return run_gui(args, demo=demo)


def _split_screenshot(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """``[global options] screenshot [options]`` -> (global options, screenshot options), else None."""
    if "screenshot" not in argv:
        return None
    i = argv.index("screenshot")
    before = argv[:i]
    # Only ``--url URL`` / ``--url=URL`` may come before the subcommand.
    j = 0
    while j < len(before):
        if before[j] == "--url" and j + 1 < len(before):
            j += 2
        elif before[j].startswith("--url="):
            j += 1
        else:
            return None
    return before, argv[i + 1 :]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = _split_screenshot(argv)
    if split is not None:
        from thesis_console.ui.screenshot import run_screenshot

        before, after = split
        if before and "--url" not in " ".join(after):
            after = [*before, *after]
        return run_screenshot(after)
    demo = "--demo" in argv
    if demo:
        argv = [a for a in argv if a != "--demo"]
    return cli.main(argv, gui=lambda args: _gui(args, demo=demo))


if __name__ == "__main__":
    sys.exit(main())
