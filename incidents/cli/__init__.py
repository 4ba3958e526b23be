"""The ``winterops`` command line: one thin module per command group over the services."""

from incidents.cli.app import app, main

__all__ = ["app", "main"]
