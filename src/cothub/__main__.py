"""``python -m cothub`` is the ``cothub`` command."""

from cothub.cli import main

main()
