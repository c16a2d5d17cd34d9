"""Qt item models that adapt the core's frozen values; no Redis access here."""
