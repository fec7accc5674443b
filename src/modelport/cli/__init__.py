"""The ``modelport`` command line (typer + rich)."""
