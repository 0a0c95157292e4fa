"""Briefing papers: the model, the Markdown source format, the plain-text importer, the linter."""
