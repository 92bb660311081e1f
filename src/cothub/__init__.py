"""cothub: trustworthy, fast and cheap evaluation of LLM complex reasoning.

Public API: :func:`grade` (judge one completion) and :func:`evaluate` (run a model on tasks).
Both import their machinery on first use, so importing cothub (and ``cothub --help``) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "grade"]

if TYPE_CHECKING:
    from cothub.api import evaluate, grade


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "grade"):
        from cothub import api

        return getattr(api, name)
    raise AttributeError(f"module 'cothub' has no attribute {name!r}")
