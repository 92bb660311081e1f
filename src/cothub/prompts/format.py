"""Prompt formats: exemplars or none, reasoning or the bare answer, as one small record.

The name (``fewshot-cot``, ``zeroshot-direct``, ...) is what the CLI takes and the run manifest
records; code asks the record (``fmt.cot``, ``fmt.fewshot``) instead of testing the string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from cothub.errors import CothubError

Shots = Literal["fewshot", "zeroshot"]
Reasoning = Literal["cot", "direct"]


@dataclass(frozen=True, slots=True)
class PromptFormat:
    """How a task prompts: with or without exemplars, asking for reasoning or only the answer.

    The API style (chat turns or one completion string) is not part of it: that belongs to the
    endpoint (``--api``, recorded once per run as ``prompt_style``), every task renders every
    format in both styles, and format names stay what manifests and cache keys already hold.
    """

    shots: Shots
    """``fewshot``: worked exemplars precede the item; ``zeroshot``: none do."""
    reasoning: Reasoning
    """``cot``: the model reasons before answering; ``direct``: it gives only the answer."""

    @property
    def name(self) -> str:
        """``fewshot-cot``, ``zeroshot-direct``, ...: the name the CLI and the manifest use."""
        return f"{self.shots}-{self.reasoning}"

    @property
    def fewshot(self) -> bool:
        return self.shots == "fewshot"

    @property
    def cot(self) -> bool:
        return self.reasoning == "cot"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: PromptFormat | str) -> PromptFormat:
        """``"fewshot-cot"`` -> ``PromptFormat("fewshot", "cot")``; a record is returned as is."""
        if isinstance(name, PromptFormat):
            return name
        shots, _, reasoning = name.strip().lower().partition("-")
        for fmt in ALL_FORMATS:
            if (fmt.shots, fmt.reasoning) == (shots, reasoning):
                return fmt
        known = ", ".join(f.name for f in ALL_FORMATS)
        raise CothubError(f"unknown prompt format {name!r}; choose one of {known}")


FEWSHOT_COT = PromptFormat("fewshot", "cot")
FEWSHOT_DIRECT = PromptFormat("fewshot", "direct")
ZEROSHOT_COT = PromptFormat("zeroshot", "cot")
ZEROSHOT_DIRECT = PromptFormat("zeroshot", "direct")
ALL_FORMATS = tuple(PromptFormat(s, r) for s in get_args(Shots) for r in get_args(Reasoning))
