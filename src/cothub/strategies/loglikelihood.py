"""``--scoring loglikelihood``: the most likely option is the answer; no text is generated.

The strategy of a run with ``--scoring loglikelihood`` (with a backend that scores text, such as
``hf/MODEL``): one scoring call per item over the task's options (``SolveContext.options``),
the most likely one (the first on a tie) graded as the completion, every option's score kept as
a step. It is chosen by ``--scoring``, not ``--strategy``: the run manifest records it as
``scoring``, beside the ``single`` strategy, as it always has (run ids stay as they were).
"""

from __future__ import annotations

from cothub.errors import CothubError
from cothub.strategies.base import Outcome, SolveContext
from cothub.strategies.single import Single
from cothub.types import Completion, OptionStep


class LogLikelihood(Single):
    """A single answer per item, chosen by score rather than generated (no summary sections,
    the run's generation settings unchanged: as :class:`Single`)."""

    name = "loglikelihood"

    async def solve(self, ctx: SolveContext) -> Outcome:
        if ctx.score is None or not ctx.options:
            raise CothubError("--scoring loglikelihood needs a model that scores text and options")
        scores = await ctx.score(ctx.options)
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        completion = Completion(ctx.options[best], "stop")
        steps = tuple(OptionStep(o, s) for o, s in zip(ctx.options, scores, strict=True))
        return Outcome(completion, await ctx.grade(completion.text), steps=steps)
