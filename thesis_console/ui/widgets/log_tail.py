"""Follow log files the way ``tail -F`` does: bounded, non-blocking reads on a timer, rotation-aware.

:class:`FileTail` is plain Python (reads only what was appended since the last call, at most a fixed
number of bytes per call, and reopens the file when a rotating handler renames it or it is
truncated). :class:`LogTailView` shows one of several such files in a ``QPlainTextEdit`` whose
``maximumBlockCount`` bounds its memory, with a combo box to pick the file.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

log = logging.getLogger("thesis_console.ui.log_tail")

READ_CHUNK_BYTES = 64 * 1024
"""At most this much is read per file and tick, so a burst of output never stalls the GUI thread."""
INITIAL_TAIL_BYTES = 16 * 1024
"""When a file is first shown, only its last bytes are read (the view is a tail, not a viewer)."""
MAX_PARTIAL_LINE = 8 * 1024


class FileTail:
    """New text appended to one file, read in bounded chunks.

    Args:
        path: the file to follow; it may not exist yet.
        tail_bytes: on the first open, start this many bytes before the end (None: at the start).
        chunk_bytes: the most bytes one :meth:`read` call reads.
    """

    def __init__(
        self, path: Path, tail_bytes: int | None = INITIAL_TAIL_BYTES, chunk_bytes: int = READ_CHUNK_BYTES
    ) -> None:
        self.path = Path(path)
        self._chunk = chunk_bytes
        self._initial_tail = tail_bytes
        self._file: io.FileIO | None = None
        self._inode: int | None = None
        self._pos = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._first_open = True
        self._skip_to_next_line = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> bool:
        try:
            # O_NONBLOCK: a FIFO or device must never block the GUI; regular files ignore it. A file
            # object (not a bare descriptor) so that a tail dropped without close() still closes it.
            file = io.FileIO(self.path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK))
        except OSError:
            return False
        st = os.fstat(file.fileno())
        self._file, self._inode = file, st.st_ino
        from_end = self._first_open and self._initial_tail is not None
        self._pos = max(0, st.st_size - (self._initial_tail or 0)) if from_end else 0
        # Starting in the middle of the file: the first line read is a fragment, drop it.
        self._skip_to_next_line = self._first_open and self._pos > 0
        self._first_open = False
        self._decoder.reset()
        return True

    def read(self) -> list[str]:
        """Complete lines appended since the last call (at most ``chunk_bytes`` worth)."""
        if self._file is None and not self._open():
            return []
        data = self._read_chunk()
        if not data and self._rotated():
            # The handler renamed the file and started a new one: what was left in the old one was
            # read above; follow the new file from its start.
            self.close()
            if self._open():
                data = self._read_chunk()
        if not data:
            return []
        text = self._partial + self._decoder.decode(data)
        lines = text.split("\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_PARTIAL_LINE:  # a runaway line without newline: show it anyway
            lines.append(self._partial)
            self._partial = ""
        if self._skip_to_next_line and lines:
            lines.pop(0)
            self._skip_to_next_line = False
        return [line.rstrip("\r") for line in lines]

    def _read_chunk(self) -> bytes:
        if self._file is None:
            return b""
        try:
            fd = self._file.fileno()
            size = os.fstat(fd).st_size
            if size < self._pos:  # truncated in place (copytruncate): start over
                self._pos = 0
                self._partial = ""
            data = os.pread(fd, self._chunk, self._pos)
        except BlockingIOError:
            return b""
        except OSError as exc:
            log.debug("reading %s failed: %s", self.path, exc)
            return b""
        self._pos += len(data)
        return data

    def _rotated(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._inode
        except OSError:
            return False  # renamed and not yet recreated: keep the old one until a new file appears


class LogTailView(QWidget):
    """Tails one of several log files, picked in a combo box.

    Signals:
        linesAppended(int): how many lines the last tick added (for tests and status).
    """

    linesAppended = Signal(int)

    def __init__(
        self, parent: QWidget | None = None, max_lines: int = 5000, interval_ms: int = 250
    ) -> None:
        super().__init__(parent)
        self._sources: dict[str, Path] = {}
        self._tail: FileTail | None = None
        self._picker = QComboBox(self)
        self._picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._picker.setPlaceholderText("no log yet")
        self._picker.currentIndexChanged.connect(self._on_pick)
        self._path_label = QLabel(self)
        self._path_label.setTextInteractionFlags(self._path_label.textInteractionFlags())
        self._path_label.setStyleSheet("color: palette(placeholder-text);")
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("Worker output appears here once a local supervisor runs.")
        top = QHBoxLayout()
        top.addWidget(QLabel("Log:", self))
        top.addWidget(self._picker)
        top.addWidget(self._path_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.poll)

    def set_sources(self, sources: dict[str, Path]) -> None:
        """Offer these files (label -> path), keeping the current pick when it is still offered."""
        if sources == self._sources:
            return
        current = self._picker.currentText()
        self._sources = dict(sources)
        self._picker.blockSignals(True)
        self._picker.clear()
        self._picker.addItems(list(sources))
        index = self._picker.findText(current)
        self._picker.setCurrentIndex(index if index >= 0 else (0 if sources else -1))
        self._picker.blockSignals(False)
        if self._picker.currentText() != current or (self._tail is None and sources):
            self._on_pick()
        if not sources:
            self._timer.stop()

    def sources(self) -> dict[str, Path]:
        return dict(self._sources)

    def current_source(self) -> str:
        return self._picker.currentText()

    def select_source(self, label: str) -> None:
        index = self._picker.findText(label)
        if index >= 0:
            self._picker.setCurrentIndex(index)

    def poll(self) -> None:
        """Append what the current file gained since the last tick."""
        if self._tail is None:
            return
        lines = self._tail.read()
        if lines:
            at_bottom = self._at_bottom()
            self.text.appendPlainText("\n".join(lines))
            if at_bottom:  # follow the output unless the user scrolled up to read
                bar = self.text.verticalScrollBar()
                bar.setValue(bar.maximum())
        self.linesAppended.emit(len(lines))

    def _at_bottom(self) -> bool:
        bar = self.text.verticalScrollBar()
        return bar.value() >= bar.maximum() - 2

    def _on_pick(self) -> None:
        if self._tail is not None:
            self._tail.close()
            self._tail = None
        self.text.clear()
        path = self._sources.get(self._picker.currentText())
        self._path_label.setText(str(path) if path else "")
        if path is None:
            self._timer.stop()
            return
        self._tail = FileTail(path)
        self.poll()
        self._timer.start()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._timer.stop()
        if self._tail is not None:
            self._tail.close()
        super().closeEvent(event)
