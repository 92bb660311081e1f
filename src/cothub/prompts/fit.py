"""Fitting a prompt into a context: the one token estimate and the one exemplar-dropping rule.

``--max-context`` leaves ``max_context - max_tokens`` for the prompt. Every task renders a
sample's prompt with ``k`` exemplars for any ``k`` and lets :func:`fit` pick the largest ``k`` that
fits (as Hendrycks' MMLU ``evaluate.py`` lowers k); ``Prompt.n_exemplars`` records what was kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

from cothub.errors import CothubError
from cothub.types import Message, Prompt

CHARS_PER_TOKEN = 4
"""English BPE vocabularies average about four characters a token: an estimate, not a tokenizer,
so leave some margin in ``--max-context``."""


def estimate_tokens(prompt: Prompt) -> int:
    """Prompt length in tokens, estimated as characters / 4, rounded up."""
    chars = len(prompt.text) + sum(len(m.content) for m in prompt.messages)
    return math.ceil(chars / CHARS_PER_TOKEN)


TokenCounter = Callable[[Prompt], int]
"""A prompt -> its exact length in the model's tokens (chat template included)."""

_COUNTER: ContextVar[TokenCounter | None] = ContextVar("cothub_token_counter", default=None)


def count_tokens(prompt: Prompt) -> int:
    """Prompt length in tokens: counted by the model's tokenizer where one is at hand (a local
    model, see :func:`counting_with`), else :func:`estimate_tokens`."""
    counter = _COUNTER.get()
    return counter(prompt) if counter is not None else estimate_tokens(prompt)


@contextmanager
def counting_with(counter: TokenCounter | None) -> Iterator[None]:
    """Within this block (and tasks started in it), :func:`fit` counts with ``counter``."""
    token = _COUNTER.set(counter)
    try:
        yield
    finally:
        _COUNTER.reset(token)


@dataclass(slots=True)
class PromptSettings:
    """``--shots`` and ``--system-prompt``: set around a prompter's render (see
    :func:`rendering_with`) and applied by :func:`fit`, the one place every task's prompt passes
    through, so that no task handles them itself and the context budget counts them."""

    shots: int | None = None
    """Exemplars to keep at most (0: the format's prompt with none); None: the format's own."""
    system: str | None = None
    """A system prompt: the first chat turn (joined with a system turn the task writes), or the
    head of a completion-style text; None: none."""
    applied: bool = False
    """Set by :func:`fit`: the task's prompt went through it, so the settings took effect."""


_SETTINGS: ContextVar[PromptSettings | None] = ContextVar("cothub_prompt_settings", default=None)


@contextmanager
def rendering_with(settings: PromptSettings) -> Iterator[PromptSettings]:
    token = _SETTINGS.set(settings)
    try:
        yield settings
    finally:
        _SETTINGS.reset(token)


def with_system(prompt: Prompt, system: str) -> Prompt:
    """``prompt`` with a system prompt in front (chat: the first turn; text: the head)."""
    if prompt.style != "chat":
        return replace(prompt, text=f"{system}\n\n{prompt.text}")
    turns = prompt.messages
    if turns and turns[0].role == "system":  # one system turn: many chat templates take no more
        head = Message("system", f"{system}\n\n{turns[0].content}")
        return replace(prompt, messages=(head, *turns[1:]))
    return replace(prompt, messages=(Message("system", system), *turns))


def fit(render: Callable[[int], Prompt], n: int, budget: int | None, item: str) -> Prompt:
    """``render(k)`` for the largest ``k`` in ``n..0`` whose estimated tokens fit ``budget``.

    ``budget`` None means no limit (``render(n)``). With zero exemplars the prompt is the
    zero-shot one; when even that does not fit, the item (named by ``item``) cannot be sent whole,
    and a one-line error says so rather than sending a prompt the context cannot hold.
    ``--shots`` lowers ``n`` and ``--system-prompt`` is put in front before counting (see
    :class:`PromptSettings`).
    """
    settings = _SETTINGS.get()
    if settings is not None:
        settings.applied = True
        if settings.shots is not None:
            if settings.shots > n:
                allowed = "takes no exemplars" if n == 0 else f"has {n} exemplars here"
                raise CothubError(
                    f"--shots {settings.shots}: {item.split(' ')[0]} in this format {allowed}; "
                    f"use --shots 0-{n}" + ("" if n else " or a few-shot --format")
                )
            n = settings.shots
        if settings.system is not None:
            inner, system = render, settings.system

            def render(k: int) -> Prompt:
                return with_system(inner(k), system)

    if budget is None:
        return render(n)
    for k in range(n, -1, -1):
        prompt = render(k)
        if count_tokens(prompt) <= budget:
            return prompt
    raise CothubError(
        f"{item}: even with no exemplars the prompt takes about {count_tokens(prompt)} tokens, "
        f"more than the {budget} that --max-context leaves beside the generation budget; raise "
        "--max-context (or lower --max-tokens)"
    )
