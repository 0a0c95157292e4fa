"""Returned mail: parse DSN and ARF reports, classify them, apply the suppression policy."""
