"""The README's commands, checked against the code so that the two cannot drift apart.

Every ``cothub ...`` command in a ```bash block must parse against the real CLI (an unknown
command or option, a missing argument or a bad value fails the test). The ones that can run
here run as written, by bash, in a folder beside this repository's development layout
(``../shared`` is the shared folder), with only these documented substitutions:

- ``COTHUB_DATA_DIR`` set to the development layout's data folder (README: "add
  `--data-dir ../shared/data` ... or `export COTHUB_DATA_DIR=../shared/data` once");
- ``http://localhost:8000/v1`` replaced by a loopback stand-in server's URL;
- ``COTHUB_STORE`` and ``HOME`` in a temporary folder.

The rest need the Hugging Face Hub, an API key, a GPU or a file of the reader's own (marked
``...`` or named as an example): they are parsed only, and the test names them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.openai_server import Script, running_server

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHARED = Path(os.environ.get("COTHUB_SHARED", REPO.parent / "shared"))
STAND_IN = "http://localhost:8000/v1"
SEPARATORS = {"&&", "||", ";", "|", "&"}
RUNNABLE_OTHERS = {"echo"}
"""Commands besides ``cothub`` that a runnable README line may hold."""


@dataclass(frozen=True)
class Line:
    """One shell line of a bash block (continuations joined) and the commands on it."""

    block: int
    text: str
    commands: tuple[tuple[str, ...], ...]

    @property
    def cothub(self) -> list[tuple[str, ...]]:
        return [c for c in self.commands if c and c[0] == "cothub"]


def bash_lines() -> list[Line]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    out = []
    for number, block in enumerate(blocks):
        for text in block.replace("\\\n", " ").splitlines():
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            commands: list[list[str]] = [[]]
            redirect = False
            for token in lexer:
                if redirect:  # the file of ``> FILE``: part of no command
                    redirect = False
                elif token in (">", ">>", "<"):
                    redirect = True
                elif token in SEPARATORS:
                    commands.append([])
                else:
                    commands[-1].append(token)
            out.append(Line(number, text, tuple(tuple(c) for c in commands if c)))
    return out


LINES = bash_lines()
COMMANDS = [c for line in LINES for c in line.cothub]


def parse(args: tuple[str, ...]) -> None:
    """Parse ``cothub ARGS`` with the real command tree, as a run would, running nothing."""
    import typer

    from cothub.cli import app

    group: Any = typer.main.get_command(app)
    assert args[0] in group.commands, f"unknown command {args[0]!r} in the README"
    group.commands[args[0]].make_context(args[0], list(args[1:]))


def runnable(line: Line) -> bool:
    """Runs here: every model is a local server's (the stand-in's), or no model is needed."""
    if not line.cothub or any(c[0] not in ("cothub", *RUNNABLE_OTHERS) for c in line.commands):
        return False
    for command in line.cothub:
        if command[1] == "run":
            models = [command[i + 1] for i, a in enumerate(command) if a in ("--model", "-m")]
            if STAND_IN not in command or not all(m.startswith("openai/") for m in models):
                return False
        elif command[1] not in ("import", "tasks", "leaderboard", "runs"):
            return False
    return True


def test_the_readme_has_commands_to_check() -> None:
    assert len(COMMANDS) >= 15
    assert sum(runnable(line) for line in LINES) >= 5


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c)[:70] for c in COMMANDS])
def test_every_readme_command_parses(args: tuple[str, ...]) -> None:
    parse(args[1:])


def test_first_command_installs_the_right_torch_and_says_how_long() -> None:
    """The first block works on a CPU-only laptop and on a GPU machine as it stands: the CPU
    wheel index where there is no NVIDIA GPU, before the hf extra could pull CUDA torch."""
    text = README.read_text(encoding="utf-8")
    first = next(line for line in LINES if line.block == 0 and "torch" in line.text)
    assert "--index-url https://download.pytorch.org/whl/cpu" in first.text
    assert "nvidia-smi" in first.text
    block0 = [line.text for line in LINES if line.block == 0]
    torch_at = next(i for i, t in enumerate(block0) if "pip install torch" in t)
    hf_at = next(i for i, t in enumerate(block0) if '.[hf]"' in t)
    assert torch_at < hf_at
    setup = text[text.index("## Set up") : text.index("## Benchmarks")]
    assert "minutes" in setup and "../shared/data" in setup


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder beside a ``shared`` folder, as this repository sits in development."""
    if not (SHARED / "data" / "gsm8k" / "test.jsonl").is_file():
        pytest.skip(f"the development layout's data is not at {SHARED / 'data'}")
    root = tmp_path_factory.mktemp("layout")
    (root / "shared").symlink_to(SHARED.resolve())
    (root / "work").mkdir()
    return root / "work"


def test_runnable_readme_commands_run_as_written(layout: Path) -> None:
    env = {
        **os.environ,
        "COTHUB_DATA_DIR": "../shared/data",
        "COTHUB_STORE": str(layout / "store.db"),
        "HOME": str(layout / "home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        env.pop(var, None)
    ran, parsed_only = [], []
    with running_server(Script(default="Let's think step by step.\nThe answer is 7.")) as srv:
        for line in LINES:
            helper = all(c[0] in RUNNABLE_OTHERS for c in line.commands)  # e.g. the prices file
            if not line.cothub and not helper:
                continue
            if not helper and not runnable(line):
                parsed_only.append(line.text)
                continue
            shell = line.text.replace(STAND_IN, srv.base_url)
            r = subprocess.run(
                ["bash", "-c", shell], cwd=layout, env=env, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert r.returncode == 0, (line.text, r.stderr[-2000:])
            assert "Traceback" not in r.stderr, r.stderr
            if line.cothub:
                ran.append(line.text)
    print("ran as written:", *ran, "parsed only (Hub, keys, GPU or a reader's own files):",
          *parsed_only, sep="\n  ")  # fmt: skip
    assert any(" import bbh " in t and "fewshot-direct" in t for t in ran)
    assert any(" run gsm8k " in t and "--api completions" in t for t in ran)
    # The figures the README's comments promise, from the store the commands wrote.
    from cothub.store import open_store

    accuracies: dict[str, set[float]] = {}
    for run in open_store(layout / "store.db", readonly=True).runs():
        for task, summary in (run.summary or {}).items():
            accuracies.setdefault(task, set()).add(round(100 * summary.accuracy, 2))
    assert {73.71, 52.76} <= accuracies["bbh"], accuracies.get("bbh")
    assert accuracies["gsm8k"] & {21.68, 39.04, 34.72, 56.25}, accuracies.get("gsm8k")
