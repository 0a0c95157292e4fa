"""The subscriber domain: people, lists and topics, consent, suppression, import and export.

This package never imports ``newsletter``; ``newsletter`` builds on it.
"""
