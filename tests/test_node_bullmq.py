"""The interop tests' Node side fails, naming what to install, when Node or npm is missing; never skips."""

from __future__ import annotations

import pytest

from tests.node_bullmq import require_node_side


def test_missing_node_and_npm_fail_with_one_message_naming_them(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder with neither program
    with pytest.raises(pytest.fail.Exception, match=r"need Node.js 20 or newer and npm: install node and npm"):
        require_node_side()


def test_the_pinned_node_package_is_installed():
    require_node_side()
