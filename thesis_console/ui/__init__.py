"""The Qt GUI: the only package that imports PySide6, qasync or pyqtgraph."""

import logging

# qasync logs, at DEBUG, every callback it runs in a worker thread with its arguments and its result.
# A keyring read run that way returns a password, which would then sit in the log: its DEBUG lines
# never reach a handler (its warnings and errors still do).
logging.getLogger("qasync").setLevel(logging.INFO)
