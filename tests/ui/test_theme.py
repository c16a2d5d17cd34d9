"""Themes (ui/theme.py): the style sheets are filled from the palette."""

from __future__ import annotations

from thesis_console.ui import theme


def test_themes_fill_the_style_sheets(qapp) -> None:
    manager = theme.ThemeManager(qapp, "dark")
    try:
        assert theme.current() is theme.DARK
        sheet = qapp.styleSheet()
        assert theme.DARK.accent in sheet and "{{" not in sheet
        manager.set_choice("light")
        assert theme.LIGHT.base in qapp.styleSheet()
        assert theme.themed_icon("retry").availableSizes()
    finally:
        manager.set_choice("light")
        qapp.setStyleSheet("")
