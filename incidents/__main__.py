"""``python -m incidents``: the ``winterops`` command line."""

from incidents.cli import main

main()
