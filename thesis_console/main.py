"""Entry point of ``thesis-console``: headless subcommands, or the desktop window when none is given."""

from __future__ import annotations

import argparse
import sys

from thesis_console import cli


def _gui(args: argparse.Namespace) -> int:
    from thesis_console.ui.app import run_gui

    return run_gui(args)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, gui=_gui)


if __name__ == "__main__":
    sys.exit(main())
