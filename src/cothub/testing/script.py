"""What a scripted model answers: the rules the fake backend (``fake/script:PATH``) and the
loopback test servers share, and the stand-in token count and limits they apply.

Kept apart from the test HTTP servers, so that the production ``fake/`` provider imports only this.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Choice", "Responder", "Rule", "Script", "apply_limits", "count_tokens"]

_WORD = re.compile(r"\S+")


@dataclass
class Choice:
    """One generated choice."""

    text: str
    finish_reason: str = "stop"
    reasoning: str | None = None


@dataclass
class Rule:
    """Answer ``responses`` (cycled over choices) when ``match`` is a substring of the prompt."""

    match: str
    responses: list[str]
    finish_reason: str = "stop"
    reasoning: str | None = None


Responder = Callable[[dict[str, Any]], list[Choice] | None]


@dataclass
class Script:
    """Decides what to answer.

    ``responder`` (if set and returning non-``None``) wins; otherwise the first rule whose
    ``match`` occurs in the prompt (completions) or the last user message (chat); otherwise
    ``default``. Choice ``i`` of ``n`` gets ``responses[i % len(responses)]``.
    """

    rules: list[Rule] = field(default_factory=list)
    default: str = "OK"
    responder: Responder | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Script:
        """Build from ``{"default": ..., "rules": [{"match", "responses", ...}]}``."""
        rules = []
        for raw in data.get("rules", []):
            responses = raw.get("responses")
            if responses is None:
                responses = [raw["response"]]
            rules.append(
                Rule(
                    match=str(raw["match"]),
                    responses=[str(r) for r in responses],
                    finish_reason=str(raw.get("finish_reason", "stop")),
                    reasoning=raw.get("reasoning"),
                )
            )
        return cls(rules=rules, default=str(data.get("default", "OK")))

    @classmethod
    def load(cls, path: str | Path) -> Script:
        """Load a script from a JSON file (see :meth:`from_dict`)."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def choices(self, request: dict[str, Any], prompt: str, n: int) -> list[Choice]:
        """Return ``n`` raw choices (before ``stop``/``max_tokens``) for one prompt."""
        if self.responder is not None:
            produced = self.responder(request)
            if produced is not None:
                if not produced:
                    raise ValueError("responder returned no choices")
                return [produced[i % len(produced)] for i in range(n)]
        for rule in self.rules:
            if rule.match in prompt:
                responses = rule.responses or [""]
                return [
                    Choice(responses[i % len(responses)], rule.finish_reason, rule.reasoning)
                    for i in range(n)
                ]
        return [Choice(self.default) for _ in range(n)]


def count_tokens(text: str | None) -> int:
    """Stand-in token count: number of whitespace-separated words."""
    return len(text.split()) if text else 0


def apply_limits(choice: Choice, stop: object, max_tokens: object) -> Choice:
    """Cut at the first stop string (reason ``stop``), then at ``max_tokens`` words (``length``)."""
    text, reason = choice.text, choice.finish_reason
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    cut = min(
        (i for s in stops if isinstance(s, str) and s and (i := text.find(s)) >= 0), default=-1
    )
    if cut >= 0:
        text, reason = text[:cut], "stop"
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        words = list(itertools.islice(_WORD.finditer(text), max_tokens + 1))
        if len(words) > max_tokens:
            text = text[: words[max_tokens - 1].end()] if max_tokens > 0 else ""
            reason = "length"
    if text is choice.text and reason == choice.finish_reason:
        return choice
    return Choice(text, reason, choice.reasoning)
