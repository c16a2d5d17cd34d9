"""The Python bullmq package must run the very Lua scripts of the Node BullMQ it lives beside.

Both write the same keys: a script that differs (as in later Python releases) loses jobs in mixed
sequences, so an upgrade of either side fails here instead of drifting silently.
"""

from __future__ import annotations

import json
from importlib import resources

from tests.node_bullmq import run_node


def python_scripts() -> dict[str, str]:
    commands = resources.files("bullmq") / "commands"
    return {item.name: item.read_text(encoding="utf-8") for item in commands.iterdir() if item.name.endswith(".lua")}


def test_python_bullmq_scripts_are_byte_identical_to_the_pinned_node_package() -> None:
    node = json.loads(run_node("dump_scripts.mjs"))
    python = python_scripts()

    assert len(python) >= 50, f"the Python bullmq package ships only {len(python)} scripts"
    assert sorted(set(python) - set(node)) == [], "scripts only the Python package has"
    assert sorted(set(node) - set(python)) == [], "scripts only the Node package has"
    differing = sorted(name for name in python if python[name] != node[name])
    assert differing == [], f"scripts that differ between Python and Node bullmq: {differing}"
