"""What the console remembers between runs, kept with QSettings (never a password: those go to the keyring).

The application and organization names are set in :func:`configure_application`, so QSettings finds
the same file every time (``~/.config/thesis-console/Thesis Queue Console.conf`` on Linux).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QCoreApplication, QSettings
from PySide6.QtWidgets import QMainWindow

ORGANIZATION = "thesis-console"
APPLICATION = "Thesis Queue Console"

MIN_REFRESH_S = 0.5
MAX_REFRESH_S = 10.0
DEFAULT_REFRESH_S = 2.0
CHART_RANGES_S = (10 * 60, 3600, 24 * 3600, 7 * 24 * 3600)
"""The Overview's ranges: live (the last 10 minutes), then 1 h, 24 h and 7 days of stored metrics."""
DEFAULT_CHART_RANGE_S = 10 * 60
NOTIFY_MIN_GAP_S = 5.0
DEFAULT_DETAIL_WIDTH = 380
"""The job detail panel's width the first time it opens; then the width the user left it at."""
MIN_DETAIL_WIDTH = 240


def configure_application(app: QCoreApplication) -> None:
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion("0.1.0")


class ConsoleSettings:
    """Typed access to the stored settings (group ``console`` and ``window``)."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)

    def _get(self, key: str, default: object, kind: type) -> object:
        self.store.beginGroup("console")
        try:
            value = self.store.value(key, default, type=kind)
        except (TypeError, ValueError):
            value = default
        finally:
            self.store.endGroup()
        return default if value is None else value

    def _set(self, key: str, value: object) -> None:
        self.store.beginGroup("console")
        self.store.setValue(key, value)
        self.store.endGroup()

    # ------------------------------------------------------------------ values
    @property
    def refresh_interval_s(self) -> float:
        value = self._get("refresh_interval_s", DEFAULT_REFRESH_S, float)
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = DEFAULT_REFRESH_S
        return min(MAX_REFRESH_S, max(MIN_REFRESH_S, seconds))

    @refresh_interval_s.setter
    def refresh_interval_s(self, seconds: float) -> None:
        self._set("refresh_interval_s", min(MAX_REFRESH_S, max(MIN_REFRESH_S, float(seconds))))

    @property
    def last_profile(self) -> str:
        return str(self._get("last_profile", "", str))

    @last_profile.setter
    def last_profile(self, name: str) -> None:
        self._set("last_profile", name)

    @property
    def last_queue(self) -> str:
        return str(self._get("last_queue", "", str))

    @last_queue.setter
    def last_queue(self, name: str) -> None:
        self._set("last_queue", name)

    @property
    def chart_range_s(self) -> int:
        try:
            value = int(self._get("chart_range_s", DEFAULT_CHART_RANGE_S, int))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return DEFAULT_CHART_RANGE_S
        return value if value in CHART_RANGES_S else DEFAULT_CHART_RANGE_S

    @chart_range_s.setter
    def chart_range_s(self, seconds: int) -> None:
        self._set("chart_range_s", int(seconds))

    @property
    def notifications(self) -> bool:
        return bool(self._get("notifications", False, bool))

    @notifications.setter
    def notifications(self, on: bool) -> None:
        self._set("notifications", bool(on))

    @property
    def detail_width(self) -> int:
        """The job detail panel's width when it is open (it collapses while no job is selected)."""
        try:
            value = int(self._get("detail_width", DEFAULT_DETAIL_WIDTH, int))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return DEFAULT_DETAIL_WIDTH
        return max(MIN_DETAIL_WIDTH, value)

    @detail_width.setter
    def detail_width(self, width: int) -> None:
        self._set("detail_width", max(MIN_DETAIL_WIDTH, int(width)))

    @property
    def local_log_shown(self) -> bool:
        """The Local workers log is open (the dock's height is in the window state)."""
        return bool(self._get("local_log_shown", False, bool))

    @local_log_shown.setter
    def local_log_shown(self, shown: bool) -> None:
        self._set("local_log_shown", bool(shown))

    @property
    def theme(self) -> str:
        return str(self._get("theme", "system", str))

    @theme.setter
    def theme(self, choice: str) -> None:
        self._set("theme", choice)

    # ------------------------------------------------------------------ window
    def hidden_columns(self, state: str) -> list[str] | None:
        """The job table columns hidden in ``state``'s tab, or None when never chosen (the defaults apply)."""
        value = self._get(f"hiddenColumns/{state}", "", str)
        if not isinstance(value, str) or not value:
            return None
        return [] if value == "-" else value.split(",")

    def set_hidden_columns(self, state: str, keys: list[str]) -> None:
        self._set(f"hiddenColumns/{state}", ",".join(keys) if keys else "-")

    def save_window(self, window: QMainWindow, splitters: dict[str, QByteArray] | None = None) -> None:
        self.store.beginGroup("window")
        self.store.setValue("geometry", window.saveGeometry())
        self.store.setValue("state", window.saveState())
        for name, state in (splitters or {}).items():
            self.store.setValue(f"splitter/{name}", state)
        self.store.endGroup()
        self.store.sync()

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore geometry and dock/toolbar layout; False when nothing was saved."""
        self.store.beginGroup("window")
        try:
            geometry = self.store.value("geometry")
            state = self.store.value("state")
        finally:
            self.store.endGroup()
        restored = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            restored = window.restoreGeometry(geometry) or restored
        if isinstance(state, QByteArray) and not state.isEmpty():
            restored = window.restoreState(state) or restored
        return restored

    def splitter_state(self, name: str) -> QByteArray | None:
        self.store.beginGroup("window")
        try:
            value = self.store.value(f"splitter/{name}")
        finally:
            self.store.endGroup()
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def sync(self) -> None:
        self.store.sync()
