"""The ``portkey`` command line."""
