"""The public API is deliberate: ``cothub.__all__`` is pinned (as httpx does), every name in it
resolves, and importing cothub imports none of the machinery behind it."""

from __future__ import annotations

import subprocess
import sys

import cothub

PUBLIC = [
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


def test_all_is_pinned() -> None:
    assert sorted(cothub.__all__) == PUBLIC


def test_every_public_name_resolves() -> None:
    from cothub.runner import RunConfig
    from cothub.tasks.base import Task
    from cothub.types import Sample

    for name in cothub.__all__:
        assert getattr(cothub, name) is not None
    assert cothub.RunConfig is RunConfig and cothub.Task is Task and cothub.Sample is Sample
    assert set(cothub.__all__) <= set(dir(cothub))


def test_import_cothub_stays_light() -> None:
    code = (
        "import sys, cothub; "
        "print(sorted(m for m in sys.modules if m.startswith('cothub.') or m in "
        "('openai', 'anthropic', 'torch', 'datasets', 'typer', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_notebook_grade_without_the_cli() -> None:
    g = cothub.grade("gsm8k", "48/2 = 24 ... The answer is $1,024.00.", "1024")
    assert (g.correct, g.answer, g.method) == (True, "1024", "final-phrase")
