"""Campaigns: a briefing sent to a list through a crash-safe, shareable per-recipient ledger.

``models`` (tables) and ``states`` (their plain enums), ``manager`` (a campaign's life),
``ledger`` (snapshot, claim, settle), ``worker`` (the send loop), ``lanes`` (the SMTP
connections sending a batch), ``retry`` (when a temporary failure is tried again),
``progress`` (counts per batch and per worker), ``envelope`` and ``composer``
(per-recipient messages), ``pool`` (composing in helper processes), ``throttle``
(pace and backoff), ``verp`` (return paths and Message-IDs) and ``bounces`` (returned
mail and the suppression policy). ``newsletter.worker_factory`` builds a worker from
settings.
"""
