"""The ``cothub`` command's entry point: fewer garbage collections while it starts.

Starting a run imports thousands of classes (the CLI, cothub, the SDK's typed models) that are
never garbage; with the default thresholds the cyclic collector walks them again and again as
they are made, some 12 % of the SDK's import time. The young-generation threshold is raised
while the process starts; the execute loop sets its own (:mod:`cothub.run.execute`) and no
cyclic garbage of note is made before it, so memory is unchanged.
"""

from __future__ import annotations

import gc
from typing import Any

STARTUP_THRESHOLDS = (50_000, 50, 100)
"""(young, middle, old) generation thresholds until the execute loop starts."""


def main() -> Any:
    gc.set_threshold(*STARTUP_THRESHOLDS)
    from cothub.cli import main as cli_main

    return cli_main()
