"""The ``newsletter`` command: one thin module per command group."""
