"""Entry point of ``thesis-console``: the desktop window, ``screenshot`` and ``--demo``, or a headless subcommand.

The GUI-only parts (``screenshot``, ``--demo``) are handled here so that :mod:`thesis_console.cli`
stays free of Qt; everything else is delegated to it. The window needs the ``gui`` extra; without
it the headless subcommands work and asking for the window says what to install.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from thesis_console import cli, system_libraries

GUI_PACKAGES = ("PySide6", "qasync", "pyqtgraph", "numpy")
"""What the ``gui`` extra installs; the core, the CLI and ``thesis-worker`` need none of it."""
NO_GUI = (
    "thesis-console: the window needs the GUI extra ({missing} is not installed): "
    "pip install 'thesis-queue-console[gui]'. The headless commands work without it: thesis-console --help"
)


def _load_gui(module: str) -> ModuleType | None:
    """``module`` of the GUI, or None after saying which extra is missing."""
    for package in GUI_PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError:
            print(NO_GUI.format(missing=package), file=sys.stderr)
            return None
    return importlib.import_module(module)


def _gui(args: argparse.Namespace, demo: bool = False) -> int:
    problem = system_libraries.check()  # before Qt, which would abort with a misleading message
    if problem:
        print(problem, file=sys.stderr)
        return cli.EXIT_FAILURE
    app = _load_gui("thesis_console.ui.app")
    return app.run_gui(args, demo=demo) if app else cli.EXIT_FAILURE


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
        screenshot = _load_gui("thesis_console.ui.screenshot")
        if screenshot is None:
            return cli.EXIT_FAILURE
        before, after = split
        if before and "--url" not in " ".join(after):
            after = [*before, *after]
        return screenshot.run_screenshot(after)
    demo = "--demo" in argv
    if demo:
        argv = [a for a in argv if a != "--demo"]
    return cli.main(argv, gui=lambda args: _gui(args, demo=demo))


if __name__ == "__main__":
    sys.exit(main())
