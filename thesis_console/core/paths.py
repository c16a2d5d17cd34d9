"""The per-user folders: where the console and the workers keep data and configuration."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "thesis-console"
DATA_DIR_ENV = "THESIS_DATA_DIR"


def user_data_root() -> Path:
    """``THESIS_DATA_DIR``, else the per-user data folder (embedded Redis, worker logs, alert history)."""
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_config_root() -> Path:
    """The per-user config folder (connection profiles, alert rules)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
