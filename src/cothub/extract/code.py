"""The function a code benchmark runs, read out of a model's reply: pure, table-tested.

HumanEval-style problems give a prompt (imports, maybe helpers, and the signature and docstring
of the function to write, its *entry point*). Two kinds of reply come back:

- a **completion** (a base model continuing the prompt): the function's body, whose first
  non-blank line is indented. The solution is ``prompt + completion`` (Chen et al. 2021).
- a **chat reply**: prose and fenced code blocks. The block used is the last one that defines
  the entry point (``def NAME(`` at the block's top level), else the last Python block (fence
  language empty, ``python``, ``py`` or ``python3``); an unclosed fence (a cut reply) runs to the
  end. A block that defines the function is appended to the prompt, so the prompt's imports and
  helpers stay defined and the block's definition replaces the stub; any other block is taken
  as the function's body (dedented, then indented by four spaces) and appended to the prompt.
  A reply with no fence that is itself Python defining the entry point is used like a block.
  Prose only, an empty reply, or thinking that never closed: no code (unparsed).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from cothub.extract.reasoning import strip_thinking

__all__ = ["Code", "entry_point_of", "solution_program"]

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)
_PYTHON = frozenset({"", "python", "py", "python3", "py3"})
_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Code:
    """The solution program found in a reply, and the rule that found it."""

    program: str | None
    """The prompt with the model's function in it (no tests); None: the reply holds no code."""
    method: str
    """``completion``, ``code-block``, ``code-block-body``, ``reply-code``, or why there is none:
    ``no-code``, ``unclosed-think``."""


def entry_point_of(prompt: str) -> str | None:
    """The function a prompt asks for: the last top-level ``def`` in it (true of all 164
    HumanEval prompts); None when it has none."""
    names = _DEF.findall(prompt)
    return names[-1] if names else None


def solution_program(prompt: str, reply: str, entry_point: str) -> Code:
    """The program to test: ``prompt`` with the function of ``reply`` (see the module doc)."""
    text = strip_thinking(reply)
    if text is None:
        return Code(None, "unclosed-think")
    if not text.strip():
        return Code(None, "no-code")
    first = next(line for line in text.splitlines() if line.strip())
    if first[:1] in (" ", "\t"):
        return Code(_joined(prompt, text), "completion")
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    defining = [body for _, body in blocks if _defines(body, entry_point)]
    python = [body for lang, body in blocks if lang in _PYTHON and body.strip()]
    if defining:
        return Code(_joined(prompt, "\n" + defining[-1]), "code-block")
    if python:
        body = textwrap.indent(textwrap.dedent(python[-1]).strip("\n"), "    ") + "\n"
        return Code(_joined(prompt, body), "code-block-body")
    if not blocks and _defines(text, entry_point) and _parses(text):
        return Code(_joined(prompt, "\n" + text), "reply-code")
    return Code(None, "no-code")


def _defines(code: str, entry_point: str) -> bool:
    return entry_point in _DEF.findall(code)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _joined(prompt: str, code: str) -> str:
    return prompt + code if code.endswith("\n") else prompt + code + "\n"
