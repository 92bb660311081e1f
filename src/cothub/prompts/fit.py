"""Fitting a prompt into a context: the one token estimate and the one exemplar-dropping rule.

``--max-context`` leaves ``max_context - max_tokens`` for the prompt. Every task renders a
sample's prompt with ``k`` exemplars for any ``k`` and lets :func:`fit` pick the largest ``k`` that
fits (as Hendrycks' MMLU ``evaluate.py`` lowers k); ``Prompt.n_exemplars`` records what was kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cothub.errors import CothubError
from cothub.types import Prompt

CHARS_PER_TOKEN = 4
"""English BPE vocabularies average about four characters a token: an estimate, not a tokenizer,
so leave some margin in ``--max-context``."""


def estimate_tokens(prompt: Prompt) -> int:
    """Prompt length in tokens, estimated as characters / 4, rounded up."""
    chars = len(prompt.text) + sum(len(m.content) for m in prompt.messages)
    return math.ceil(chars / CHARS_PER_TOKEN)


def fit(render: Callable[[int], Prompt], n: int, budget: int | None, item: str) -> Prompt:
    """``render(k)`` for the largest ``k`` in ``n..0`` whose estimated tokens fit ``budget``.

    ``budget`` None means no limit (``render(n)``). With zero exemplars the prompt is the
    zero-shot one; when even that does not fit, the item (named by ``item``) cannot be sent whole,
    and a one-line error says so rather than sending a prompt the context cannot hold.
    """
    if budget is None:
        return render(n)
    for k in range(n, -1, -1):
        prompt = render(k)
        if estimate_tokens(prompt) <= budget:
            return prompt
    raise CothubError(
        f"{item}: even with no exemplars the prompt takes about {estimate_tokens(prompt)} tokens, "
        f"more than the {budget} that --max-context leaves beside the generation budget; raise "
        "--max-context (or lower --max-tokens)"
    )
