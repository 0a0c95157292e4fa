"""Publish briefing papers by email and raise money from their readers."""

__version__ = "0.1.0"
