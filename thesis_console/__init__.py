"""Thesis Queue Console: a desktop admin and monitoring console for the thesis RQ queue."""

__version__ = "0.1.0"
