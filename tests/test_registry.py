"""Open registries: a task, a provider and a strategy from another package (a real installed
distribution found through its entry points) or registered in a notebook, each one file that
touches nothing in cothub; and registering costs nothing at import time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cothub._registry import Registry
from cothub.models import PROVIDERS
from cothub.strategies import STRATEGIES
from cothub.tasks import TASKS

# One file holds all three components; entry_points.txt is the package's metadata.
PLUGIN = '''
"""A third-party cothub plugin: a task, a model provider and a strategy."""
from dataclasses import dataclass

from cothub import Sample, Task
from cothub.prompts import ZEROSHOT_COT
from cothub.scoring.numeric import grade_numeric
from cothub.strategies.base import Outcome
from cothub.tasks import Loaded, Prompter
from cothub.types import Completion, Message, Prompt


class Arith(Task):
    name = "arith"
    version = "1"
    citation = "a plugin"
    formats = (ZEROSHOT_COT,)
    default_format = ZEROSHOT_COT
    breakdowns = ("size",)

    def max_tokens(self, fmt):
        return 16

    def load(self, data, subsets):
        items = [Sample(f"{a}+{b}", f"What is {a}+{b}?", str(a + b),
                        tags=(("size", "big" if a > 5 else "small"),))
                 for a in range(1, 9) for b in (1, 2)]
        return Loaded(items, {"generated": "v1"})

    def prompter(self, data, fmt, options):
        def render(s):
            return Prompt("chat", messages=(Message("user", s.question),))
        return Prompter(render, "none", "")

    def grade(self, sample, text, fmt=""):
        return grade_numeric(text, sample.gold)


class Oracle:
    """Answers 'What is A+B?' correctly, except 'wrong' models add one."""

    def __init__(self, name, style):
        self.name, self._style = name, style

    @property
    def identity(self):
        return {"provider": "echo", "model": self.name}

    @property
    def style(self):
        return self._style

    async def generate(self, prompt, config):
        a, b = prompt.messages[-1].content[8:-1].split("+")
        value = int(a) + int(b) + (self.name == "wrong")
        return [Completion(f"The answer is {value}.", "stop")] * config.n

    async def aclose(self):
        pass


def echo_backend(model, style, base_url):
    return Oracle(model, style)


@dataclass(frozen=True)
class Twice:
    """Asks twice and keeps the second answer."""

    votes: int = 2
    name: str = "twice"

    def describe(self):
        return {"name": self.name, "votes": self.votes}

    def summary(self, stats):
        return {}

    def first_config(self, base):
        return base

    async def solve(self, ctx):
        for _ in range(self.votes):
            completion = await ctx.complete()
        return Outcome(completion, await ctx.grade(completion.text))
'''

# The tasks section comes last, so that a test can append entries to it.
ENTRY_POINTS = """
[cothub.providers]
echo = cothub_demo_plugin:echo_backend

[cothub.strategies]
twice = cothub_demo_plugin:Twice

[cothub.tasks]
arith = cothub_demo_plugin:Arith
"""


def install_plugin(site: Path) -> None:
    """A distribution as pip leaves it: the package and its ``*.dist-info`` folder."""
    (site / "cothub_demo_plugin").mkdir(parents=True)
    (site / "cothub_demo_plugin" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "cothub_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cothub-demo-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")


def _isolate(monkeypatch: pytest.MonkeyPatch, registry: Registry[Any]) -> None:
    for attr in ("_items", "_refs", "_origin", "_order"):
        monkeypatch.setattr(registry, attr, dict(getattr(registry, attr)))


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin installed on sys.path; registries restored afterwards."""
    for registry in (TASKS, PROVIDERS, STRATEGIES):
        _isolate(monkeypatch, registry)
    site = tmp_path / "site"
    install_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("cothub_demo_plugin", None)


