"""Kept for imports written before :mod:`cothub.run`: everything here is re-exported from it."""

from cothub.run import *  # noqa: F403
from cothub.run import __all__ as __all__
