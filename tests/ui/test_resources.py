"""Resources: every icon the window asks for exists and renders, style sheets fill completely from
both palettes, the desktop file is complete, and the loader honours its override."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from thesis_console.ui import resources, theme

UI = Path(__file__).resolve().parents[2] / "thesis_console" / "ui"


def icon_names_used() -> set[str]:
    names: set[str] = set()
    for path in UI.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'themed_icon\("([\w-]+)"\)', text))
        names.update(re.findall(r'a\("\w+", "[^"]+", "([\w-]+)"', text))
    names.update({"overview", "jobs", "workers"})
    return names


def test_every_icon_used_exists_and_renders(qapp) -> None:
    used = icon_names_used()
    assert {"retry", "cancel", "stop", "delete", "enqueue", "search", "copy"} <= used
    for name in used:
        assert resources.resource_path("icons", f"{name}.svg").exists(), name
        assert not resources.icon(name, "#000000").isNull(), name
    assert not resources.app_icon().isNull()


@pytest.mark.parametrize("palette", [theme.LIGHT, theme.DARK], ids=["light", "dark"])
def test_style_sheets_fill_completely(palette: theme.Palette) -> None:
    files = resources.style_sheet_files()
    assert [f.name[:3] for f in files] == sorted(f.name[:3] for f in files) and len(files) >= 3
    sheet = theme.style_sheet(palette)
    assert "{{" not in sheet and palette.accent in sheet


def test_desktop_file_is_complete() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(resources.resource_path("thesis-console.desktop"))
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Exec"] == "thesis-console"
    assert entry["Icon"] == "thesis-console"
    assert resources.resource_path("icons", f"{entry['Icon']}.svg").exists()


def test_override_folder_is_used(tmp_path, monkeypatch) -> None:
    (tmp_path / "styles").mkdir()
    (tmp_path / "icons").mkdir()
    monkeypatch.setenv("THESIS_CONSOLE_RESOURCES", str(tmp_path))
    resources.resource_root.cache_clear()
    try:
        assert resources.resource_root() == tmp_path
    finally:
        monkeypatch.delenv("THESIS_CONSOLE_RESOURCES")
        resources.resource_root.cache_clear()
    assert resources.resource_root() != tmp_path
