"""``python -m incidents``: the ``winterops`` command line."""

from incidents.cli.app import main

main()
