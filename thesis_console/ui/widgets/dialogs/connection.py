"""Connection profiles: add, edit, remove, test, and pick the one to connect to.

Profiles are kept by the core's :class:`ProfileStore` (a JSON file with no password in it); passwords
go to the OS keyring through :mod:`thesis_console.core.credentials`. When no keyring is available the
dialog says the password will be asked each time, and the window asks for it on connect.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core import credentials
from thesis_console.core.profiles import EMBEDDED_PROFILE_NAME, ConnectionProfile, ProfileStore
from thesis_console.core.types import ConnectionPhase, CoreError
from thesis_console.ui.controller import probe_profile
from thesis_console.ui.tasks import spawn

TRUST_PICKLE_WARNING = (
    "Unpickling data can run any code that whoever wrote it chose. Trust pickle only for a Redis whose "
    "every writer you trust."
)


class _Hidden:
    """Carries a value across a thread with a repr that does not show it (an executor may log results)."""

    __slots__ = ("value",)

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<hidden>"


async def stored_password(profile: ConnectionProfile) -> str | None:
    """The keyring's password for ``profile``, read in a worker thread without it showing in a log."""
    hidden = await asyncio.to_thread(lambda: _Hidden(credentials.get_password(profile)))
    return hidden.value


class FileField(QWidget):
    """A path line edit with a Browse button."""

    def __init__(self, name: str, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setObjectName(name)
        self.edit.setPlaceholderText("none")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(caption))
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self, caption: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, caption, self.edit.text() or "", "PEM files (*.pem *.crt *.key);;All files (*)")
        if path:
            self.edit.setText(path)

    def value(self) -> str | None:
        return self.edit.text().strip() or None

    def set_value(self, value: str | None) -> None:
        self.edit.setText(value or "")


