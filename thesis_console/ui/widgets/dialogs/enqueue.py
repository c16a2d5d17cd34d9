"""Enqueue a thesis: a form with the request's fields, checked as the user types.

The request is validated by :class:`~thesis_console.core.thesis_request.ThesisRequest` itself, so the
form and the core can never disagree; an :class:`InvalidRequest` names its field and the message is
shown next to that field. The job is queued through ``session.actions.enqueue``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import qasync
from PySide6.QtCore import Qt
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
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from thesis_console.core.queue_names import QUEUE_NAME_RULE, queue_name_problem
from thesis_console.core.thesis_request import (
    CHAPTERS_MAX,
    CHAPTERS_MIN,
    DEGREE_LEVELS,
    LANGUAGES,
    TOPIC_MAX,
    WORDS_MAX,
    WORDS_MIN,
    InvalidRequest,
    ThesisRequest,
)
from thesis_console.ui.controller import ConsoleController, resolve

LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "nl": "Dutch", "pt": "Portuguese",
}  # fmt: skip
MAX_DELAY_S = 30 * 24 * 3600


class EnqueueDialog(QDialog):
    """The "Enqueue thesis" form. After ``exec()`` returns Accepted, :attr:`job_id` holds the new job's id."""

    def __init__(self, controller: ConsoleController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
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
        self.chapters = QSpinBox()
        self.chapters.setObjectName("chapters")
        # One step beyond each limit, so the field can show why a value is refused.
        self.chapters.setRange(CHAPTERS_MIN - 1, CHAPTERS_MAX + 1)
        self.chapters.setValue(5)
        self.target_words = QSpinBox()
        self.target_words.setObjectName("target_words")
        self.target_words.setRange(0, WORDS_MAX * 2)
        self.target_words.setSingleStep(500)
        self.target_words.setGroupSeparatorShown(True)
        self.target_words.setValue(8000)
        self.target_words.setSuffix(" words")

        self._add(form, "Topic", self.topic, "topic")
        self._add(form, "Field of study", self.field_of_study, "field_of_study")
        self._add(form, "Degree", self.degree_level, "degree_level")
        self._add(form, "Language", self.language, "language")
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
        self.delay = QDoubleSpinBox()
        self.delay.setObjectName("delay")
        self.delay.setRange(0, MAX_DELAY_S)
        self.delay.setDecimals(1)
        self.delay.setSuffix(" s")
        self.delay.setSpecialValueText("now")
        self.delay.setToolTip("Schedule the job this many seconds from now instead of queueing it at once.")
        self.at_front = QCheckBox("At the front of the queue (next to run)")
        self.at_front.setObjectName("at_front")
        self._add(options_form, "Queue", self.queue, "queue")
        self._add(options_form, "Delay", self.delay, "delay")
        options_form.addRow("", self.at_front)
        layout.addWidget(options)

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
        self._add(demo_form, "Pace", self.pace, "pace_s")
        self._add(demo_form, "Fail first attempts", self.fail_times, "fail_times")
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
        for spin, key in ((self.chapters, "chapters"), (self.target_words, "target_words")):
            spin.valueChanged.connect(lambda _v, k=key: self._edited(k))
        self.queue.currentTextChanged.connect(lambda _t: self._edited("queue"))
        self.validate()

    def _add(self, form: QFormLayout, label: str, widget: QWidget, key: str, hint: str = "") -> None:
        error = QLabel("")
        error.setObjectName(f"error-{key}")
        error.setProperty("role", "field-error")
        error.setWordWrap(True)
        error.hide()
        self.errors[key] = error
        box = QVBoxLayout()
        box.setSpacing(2)
        box.addWidget(widget)
        if hint:
            hint_label = QLabel(hint)
            hint_label.setProperty("role", "hint")
            box.addWidget(hint_label)
        box.addWidget(error)
        form.addRow(label, box)

    def _edited(self, key: str) -> None:
        self._touched.add(key)
        self.validate()

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
        return ThesisRequest(
            topic=self.topic.text(),
            field_of_study=self.field_of_study.text().strip(),
            degree_level=str(self.degree_level.currentData()),
            language=str(self.language.currentData()),
            chapters=self.chapters.value(),
            target_words=self.target_words.value(),
            options=options,
        )

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

    def field_problems(self) -> dict[str, str]:
        """Every field's problem, each found by the core's own validation of that field alone."""
        problems: dict[str, str] = {}
        try:
            self.build_request()
        except InvalidRequest:
            valid = {"topic": "A valid topic", "field_of_study": "Computer Science", "degree_level": "master",
                     "language": "en", "chapters": 5, "target_words": 8000}  # fmt: skip
            for name, value in self.field_values().items():
                try:
                    ThesisRequest(**{**valid, name: value})
                except InvalidRequest as exc:
                    problems[exc.field] = str(exc).split(": ", 1)[-1]
        if queue_name_problem(self.queue_name()):
            problems["queue"] = f"must be {QUEUE_NAME_RULE}"
        return problems

    def validate(self, show_all: bool = False) -> InvalidRequest | None:
        """Check the form; show each problem next to its field (once the user touched it); enable Enqueue.

        Returns:
            The first problem (in form order), or None when the form is valid.
        """
        problems = self.field_problems()
        for key, label in self.errors.items():
            message = problems.get(key)
            if message is not None and (show_all or key in self._touched):
                label.setText(_sentence(key, message))
                label.show()
            else:
                label.hide()
        first = next(iter(problems.items()), None)
        self.submit_button.setEnabled(first is None and not self._submitting and not self.controller.read_only)
        if self.controller.read_only:
            self.submit_button.setToolTip("This connection profile is read-only.")
        return InvalidRequest(first[0], first[1]) if first else None

    # ----------------------------------------------------------------- submit
    @qasync.asyncSlot()
    async def submit(self) -> None:
        """Validate, then enqueue through the core; stay open and say why when it fails."""
        if self._submitting:
            return
        problem = self.validate(show_all=True)
        if problem is not None:
            widget = self.findChild(QWidget, problem.field)
            if widget is not None:
                widget.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        session = self.controller.session
        if session is None:
            self._fail("Not connected to Redis.")
            return
        self._submitting = True
        self.submit_button.setEnabled(False)
        self.form_error.hide()
        try:
            self.job_id = await resolve(
                session.actions.enqueue(
                    self.build_request(),
                    queue=self.queue_name(),
                    at_front=self.at_front.isChecked(),
                    delay_s=float(self.delay.value()),
                )
            )
        except InvalidRequest as exc:
            self._submitting = False
            self._touched.add(exc.field)
            self.validate(show_all=True)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._submitting = False
            self._fail(str(exc))
            self.validate()
            return
        self._submitting = False
        self.accept()

    def _fail(self, text: str) -> None:
        self.form_error.setText(f"Not queued: {text}")
        self.form_error.show()


def _sentence(field: str, message: str) -> str:
    names = {
        "topic": "The topic", "field_of_study": "The field of study", "degree_level": "The degree",
        "language": "The language", "chapters": "Chapters", "target_words": "The length", "queue": "The queue",
    }  # fmt: skip
    return f"{names.get(field, field)} {message}."
