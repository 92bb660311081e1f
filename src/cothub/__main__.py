"""``python -m cothub`` is the ``cothub`` command."""

from cothub._entry import main

main()
