"""Before Qt starts: are the system libraries of Qt's X11 (xcb) platform plugin installed?

The PySide6 wheel brings Qt but not the X11 libraries its ``xcb`` plugin links against. When one
is missing, Qt aborts with "Could not load the Qt platform plugin xcb" and names ``xcb-cursor0``
whatever is missing. This check runs first and names what is missing, with the install line of the
machine's distribution. It is skipped off Linux, when ``QT_QPA_PLATFORM`` names a platform
other than xcb (``offscreen``, ``minimal``, ``wayland``...), and when ``THESIS_SKIP_SYSTEM_CHECK``
is set (for a machine whose libraries the check cannot see).

The libraries are those ``ldd`` shows for ``PySide6/Qt/plugins/platforms/libqxcb.so`` and
``PySide6/Qt/lib/libQt6XcbQpa.so.6`` outside the wheel; :data:`XCB_PLUGIN_LIBRARIES` lists them with
their packages. Whether one is present is asked of a resolver: by default ``ldd`` on those two files
(what the dynamic loader will do), so a test can pass its own.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Distro(StrEnum):
    DEBIAN = "debian"
    FEDORA = "fedora"
    ARCH = "arch"


@dataclass(frozen=True)
class SystemLibrary:
    soname: str
    debian: str
    fedora: str
    arch: str

    def package(self, distro: Distro) -> str:
        return {Distro.DEBIAN: self.debian, Distro.FEDORA: self.fedora, Distro.ARCH: self.arch}[distro]


def _lib(soname: str, debian: str, fedora: str, arch: str) -> SystemLibrary:
    return SystemLibrary(soname, debian, fedora, arch)


XCB_PLUGIN_LIBRARIES: tuple[SystemLibrary, ...] = (
    _lib("libxcb.so.1", "libxcb1", "libxcb", "libxcb"),
    _lib("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    _lib("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    _lib("libxcb-image.so.0", "libxcb-image0", "xcb-util-image", "xcb-util-image"),
    _lib("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    _lib("libxcb-randr.so.0", "libxcb-randr0", "libxcb", "libxcb"),
    _lib("libxcb-render.so.0", "libxcb-render0", "libxcb", "libxcb"),
    _lib("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    _lib("libxcb-shape.so.0", "libxcb-shape0", "libxcb", "libxcb"),
    _lib("libxcb-shm.so.0", "libxcb-shm0", "libxcb", "libxcb"),
    _lib("libxcb-sync.so.1", "libxcb-sync1", "libxcb", "libxcb"),
    _lib("libxcb-util.so.1", "libxcb-util1", "xcb-util", "xcb-util"),
    _lib("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb", "libxcb"),
    _lib("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb", "libxcb"),
    _lib("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    _lib("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    _lib("libX11.so.6", "libx11-6", "libX11", "libx11"),
    _lib("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb", "libx11"),
    _lib("libGL.so.1", "libgl1", "libglvnd-glx", "libglvnd"),
    _lib("libEGL.so.1", "libegl1", "libglvnd-egl", "libglvnd"),
    _lib("libfontconfig.so.1", "libfontconfig1", "fontconfig", "fontconfig"),
    _lib("libfreetype.so.6", "libfreetype6", "freetype", "freetype2"),
    _lib("libglib-2.0.so.0", "libglib2.0-0", "glib2", "glib2"),
    _lib("libdbus-1.so.3", "libdbus-1-3", "dbus-libs", "dbus"),
)

INSTALL_COMMANDS = {
    Distro.DEBIAN: "sudo apt-get install",
    Distro.FEDORA: "sudo dnf install",
    Distro.ARCH: "sudo pacman -S --needed",
}

SKIP_ENV = "THESIS_SKIP_SYSTEM_CHECK"

Resolver = Callable[[str], bool]
"""Tells whether a library (by soname) can be loaded."""


def missing(resolve: Resolver, libraries: Sequence[SystemLibrary] = XCB_PLUGIN_LIBRARIES) -> list[SystemLibrary]:
    """The libraries ``resolve`` cannot find."""
    return [lib for lib in libraries if not resolve(lib.soname)]


def install_line(libraries: Sequence[SystemLibrary], distro: Distro) -> str:
    """The one command that installs ``libraries`` on ``distro`` (each package once, in order)."""
    packages = list(dict.fromkeys(lib.package(distro) for lib in libraries))
    return f"{INSTALL_COMMANDS[distro]} {' '.join(packages)}"


def message(libraries: Sequence[SystemLibrary], distro: Distro) -> str:
    names = ", ".join(lib.soname for lib in libraries)
    return (
        f"thesis-console: the window cannot start: Qt's X11 platform plugin needs system libraries that are "
        f"not installed: {names}.\nInstall them with:\n    {install_line(libraries, distro)}\n"
        "(the README lists the packages for Debian/Ubuntu, Fedora and Arch). "
        "The headless commands work without them: thesis-console --help"
    )


def distro_family(os_release: str) -> Distro:
    """Debian, Fedora or Arch from the text of ``/etc/os-release`` (``ID`` and ``ID_LIKE``); Debian when unknown."""
    words: set[str] = set()
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("ID", "ID_LIKE"):
            words.update(value.strip().strip("\"'").lower().split())
    if words & {"fedora", "rhel", "centos"}:
        return Distro.FEDORA
    if words & {"arch", "manjaro", "endeavouros"}:
        return Distro.ARCH
    return Distro.DEBIAN


def applies(environ: Mapping[str, str], platform: str) -> bool:
    """Whether Qt will load its xcb plugin: on Linux, unless ``QT_QPA_PLATFORM`` names other platforms only."""
    if not platform.startswith("linux") or environ.get(SKIP_ENV):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip().lower()
    if not chosen:
        return True
    return any(name.split(":", 1)[0].strip() == "xcb" for name in chosen.split(";"))


def xcb_plugin_files() -> list[Path]:
    """The installed PySide6's xcb plugin and xcb integration library (without importing PySide6)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    candidates = [qt / "plugins" / "platforms" / "libqxcb.so", *sorted((qt / "lib").glob("libQt6XcbQpa.so*"))[:1]]
    return [path for path in candidates if path.is_file()]


class LddResolver:
    """Asks ``ldd`` once which libraries of the given files the dynamic loader cannot find."""

    def __init__(self, files: Sequence[Path], timeout_s: float = 10.0) -> None:
        self.not_found: set[str] = set()
        ldd = shutil.which("ldd")
        if ldd is None or not files:
            return  # cannot tell: assume present (Qt will say it if not)
        try:
            output = subprocess.run(
                [ldd, *map(str, files)], capture_output=True, text=True, timeout=timeout_s, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return
        for line in output.splitlines():
            name, _, where = line.strip().partition(" => ")
            if where.strip() == "not found":
                self.not_found.add(name.strip())

    def __call__(self, soname: str) -> bool:
        return soname not in self.not_found


def check(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    resolve: Resolver | None = None,
    os_release: str | None = None,
) -> str | None:
    """The message to print when the window cannot start for lack of system libraries, else None."""
    environ = os.environ if environ is None else environ
    if not applies(environ, sys.platform if platform is None else platform):
        return None
    if resolve is None:
        resolve = LddResolver(xcb_plugin_files())
    absent = missing(resolve)
    if not absent:
        return None
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(errors="replace")
        except OSError:
            os_release = ""
    return message(absent, distro_family(os_release))
