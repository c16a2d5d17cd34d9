"""Enqueue a thesis: a form with the request's fields, checked as the user types.

The request is validated by :class:`~thesis_console.core.thesis_request.ThesisRequest` itself, so the
form and the core can never disagree; an :class:`InvalidRequest` names its field and the message is
shown under that field, in a line kept for it (hint or error), so the dialog never changes size as
errors come and go. Numbers are typed, not spun: a value out of range is shown as an error and
disables Enqueue, it is never silently clamped. The job is queued through ``ConsoleController.act``.

For a BullMQ queue the form also shows the job name and default job options the job is added with
(the queue's, from the profile, else the Node thesis system's), editable for this job and, on
request, kept as the queue's defaults in the profile.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.bullmq.job_defaults import BullJobDefaults, job_name_problem, parse_options
from thesis_console.core.profiles import ProfileStore
from thesis_console.core.queue_names import QUEUE_NAME_RULE, queue_name_problem
from thesis_console.core.thesis_request import (
    CHAPTERS_MAX,
    CHAPTERS_MIN,
    DEGREE_LEVELS,
    FIELD_MAX,
    LANGUAGES,
    TOPIC_MAX,
    WORDS_MAX,
    WORDS_MIN,
    InvalidRequest,
    ThesisRequest,
)
from thesis_console.core.types import CoreError
from thesis_console.ui.controller import ConsoleController
from thesis_console.ui.notices import Notice
from thesis_console.ui.tasks import spawn

LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch", "pt": "Portuguese",
}  # fmt: skip
MAX_DELAY_S = 30 * 24 * 3600
NUMBER_DIGITS = 12
"""A number field takes at most this many characters (so its error message has a known widest form)."""


class NumberField(QLineEdit):
    """A number typed as text: any value can be typed, and :meth:`value` is None when it is not a number.

    Unlike a spin box it never clamps nor reverts what the user typed; the form says what is wrong.
    Group separators (``,``, spaces) may be typed and are ignored.
    """

    def __init__(self, decimals: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decimals = decimals
        pattern = "[0-9 ,\u202f]*" + (r"(\.[0-9]*)?" if decimals else "")
        self.setValidator(QRegularExpressionValidator(QRegularExpression(pattern), self))
        self.setMaxLength(NUMBER_DIGITS)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def value(self) -> float | int | None:
        text = "".join(ch for ch in self.text() if ch.isdigit() or ch == ".")
        if not text or text == ".":
            return None
        try:
            return float(text) if self.decimals else int(text)
        except ValueError:
            return None

    def setValue(self, value: float) -> None:  # noqa: N802 (the spin boxes' name, which callers know)
        self.setText(f"{value:,.{self.decimals}f}" if self.decimals else f"{int(value):,}")


class EnqueueDialog(QDialog):
    """The "Enqueue thesis" form. After ``exec()`` returns Accepted, :attr:`job_id` holds the new job's id."""

    def __init__(self, controller: ConsoleController, parent: QWidget | None = None, store: ProfileStore | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.store = store
        self._bull_queue: str | None = None
        self.job_id: str | None = None
        self._touched: set[str] = set()
        self._submitting = False
        self.setWindowTitle("Enqueue thesis")
        self.setMinimumWidth(520)

        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        self.errors: dict[str, QLabel] = {}

        self.topic = QLineEdit()
        self.topic.setObjectName("topic")
        self.topic.setPlaceholderText("What the thesis is about")
        self.topic.setMaxLength(TOPIC_MAX + 50)  # longer than allowed, so the message (not a silent cut) explains
        self.field_of_study = QLineEdit("Computer Science")
        self.field_of_study.setObjectName("field_of_study")
        self.degree_level = QComboBox()
        self.degree_level.setObjectName("degree_level")
        for level in DEGREE_LEVELS:
            self.degree_level.addItem(level.capitalize(), level)
        self.degree_level.setCurrentIndex(DEGREE_LEVELS.index("master"))
        self.language = QComboBox()
        self.language.setObjectName("language")
        for code in LANGUAGES:
            self.language.addItem(f"{LANGUAGE_NAMES.get(code, code)} ({code})", code)
        self.chapters = NumberField()
        self.chapters.setObjectName("chapters")
        self.chapters.setValue(5)
        self.target_words = NumberField()
        self.target_words.setObjectName("target_words")
        self.target_words.setValue(8000)

        self._add(form, "Topic", self.topic, "topic")
        self._add(form, "Field of study", self.field_of_study, "field_of_study")
        self._add(form, "Degree", self.degree_level, "degree_level", checked=False)
        self._add(form, "Language", self.language, "language", checked=False)
        self._add(form, "Chapters", self.chapters, "chapters", f"{CHAPTERS_MIN} to {CHAPTERS_MAX}")
        self._add(form, "Length", self.target_words, "target_words", f"{WORDS_MIN:,} to {WORDS_MAX:,} words")
        layout.addLayout(form)

        options = QGroupBox("Queueing")
        options_form = QFormLayout(options)
        self.queue = QComboBox()
        self.queue.setObjectName("queue")
        self.queue.setEditable(True)
        names = sorted({q.name for q in controller.snapshot.queues} if controller.snapshot else set())
        current = controller.current_queue
        for name in sorted(set(names) | {current}):
            self.queue.addItem(name)
        self.queue.setCurrentText(current)
        self.delay = NumberField(decimals=1)
        self.delay.setObjectName("delay")
        self.delay.setPlaceholderText("0 (now)")
        self.delay.setToolTip("Schedule the job this many seconds from now instead of queueing it at once.")
        self.at_front = QCheckBox("At the front of the queue (next to run)")
        self.at_front.setObjectName("at_front")
        self._add(options_form, "Queue", self.queue, "queue")
        self._add(options_form, "Delay", self.delay, "delay", f"seconds, at most {MAX_DELAY_S:,} (30 days); empty: now")
        options_form.addRow("", self.at_front)
        layout.addWidget(options)

        bull = QGroupBox("BullMQ job")
        bull.setObjectName("bullmqJob")
        bull.setToolTip("The queue is a BullMQ queue: the job is added with this name and these job options.")
        bull_form = QFormLayout(bull)
        self.bull_group = bull
        self.job_name = QLineEdit()
        self.job_name.setObjectName("job_name")
        self.job_options = QPlainTextEdit()
        self.job_options.setObjectName("job_options")
        self.job_options.setTabChangesFocus(True)
        self.job_options.setFixedHeight(self.job_options.fontMetrics().lineSpacing() * 7 + 12)
        self.keep_defaults = QCheckBox("Keep as this queue's defaults (saved with the profile)")
        self.keep_defaults.setObjectName("keep_defaults")
        self._add(bull_form, "Job name", self.job_name, "job_name", "what the workers are told to run")
        self._add(bull_form, "Job options", self.job_options, "job_options",
                  "JSON: attempts, backoff, removeOnComplete, removeOnFail")  # fmt: skip
        bull_form.addRow("", self.keep_defaults)
        layout.addWidget(bull)

        demo = QGroupBox("Demonstration options")
        demo.setCheckable(True)
        demo.setChecked(False)
        demo.setToolTip("Back-end options for demonstrations and tests; off for real work.")
        demo_form = QFormLayout(demo)
        self.demo_group = demo
        self.pace = QDoubleSpinBox()
        self.pace.setObjectName("pace_s")
        self.pace.setRange(0, 60)
        self.pace.setDecimals(1)
        self.pace.setSuffix(" s per stage")
        self.fail_times = QSpinBox()
        self.fail_times.setObjectName("fail_times")
        self.fail_times.setRange(0, 10)
        self.fail_times.setToolTip("Fail this many first attempts on purpose (to see retries).")
        self._add(demo_form, "Pace", self.pace, "pace_s", checked=False)
        self._add(demo_form, "Fail first attempts", self.fail_times, "fail_times", checked=False)
        layout.addWidget(demo)

        self.form_error = QLabel("")
        self.form_error.setProperty("role", "field-error")
        self.form_error.setWordWrap(True)
        self.form_error.hide()
        layout.addWidget(self.form_error)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.submit_button = self.buttons.addButton("Enqueue", QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_button.setProperty("role", "primary")
        self.submit_button.setDefault(True)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        for widget, key in (
            (self.topic, "topic"),
            (self.field_of_study, "field_of_study"),
        ):
            widget.textEdited.connect(lambda _t, k=key: self._edited(k))
        for number, key in ((self.chapters, "chapters"), (self.target_words, "target_words"), (self.delay, "delay")):
            number.textChanged.connect(lambda _t, k=key: self._edited(k))
        self.queue.currentTextChanged.connect(lambda _t: self._edited("queue"))
        self.job_name.textEdited.connect(lambda _t: self._edited("job_name"))
        self.job_options.textChanged.connect(lambda: self._edited("job_options"))
        self._show_bull_job()
        self.validate()

    def _add(self, form: QFormLayout, label: str, widget: QWidget, key: str, hint: str = "", checked: bool = True) -> None:
        """A field with one line under it for its hint, replaced by its error while it has one.

        ``checked=False``: a field that cannot be wrong (a list to pick from), with no such line.
        """
        if not checked:
            form.addRow(label, widget)
            return
        note = QLabel(hint)
        note.setObjectName(f"note-{key}")
        note.setProperty("role", "hint")
        note.setProperty("hint", hint)
        note.setFixedHeight(note.fontMetrics().lineSpacing() + 2)
        # Wide enough for its longest message, so no error is ever cut.
        widest = max((hint, _sentence(key, _WORST_MESSAGE.get(key, ""))), key=note.fontMetrics().horizontalAdvance)
        note.setMinimumWidth(note.fontMetrics().horizontalAdvance(widest) + 4)
        self.errors[key] = note
        box = QVBoxLayout()
        box.setSpacing(2)
        box.addWidget(widget)
        box.addWidget(note)
        form.addRow(label, box)

    def error_text(self, key: str) -> str:
        """The error shown under field ``key`` ("" when it shows its hint)."""
        note = self.errors[key]
        return note.text() if note.property("role") == "field-error" else ""

    def _show_note(self, key: str, error: str | None) -> None:
        note = self.errors[key]
        role = "field-error" if error else "hint"
        text = error or str(note.property("hint") or "")
        if note.text() != text:
            note.setText(text)
            note.setToolTip(text if error else "")
        if note.property("role") != role:
            note.setProperty("role", role)
            note.style().unpolish(note)
            note.style().polish(note)

    def _edited(self, key: str) -> None:
        self._touched.add(key)
        if key == "queue":
            self._show_bull_job()
        self.validate()

    def _show_bull_job(self) -> None:
        """Show the BullMQ job's name and options for a BullMQ queue (filled with its defaults), hide them otherwise."""
        queue = self.queue_name()
        defaults = self.controller.job_defaults(queue) if not queue_name_problem(queue) else None
        self.bull_group.setVisible(defaults is not None)
        if defaults is None or queue == self._bull_queue:
            return
        self._bull_queue = queue
        self.job_name.setText(defaults.job_name)
        self.job_options.setPlainText(json.dumps(defaults.options, indent=2))
        self._touched -= {"job_name", "job_options"}

    def bull_defaults(self) -> BullJobDefaults | None:
        """The BullMQ job name and options of the form; None for an RQ queue.

        Raises:
            CoreError: the name or the options are wrong (the message names the option).
        """
        if self.bull_group.isHidden():
            return None
        problem = job_name_problem(self.job_name.text())
        if problem:
            raise CoreError(problem)
        return BullJobDefaults(self.job_name.text(), parse_options(self.job_options.toPlainText()))

    # ----------------------------------------------------------------- values
    def build_request(self) -> ThesisRequest:
        """The request as the form describes it.

        Raises:
            InvalidRequest: a field is wrong (``field`` names it).
        """
        options: dict[str, Any] = {}
        if self.demo_group.isChecked():
            if self.pace.value() > 0:
                options["pace_s"] = round(self.pace.value(), 1)
            if self.fail_times.value() > 0:
                options["fail_times"] = self.fail_times.value()
        values = self.field_values()
        for key in ("chapters", "target_words"):
            if values[key] is None:
                raise InvalidRequest(key, "must be a whole number")
        return ThesisRequest(**values, options=options)

    def queue_name(self) -> str:
        return self.queue.currentText().strip()

    def field_values(self) -> dict[str, Any]:
        return {
            "topic": self.topic.text(),
            "field_of_study": self.field_of_study.text().strip(),
            "degree_level": str(self.degree_level.currentData()),
            "language": str(self.language.currentData()),
            "chapters": self.chapters.value(),
            "target_words": self.target_words.value(),
        }

    def delay_s(self) -> float | None:
        """The delay in seconds (0 when empty), None when it is not a number."""
        if not self.delay.text().strip():
            return 0.0
        value = self.delay.value()
        return None if value is None else float(value)

    def field_problems(self) -> dict[str, str]:
        """Every field's problem, each found by the core's own validation of that field alone."""
        problems: dict[str, str] = {}
        try:
            self.build_request()
        except InvalidRequest:
            valid = {"topic": "A valid topic", "field_of_study": "Computer Science", "degree_level": "master",
                     "language": "en", "chapters": 5, "target_words": 8000}  # fmt: skip
            for name, value in self.field_values().items():
                if value is None:
                    problems[name] = "must be a whole number"
                    continue
                try:
                    ThesisRequest(**{**valid, name: value})
                except InvalidRequest as exc:
                    problems[exc.field] = str(exc).split(": ", 1)[-1]
        if queue_name_problem(self.queue_name()):
            problems["queue"] = f"must be {QUEUE_NAME_RULE}"
        if not self.bull_group.isHidden():
            problem = job_name_problem(self.job_name.text())
            if problem:
                problems["job_name"] = problem.removeprefix("job_name ")
            try:
                parse_options(self.job_options.toPlainText())
            except CoreError as exc:
                problems["job_options"] = str(exc)
        delay = self.delay_s()
        if delay is None or not 0 <= delay <= MAX_DELAY_S:
            problems["delay"] = f"must be 0 to {MAX_DELAY_S:,} seconds" + ("" if delay is None else f", got {delay:,.1f}")
        return problems

    def validate(self, show_all: bool = False) -> InvalidRequest | None:
        """Check the form; show each problem next to its field (once the user touched it); enable Enqueue.

        Returns:
            The first problem (in form order), or None when the form is valid.
        """
        problems = self.field_problems()
        for key in self.errors:
            message = problems.get(key)
            shown = message is not None and (show_all or key in self._touched)
            self._show_note(key, _sentence(key, message) if shown and message else None)
        first = next(iter(problems.items()), None)
        self.submit_button.setEnabled(first is None and not self._submitting and not self.controller.read_only)
        if self.controller.read_only:
            self.submit_button.setToolTip("This connection profile is read-only.")
        return InvalidRequest(first[0], first[1]) if first else None

    # ----------------------------------------------------------------- submit
    def submit(self) -> None:
        """Validate, then enqueue through the core; stay open and say why when it fails."""
        if self._submitting:
            return
        problem = self.validate(show_all=True)
        if problem is not None:
            widget = self.findChild(QWidget, problem.field)
            if widget is not None:
                widget.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        if not self.controller.attached:
            self._fail("Not connected to Redis.")
            return
        request = self.build_request()
        queue, at_front, delay = self.queue_name(), self.at_front.isChecked(), self.delay_s() or 0.0
        defaults = self.bull_defaults()
        self._submitting = True
        self.submit_button.setEnabled(False)
        self.form_error.hide()
        spawn(self._enqueue(request, queue, at_front, delay, defaults), "enqueue a thesis")

    async def _enqueue(
        self, request: ThesisRequest, queue: str, at_front: bool, delay: float, defaults: BullJobDefaults | None
    ) -> None:
        if defaults is not None and self.keep_defaults.isChecked():
            try:
                await self.controller.remember_job_defaults(queue, defaults, self.store)
            except CoreError as exc:
                self._submitting = False
                self._fail(f"the queue's defaults were not saved: {exc}")
                self.validate()
                return
        outcome = await self.controller.act(
            "enqueue",
            lambda actions: actions.enqueue(request, queue=queue, at_front=at_front, delay_s=delay, defaults=defaults),
            notice=lambda job_id: Notice(f"queued {job_id} in {queue}"),
        )
        self._submitting = False
        if outcome.error is not None:
            self._fail(outcome.error)
            self.validate()
            return
        self.job_id = outcome.value
        self.accept()

    def _fail(self, text: str) -> None:
        self.form_error.setText(f"Not queued: {text}")
        self.form_error.show()


_WORST_MESSAGE = {
    "topic": f"must be 3 to {TOPIC_MAX} characters, got {TOPIC_MAX + 50}",
    "chapters": f"must be {CHAPTERS_MIN} to {CHAPTERS_MAX}, got {'9' * NUMBER_DIGITS}",
    "target_words": f"must be {WORDS_MIN} to {WORDS_MAX}, got {'9' * NUMBER_DIGITS}",
    "delay": f"must be 0 to {MAX_DELAY_S:,} seconds, got {'9' * NUMBER_DIGITS}",
    "queue": f"must be {QUEUE_NAME_RULE}",
    "field_of_study": f"must be at most {FIELD_MAX} characters",
    "job_options": 'options.removeOnComplete must be true, false, a count of jobs, or {"age": seconds, "count": jobs}',
}
"""The longest message each field can show (the width its message line keeps)."""


def _sentence(field: str, message: str) -> str:
    names = {
        "topic": "The topic", "field_of_study": "The field of study", "degree_level": "The degree",
        "language": "The language", "chapters": "Chapters", "target_words": "The length", "queue": "The queue",
        "delay": "The delay", "job_name": "The job name", "job_options": "Job options:",
    }  # fmt: skip
    return f"{names.get(field, field)} {message}."
