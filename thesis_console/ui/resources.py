"""Finding the console's resources (icons, style sheets, desktop file) from a checkout or an install.

Looked for, in order: ``THESIS_CONSOLE_RESOURCES``; ``resources/`` in the repository root (a checkout
or an editable install); ``<prefix>/share/thesis-console`` where a wheel installs them (the
``data-files`` entry of pyproject.toml).
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_SIZES = (16, 20, 24, 32, 48)


def candidate_roots() -> list[Path]:
    roots: list[Path] = []
    override = os.environ.get("THESIS_CONSOLE_RESOURCES")
    if override:
        roots.append(Path(override))
    roots.append(Path(__file__).resolve().parents[2] / "resources")
    for prefix in {sys.prefix, sysconfig.get_path("data")}:
        roots.append(Path(prefix) / "share" / "thesis-console")
    return roots


@functools.cache
def resource_root() -> Path:
    """The first folder that holds ``styles/`` and ``icons/``.

    Raises:
        FileNotFoundError: no candidate exists (a broken install); the message lists where it looked.
    """
    roots = candidate_roots()
    for root in roots:
        if (root / "styles").is_dir() and (root / "icons").is_dir():
            return root
    raise FileNotFoundError("thesis-console resources not found; looked in " + ", ".join(map(str, roots)))


def resource_path(*parts: str) -> Path:
    return resource_root().joinpath(*parts)


def style_sheet_files() -> list[Path]:
    """The ``NN_*.qss`` files in name order."""
    return sorted(resource_path("styles").glob("[0-9][0-9]_*.qss"))


@functools.cache
def _svg_text(name: str) -> str:
    return resource_path("icons", f"{name}.svg").read_text(encoding="utf-8")


@functools.cache
def icon(name: str, color: str = "#444444") -> QIcon:
    """An icon from ``icons/<name>.svg`` drawn in ``color`` (``currentColor`` in the SVG takes it).

    A missing icon gives an empty QIcon rather than an error: a button without a picture still works.
    """
    try:
        text = _svg_text(name)
    except OSError:
        return QIcon()
    renderer = QSvgRenderer(QByteArray(text.replace("currentColor", QColor(color).name()).encode()))
    result = QIcon()
    for size in ICON_SIZES:
        for scale in (1, 2):
            pixmap = QPixmap(QSize(size * scale, size * scale))
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            renderer.render(painter)
            painter.end()
            pixmap.setDevicePixelRatio(scale)
            result.addPixmap(pixmap)
    return result


def app_icon() -> QIcon:
    path = resource_path("icons", "thesis-console.svg")
    return QIcon(str(path)) if path.exists() else QIcon()
