"""cothub: trustworthy, fast and cheap evaluation of LLM complex reasoning.

The public API, everything a notebook needs to run an evaluation without the CLI (pinned by
``tests/test_public_api.py``; anything else is internal and may change):

* :func:`evaluate` runs a model on a :class:`RunConfig` (the run spec: tasks, format, limit,
  generation settings; prompts shaped by :class:`PromptOptions`) and stores every sample;
* :func:`grade` judges one completion exactly as a run would;
* :func:`rescore` re-grades a stored run with today's graders (no request), stored as a new run;
* :class:`Task` and :class:`Sample` are what a benchmark is; :func:`register_task` makes a task of
  your own available by name (``cothub.register_task(MyTask())``), as the ``cothub.tasks``
  entry-point group does for installed packages.

Names are imported on first use, so importing cothub (and ``cothub --help``) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "PromptOptions",
    "RunConfig",
    "Sample",
    "Task",
    "__version__",
    "evaluate",
    "grade",
    "register_task",
    "rescore",
]

if TYPE_CHECKING:
    from cothub.api import evaluate, grade
    from cothub.rescoring import rescore
    from cothub.run import RunConfig
    from cothub.tasks import register_task
    from cothub.tasks.base import PromptOptions, Task
    from cothub.types import Sample

_LAZY = {
    "evaluate": "cothub.api",
    "grade": "cothub.api",
    "RunConfig": "cothub.run",
    "PromptOptions": "cothub.tasks.base",
    "Task": "cothub.tasks.base",
    "Sample": "cothub.types",
    "register_task": "cothub.tasks",
    "rescore": "cothub.rescoring",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cothub' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
