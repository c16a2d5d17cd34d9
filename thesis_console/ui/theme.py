"""Light and dark themes: a palette, the Qt palette built from it, and style sheets filled from it.

The theme follows the system (``QStyleHints.colorScheme``) unless the user picks one in the settings.
Widgets that draw themselves (delegates, the status badge, job colours) ask :func:`current` for colours.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from thesis_console.ui import resources

log = logging.getLogger("thesis_console.ui.theme")

THEME_CHOICES = ("system", "light", "dark")


@dataclass(frozen=True)
class Palette:
    name: str
    background: str
    foreground: str
    base: str
    alternate: str
    surface: str
    surface_alt: str
    input: str
    border: str
    hover: str
    selection: str
    accent: str
    on_accent: str
    muted: str
    muted_text: str
    success: str
    warning: str
    error: str
    banner: str
    problem: str
    icon: str
    # Job states
    waiting: str
    active: str
    scheduled: str
    completed: str
    failed: str
    canceled: str
    deferred: str

    def state_color(self, state: str) -> QColor:
        return QColor(getattr(self, state, self.foreground))

    def state_colors(self) -> dict[str, QColor]:
        return {s: self.state_color(s) for s in ("waiting", "active", "scheduled", "completed", "failed", "canceled", "deferred")}


LIGHT = Palette(
    name="light",
    background="#f6f7f9",
    foreground="#1d2430",
    base="#ffffff",
    alternate="#f4f6f9",
    surface="#eef1f5",
    surface_alt="#e2e7ee",
    input="#ffffff",
    border="#d3d9e2",
    hover="#e1e7f0",
    selection="#cfe0f7",
    accent="#2f5d9e",
    on_accent="#ffffff",
    muted="#8a94a3",
    muted_text="#566070",
    success="#2e8b57",
    warning="#b86e00",
    error="#c0392b",
    banner="#fff4e0",
    problem="#fde2dc",
    icon="#3a4556",
    waiting="#2f5d9e",
    active="#0f7f8c",
    scheduled="#7a5aa8",
    completed="#2e8b57",
    failed="#c0392b",
    canceled="#7b8494",
    deferred="#9a6a12",
)

DARK = Palette(
    name="dark",
    background="#1b1f26",
    foreground="#e3e7ee",
    base="#20252d",
    alternate="#252b34",
    surface="#262c35",
    surface_alt="#303844",
    input="#1a1e24",
    border="#3a4350",
    hover="#323a46",
    selection="#2c4a73",
    accent="#5b8fd6",
    on_accent="#0d1117",
    muted="#7d8897",
    muted_text="#a8b2c0",
    success="#4cbb7f",
    warning="#e0a03a",
    error="#ef6b5e",
    banner="#3a3020",
    problem="#4a2a27",
    icon="#c9d1dc",
    waiting="#7aa7e6",
    active="#4cc3cf",
    scheduled="#b79be0",
    completed="#5cc98c",
    failed="#ef6b5e",
    canceled="#9aa3b0",
    deferred="#d9a847",
)

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def fill(template: str, palette: Palette) -> str:
    """Replace ``{{name}}`` with the palette's colour; unknown names are left visible (and logged)."""
    values = asdict(palette)

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            log.warning("style sheet names unknown colour %s", key)
            return match.group(0)
        return str(values[key])

    return _PLACEHOLDER.sub(sub, template)


def style_sheet(palette: Palette) -> str:
    return "\n".join(fill(path.read_text(encoding="utf-8"), palette) for path in resources.style_sheet_files())


def qt_palette(p: Palette) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    pairs = {
        role.Window: p.background,
        role.WindowText: p.foreground,
        role.Base: p.base,
        role.AlternateBase: p.alternate,
        role.ToolTipBase: p.surface,
        role.ToolTipText: p.foreground,
        role.PlaceholderText: p.muted,
        role.Text: p.foreground,
        role.Button: p.surface,
        role.ButtonText: p.foreground,
        role.BrightText: p.error,
        role.Highlight: p.accent,
        role.HighlightedText: p.on_accent,
        role.Link: p.accent,
        role.Mid: p.border,
        role.Midlight: p.surface_alt,
        role.Dark: p.border,
        role.Light: p.base,
    }
    for r, color in pairs.items():
        pal.setColor(r, QColor(color))
    for r in (role.Text, role.WindowText, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(p.muted))
    return pal


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark


class ThemeManager(QObject):
    """Applies a theme to the application and re-applies it when the system scheme changes."""

    changed = Signal(object)  # Palette

    def __init__(self, app: QApplication, choice: str = "system") -> None:
        super().__init__(app)
        self._app = app
        self._choice = choice if choice in THEME_CHOICES else "system"
        self.palette = LIGHT
        hints = QGuiApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(self._on_system_changed)
        app.setStyle("Fusion")
        self.apply()

    @property
    def choice(self) -> str:
        return self._choice

    def set_choice(self, choice: str) -> None:
        self._choice = choice if choice in THEME_CHOICES else "system"
        self.apply()

    def apply(self) -> None:
        dark = system_is_dark() if self._choice == "system" else self._choice == "dark"
        self.palette = DARK if dark else LIGHT
        global _current
        _current = self.palette
        self._app.setPalette(qt_palette(self.palette))
        try:
            self._app.setStyleSheet(style_sheet(self.palette))
        except FileNotFoundError as exc:
            log.warning("no style sheets: %s", exc)
        self.changed.emit(self.palette)

    def _on_system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self._choice == "system":
            self.apply()


_current: Palette = LIGHT


def current() -> Palette:
    """The palette in use (light before any theme was applied)."""
    return _current


def themed_icon(name: str) -> QIcon:
    """An icon in the current theme's icon colour."""
    return resources.icon(name, current().icon)
