"""Prompting, shared by every task: formats, exemplars, rendering, and fitting into a context."""

from __future__ import annotations

from cothub.prompts.fewshot import Exemplar, chat_turns, completion, parse_exemplars
from cothub.prompts.fit import estimate_tokens, fit
from cothub.prompts.format import (
    ALL_FORMATS,
    FEWSHOT_COT,
    FEWSHOT_DIRECT,
    ZEROSHOT_COT,
    ZEROSHOT_DIRECT,
    PromptFormat,
)

__all__ = [
    "ALL_FORMATS",
    "FEWSHOT_COT",
    "FEWSHOT_DIRECT",
    "ZEROSHOT_COT",
    "ZEROSHOT_DIRECT",
    "Exemplar",
    "PromptFormat",
    "chat_turns",
    "completion",
    "estimate_tokens",
    "fit",
    "parse_exemplars",
]
