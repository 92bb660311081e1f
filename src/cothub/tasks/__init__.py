"""The task registry: an explicit dict, no directory scanning."""

from __future__ import annotations

from cothub.errors import CothubError
from cothub.tasks.base import Loaded, Prompter, PromptOptions, Task
from cothub.tasks.bbh import BBH
from cothub.tasks.gsm8k import GSM8K
from cothub.tasks.math_task import MATH
from cothub.tasks.mmlu import MMLU

__all__ = ["TASKS", "Loaded", "PromptOptions", "Prompter", "Task", "resolve_task"]

TASKS: dict[str, Task] = {t.name: t for t in (BBH(), GSM8K(), MATH(), MMLU())}


def resolve_task(name: str) -> tuple[Task, str]:
    """``gsm8k`` -> (task, ""), ``bbh/date_understanding`` -> (task, "date_understanding")."""
    base, _, subset = name.strip().lower().partition("/")
    task = TASKS.get(base)
    if task is None:
        raise CothubError(
            f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))} (`cothub tasks`)"
        )
    if subset and subset not in task.subsets:
        hint = f"{base}/{task.subsets[0]}" if task.subsets else base
        raise CothubError(
            f"{base} has no sub-task {subset!r}; e.g. {hint} (`cothub tasks` lists them)"
        )
    return task, subset
