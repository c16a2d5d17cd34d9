"""Worker processes for the thesis queue and their supervision. Qt-free."""