class ConnectionDialog(QDialog):
    """Edit the saved profiles; after Accepted, :attr:`chosen` is the profile to connect to and
    :attr:`password` the password typed here (None to use the keyring or ask)."""

    def __init__(self, store: ProfileStore, current: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.chosen: ConnectionProfile | None = None
        self.password: str | None = None
        self.keyring_ok = credentials.keyring_available()
        self._editing: str | None = None
        self.setWindowTitle("Connections")
        self.setMinimumSize(760, 520)

        outer = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget()
        self.list.setObjectName("profileList")
        self.list.currentItemChanged.connect(self._on_pick)
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_profile)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_profile)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        left.addLayout(row)
        outer.addLayout(left, 1)

        right = QVBoxLayout()
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setObjectName("profileName")
        self.url = QLineEdit()
        self.url.setObjectName("profileUrl")
        self.url.setPlaceholderText("redis://host:6379/0, rediss://…, unix:///path.sock, sentinel://host:26379/master")
        self.username = QLineEdit()
        self.username.setObjectName("profileUsername")
        self.username.setPlaceholderText("default user")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("profilePassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_note = QLabel("")
        self.password_note.setProperty("role", "hint")
        self.password_note.setWordWrap(True)
        self.tls_ca = FileField("tlsCa", "CA certificate")
        self.tls_cert = FileField("tlsCert", "Client certificate")
        self.tls_key = FileField("tlsKey", "Client key")
        self.queues = QLineEdit()
        self.queues.setObjectName("profileQueues")
        self.queues.setPlaceholderText("all queues")
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0.5, 300)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(5.0)
        self.read_only = QCheckBox("Read-only: never change anything in this Redis")
        self.read_only.setObjectName("profileReadOnly")
        self.trust_pickle = QCheckBox("Trust pickle: show pickled job data by unpickling it")
        self.trust_pickle.setObjectName("profileTrustPickle")
        self.pickle_warning = QLabel(TRUST_PICKLE_WARNING)
        self.pickle_warning.setProperty("role", "warning")
        self.pickle_warning.setWordWrap(True)
        self.pickle_warning.setVisible(False)
        self.trust_pickle.toggled.connect(self.pickle_warning.setVisible)
        form.addRow("Name", self.name)
        form.addRow("URL", self.url)
        form.addRow("User name", self.username)
        form.addRow("Password", self.password_edit)
        form.addRow("", self.password_note)
        form.addRow("TLS CA file", self.tls_ca)
        form.addRow("TLS certificate", self.tls_cert)
        form.addRow("TLS key", self.tls_key)
        form.addRow("Queues", self.queues)
        form.addRow("Timeout", self.timeout)
        form.addRow("", self.read_only)
        form.addRow("", self.trust_pickle)
        form.addRow("", self.pickle_warning)
        right.addLayout(form)
        self.result_label = QLabel("")
        self.result_label.setObjectName("testResult")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.result_label)
        right.addStretch(1)
        buttons = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save_current)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setProperty("role", "primary")
        self.connect_button.setDefault(True)
        self.connect_button.clicked.connect(self.connect_current)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.connect_button)
        buttons.addWidget(close)
        right.addLayout(buttons)
        outer.addLayout(right, 2)

        self.reload(select=current)

    # ----------------------------------------------------------------- list
    def reload(self, select: str | None = None) -> None:
        try:
            profiles = self.store.load()
        except CoreError as exc:
            self._say(str(exc), error=True)
            profiles = []
        self.list.blockSignals(True)
        self.list.clear()
        for profile in profiles:
            item = QListWidgetItem(profile.name)
            item.setData(Qt.ItemDataRole.UserRole, profile)
            item.setToolTip(profile.display_url)
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = [p.name for p in profiles]
        row = names.index(select) if select in names else 0
        if profiles:
            self.list.setCurrentRow(row)
            self._show(profiles[row])

    def _on_pick(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is not None:
            self._show(current.data(Qt.ItemDataRole.UserRole))

    def _show(self, profile: ConnectionProfile | None) -> None:
        self._editing = profile.name if profile else None
        embedded = bool(profile and profile.embedded)
        self.name.setText(profile.name if profile else "")
        self.name.setReadOnly(embedded)
        self.url.setText("" if embedded or profile is None else profile.url)
        self.url.setEnabled(not embedded)
        self.url.setPlaceholderText(
            "the managed local Redis (started when needed)" if embedded else "redis://host:6379/0, rediss://…, unix:///path.sock, sentinel://host:26379/master"
        )
        self.username.setText((profile.username or "") if profile else "")
        for widget in (self.username, self.password_edit, self.tls_ca, self.tls_cert, self.tls_key):
            widget.setEnabled(not embedded)
        self.password_edit.clear()
        self.tls_ca.set_value(profile.tls_ca_file if profile else None)
        self.tls_cert.set_value(profile.tls_cert_file if profile else None)
        self.tls_key.set_value(profile.tls_key_file if profile else None)
        self.queues.setText(", ".join(profile.queues) if profile else "")
        self.timeout.setValue(profile.timeout_s if profile else 5.0)
        self.read_only.setChecked(bool(profile and profile.read_only))
        self.trust_pickle.setChecked(bool(profile and profile.trust_pickle))
        self.remove_button.setEnabled(profile is not None and profile.name != EMBEDDED_PROFILE_NAME)
        if not self.keyring_ok:
            self.password_note.setText(f"{credentials.NO_KEYRING_MESSAGE.capitalize()}.")
        elif profile is not None and not embedded and credentials.has_password(profile):
            self.password_note.setText("A password is stored in the keyring; type a new one to replace it.")
        else:
            self.password_note.setText("The password is kept in the system keyring, never in a file.")
        self.result_label.clear()

    def add_profile(self) -> None:
        name, ok = QInputDialog.getText(self, "New connection", "Name of the new connection:")
        name = name.strip()
        if not ok or not name:
            return
        self._show(None)
        self.name.setText(name)
        self.url.setText("redis://localhost:6379/0")
        self._editing = None
        self.list.clearSelection()

    def remove_profile(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        profile: ConnectionProfile = item.data(Qt.ItemDataRole.UserRole)
        try:
            self.store.remove(profile.name)
            credentials.delete_password(profile)
        except CoreError as exc:
            self._say(str(exc), error=True)
            return
        self.reload()
        self._say(f"Removed {profile.name}.")

    # ----------------------------------------------------------------- the form
    def form_profile(self) -> ConnectionProfile:
        """The profile the form describes.

        Raises:
            CoreError: a field is wrong (the message names it).
        """
        queues = tuple(q.strip() for q in self.queues.text().split(",") if q.strip())
        common = dict(
            read_only=self.read_only.isChecked(),
            trust_pickle=self.trust_pickle.isChecked(),
            queues=queues,
            timeout_s=float(self.timeout.value()),
        )
        if self._editing == EMBEDDED_PROFILE_NAME or (self.name.text().strip() == EMBEDDED_PROFILE_NAME):
            return ConnectionProfile(name=EMBEDDED_PROFILE_NAME, url="", embedded=True, **common)  # type: ignore[arg-type]
        return ConnectionProfile(
            name=self.name.text().strip(),
            url=self.url.text().strip(),
            username=self.username.text().strip() or None,
            tls_ca_file=self.tls_ca.value(),
            tls_cert_file=self.tls_cert.value(),
            tls_key_file=self.tls_key.value(),
            **common,  # type: ignore[arg-type]
        )

    def save_current(self) -> ConnectionProfile | None:
        """Save the form (and the password, in the keyring); None when something is wrong (and said)."""
        try:
            profile = self.form_profile()
            if self._editing and self._editing != profile.name:
                old = [p for p in self.store.load() if p.name != self._editing]
                self.store.save(old)
            self.store.put(profile)
        except CoreError as exc:
            self._say(str(exc), error=True)
            return None
        password = self.password_edit.text()
        note = f"Saved {profile.name}."
        if password:
            try:
                credentials.set_password(profile, password)
                note += " Password stored in the keyring."
            except CoreError as exc:
                note += f" {exc}."
        self._editing = profile.name
        self.reload(select=profile.name)
        if password:
            self.password_edit.setText(password)  # keep it for Test/Connect in this dialog
        self._say(note)
        return profile

    def test_connection(self) -> None:
        spawn(self._test_connection(), "test a connection profile")

    async def _test_connection(self) -> None:
        try:
            profile = self.form_profile()
        except CoreError as exc:
            self._say(str(exc), error=True)
            return
        self.test_button.setEnabled(False)
        self._say(f"Testing {profile.display_url}…")
        try:
            # The keyring is read off the GUI thread: a backend may start processes or wait on D-Bus.
            password = self.password_edit.text() or await stored_password(profile)
            state, problem = await probe_profile(profile, password)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if shiboken6.isValid(self):
                self._say(f"Test failed: {exc}", error=True)
            return
        finally:
            # The dialog may have been closed and deleted while the test ran.
            if shiboken6.isValid(self):
                self.test_button.setEnabled(True)
        if not shiboken6.isValid(self):
            return
        if state.phase == ConnectionPhase.CONNECTED:
            rtt = f", round trip {state.round_trip_ms:.1f} ms" if state.round_trip_ms is not None else ""
            if problem:
                self._say(f"Connected to {state.server} (Redis {state.version or '?'}), but the queues "
                          f"cannot be read: {problem}", error=True)  # fmt: skip
            else:
                self._say(f"Connected to {state.server}: Redis {state.version or '?'}{rtt}.")
        else:
            self._say(f"Cannot connect: {state.reason}", error=True)

    def connect_current(self) -> None:
        profile = self.save_current()
        if profile is None:
            return
        self.chosen = replace(profile)
        self.password = self.password_edit.text() or None
        self.accept()

    def _say(self, text: str, error: bool = False) -> None:
        self.result_label.setText(text)
        self.result_label.setProperty("role", "field-error" if error else "")
        self.result_label.style().unpolish(self.result_label)
        self.result_label.style().polish(self.result_label)