def test_plugin_task_provider_and_strategy_from_entry_points(
    cli: Any, plugin: Path, tmp_path: Path
) -> None:
    listing = cli("tasks")
    assert listing.code == 0, listing.err
    line = next(ln for ln in listing.out.splitlines() if ln.startswith("arith"))
    assert "zeroshot-cot (default)" in line and "from cothub-demo-plugin" in line
    assert "sizes" in line  # its breakdown tag is a filter parameter
    assert "twice[:votes=...]" in cli("run", "--help").out.replace("\n", "").replace(" ", "")

    store, out = tmp_path / "s.db", tmp_path / "o.json"
    args = ["--store", store, "--json", out]
    r = cli("run", "arith", "-m", "echo/right", "--strategy", "twice:votes=2", *args)
    assert r.code == 0, r.err
    result = json.loads(out.read_text())
    assert result["tasks"]["arith"]["accuracy"] == 1.0 and result["tasks"]["arith"]["n"] == 16
    assert result["strategy"] == {"name": "twice", "votes": 2}
    assert result["model"] == "echo/right"

    r = cli("run", "arith:sizes=big", "-m", "echo/wrong", *args)
    assert r.code == 0, r.err
    assert json.loads(out.read_text())["tasks"]["arith"]["n"] == 6

    board = cli("leaderboard", "--store", store)
    # a strategy other than one completion per item is a column of its own, never mixed with it
    assert "arith (zeroshot-cot twice:votes=2)" in board.out
    assert "arith (zeroshot-cot sizes=big)" in board.out
    assert PROVIDERS.origin("echo") == "cothub-demo-plugin"


def test_a_broken_plugin_is_one_line_naming_it(cli: Any, plugin: Path, tmp_path: Path) -> None:
    info = plugin / "cothub_demo_plugin-0.1.dist-info" / "entry_points.txt"
    info.write_text(info.read_text() + "broken = cothub_demo_missing_module:Nothing\n")
    r = cli("run", "broken", "-m", "fake/repeat:x", "--store", tmp_path / "s.db")
    assert r.code == 2
    assert len(r.err.strip().splitlines()) == 1
    assert "cothub-demo-plugin" in r.err and "ModuleNotFoundError" in r.err
    assert "uninstall" in r.err


def test_a_plugin_cannot_replace_a_builtin(plugin: Path) -> None:
    info = plugin / "cothub_demo_plugin-0.1.dist-info" / "entry_points.txt"
    info.write_text(info.read_text() + "gsm8k = cothub_demo_plugin:Arith\n")
    assert TASKS["gsm8k"].name == "gsm8k" and TASKS.origin("gsm8k") == "cothub"


def test_notebook_registration_is_one_definition_each(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A task, a provider and a strategy defined in a notebook cell, run through the public API."""
    for registry in (TASKS, PROVIDERS, STRATEGIES):
        _isolate(monkeypatch, registry)
    namespace: dict[str, Any] = {}
    exec(compile(PLUGIN, "<notebook>", "exec"), namespace)  # the plugin's code, as a cell
    import cothub
    from cothub.models import register_provider
    from cothub.strategies import parse_strategy, register_strategy

    cothub.register_task(namespace["Arith"])
    register_provider("echo")(namespace["echo_backend"])
    register_strategy("twice")(namespace["Twice"])

    config = cothub.RunConfig(
        tasks=("arith",), format=None, options=cothub.PromptOptions(style="chat"), limit=4,
        seed=0, max_tokens=None, temperature=0.0, strategy=parse_strategy("twice:votes=3"),
    )  # fmt: skip
    result = cothub.evaluate(config, model="echo/right", store_path=tmp_path / "s.db")
    assert result.summaries["arith"].accuracy == 1.0 and result.summaries["arith"].n == 4
    assert result.usage.requests == 4  # the strategy's repeats of one prompt are cached


def test_registering_imports_no_task_module_sdk_or_plugin(plugin: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        import cothub, cothub.tasks, cothub.models, cothub.strategies
        from cothub.models import parse_model
        parse_model("echo/x"); parse_model("openai/x")  # known by name, nothing imported
        heavy = ["openai", "anthropic", "torch", "transformers", "datasets", "vllm",
                 "cothub.tasks.gsm8k", "cothub.tasks.mmlu", "cothub.strategies.program",
                 "cothub_demo_plugin", "cothub.run"]
        print([m for m in heavy if m in sys.modules])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(plugin), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
