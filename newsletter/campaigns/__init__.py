"""Campaigns: a briefing sent to a list through a crash-safe, shareable per-recipient ledger.

``models`` (tables), ``manager`` (a campaign's life), ``ledger`` (snapshot, claim, settle),
``worker`` (the send loop), ``composer`` (per-recipient messages), ``throttle`` (rate and
backoff), ``verp`` (return paths and Message-IDs), ``engine`` (wiring from settings) and
``bounces`` (returned mail and the suppression policy).
"""
