"""Dialogs of the main window: enqueue, connection profiles, confirm empty, retry-all progress, settings."""
