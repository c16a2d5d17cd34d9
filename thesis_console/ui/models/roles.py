"""Custom item data roles shared by the models, their delegates and the views."""

from __future__ import annotations

from PySide6.QtCore import Qt

USER = int(Qt.ItemDataRole.UserRole)

ROW_ROLE = USER + 1
"""The core value behind a row (``JobRow``, ``QueueCounts``)."""
ID_ROLE = USER + 2
"""The row's identity: a job id or a queue name."""
PROGRESS_ROLE = USER + 3
"""Progress percent (int) of an active job for the progress delegate; None when no bar is drawn."""
STATE_ROLE = USER + 4
"""The job's :class:`~thesis_console.core.types.JobState` value (a str)."""
PROBLEM_ROLE = USER + 5
"""What is wrong with a broken or foreign job hash (str), or None."""
COUNT_ROLE = USER + 6
"""A number shown as a badge (queue totals in the side list)."""
ALERT_ROLE = USER + 7
"""Unacknowledged alerts firing on a queue (int), for the badge in the side list."""
