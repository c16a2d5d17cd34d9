"""The check for Qt's X11 system libraries that runs before the window starts."""

from __future__ import annotations

import subprocess
import sys

from thesis_console import main, system_libraries
from thesis_console.system_libraries import XCB_PLUGIN_LIBRARIES, Distro, LddResolver, check

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
UBUNTU = "ID=ubuntu\nID_LIKE=debian\n"
FEDORA = 'ID=fedora\nVERSION_ID=40\n'
ARCH = "ID=arch\n"


def _without(*sonames: str):
    return lambda soname: soname not in sonames


def test_nothing_missing_means_no_message():
    assert check({}, "linux", resolve=lambda soname: True, os_release=DEBIAN) is None


def test_missing_libraries_are_named_with_one_install_line():
    text = check({}, "linux", resolve=_without("libxcb-icccm.so.4", "libxcb-keysyms.so.1"), os_release=DEBIAN)
    assert text is not None
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in text
    assert "    sudo apt-get install libxcb-icccm4 libxcb-keysyms1\n" in text
    assert "xcb-cursor0" not in text  # Qt's own message points there whatever is missing


def test_the_install_line_follows_the_distribution_and_names_each_package_once():
    absent = _without("libxcb-randr.so.0", "libxcb-shm.so.0", "libxcb-cursor.so.0", "libGL.so.1")
    assert "sudo dnf install xcb-util-cursor libxcb libglvnd-glx\n" in check({}, "linux", absent, FEDORA)
    assert "sudo pacman -S --needed xcb-util-cursor libxcb libglvnd\n" in check({}, "linux", absent, ARCH)
    assert "sudo apt-get install libxcb-cursor0 libxcb-randr0 libxcb-shm0 libgl1\n" in check({}, "linux", absent, UBUNTU)


def test_distribution_families():
    assert system_libraries.distro_family(UBUNTU) is Distro.DEBIAN
    assert system_libraries.distro_family('ID="rocky"\nID_LIKE="rhel centos fedora"\n') is Distro.FEDORA
    assert system_libraries.distro_family("ID=manjaro\nID_LIKE=arch\n") is Distro.ARCH
    assert system_libraries.distro_family("") is Distro.DEBIAN


def test_skipped_off_linux_for_other_qt_platforms_and_on_request():
    nothing = lambda soname: False  # noqa: E731 (every library missing)
    assert check({}, "darwin", nothing, DEBIAN) is None
    assert check({}, "win32", nothing, DEBIAN) is None
    for platform in ("offscreen", "minimal", "wayland", "wayland-egl"):
        assert check({"QT_QPA_PLATFORM": platform}, "linux", nothing, DEBIAN) is None
    assert check({"THESIS_SKIP_SYSTEM_CHECK": "1"}, "linux", nothing, DEBIAN) is None
    assert check({"QT_QPA_PLATFORM": "xcb"}, "linux", nothing, DEBIAN) is not None
    assert check({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", nothing, DEBIAN) is not None


def test_every_library_of_the_installed_xcb_plugin_is_in_the_table():
    files = system_libraries.xcb_plugin_files()
    assert [p.name for p in files] == ["libqxcb.so", "libQt6XcbQpa.so.6"]
    ldd = subprocess.run(["ldd", *map(str, files)], capture_output=True, text=True, check=True).stdout
    linked = {line.split()[0] for line in ldd.splitlines() if " => /lib" in line or " => /usr" in line or "not found" in line}
    known = {lib.soname for lib in XCB_PLUGIN_LIBRARIES}
    direct = {name for name in linked if name.startswith(("libxcb", "libxkb", "libX11"))}
    assert direct <= known, direct - known


def test_the_real_resolver_runs_on_this_machine():
    resolver = LddResolver(system_libraries.xcb_plugin_files())
    text = check({}, "linux", resolver)
    # Whatever this machine has, the answer agrees with ldd and names only libraries of the table.
    assert (text is None) == (not resolver.not_found & {lib.soname for lib in XCB_PLUGIN_LIBRARIES})
    assert resolver("libc.so.6")


def test_the_window_entry_point_prints_the_message_and_exits_before_qt(monkeypatch, capsys):
    monkeypatch.setattr(system_libraries, "check", lambda: "thesis-console: missing libxcb-icccm.so.4")
    monkeypatch.setattr(main, "_load_gui", lambda module: (_ for _ in ()).throw(AssertionError("Qt was loaded")))
    assert main.main([]) == 1
    assert "missing libxcb-icccm.so.4" in capsys.readouterr().err


def test_a_headless_run_under_offscreen_is_not_checked():
    code = "from thesis_console import system_libraries as s; print(s.check())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    assert out.strip() == "None"
