"""Transports behind one small protocol: SMTP, a Maildir outbox, and memory for tests."""
