"""The model behind completions recorded elsewhere (``cothub import``): an identity, no server.

An import's items are answered by the :class:`cothub.strategies.replay.Replay` strategy, which
never asks its backend; this backend gives the run its model identity (``import/NAME``) and
refuses any request, so nothing can reach a model by mistake.
"""

from __future__ import annotations

from cothub.errors import CothubError
from cothub.types import ApiStyle, Completion, GenerateConfig, Prompt


class RecordedModel:
    """``import/NAME``: completions a file holds; asking it for a new one is an error."""

    style: ApiStyle = "completions"
    """Imports are matched and recorded as completion-style prompts."""

    def __init__(self, model: str) -> None:
        self.identity: dict[str, object] = {"provider": "import", "model": model}

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        raise CothubError(
            f"import/{self.identity['model']} holds recorded completions only; it cannot be "
            "asked for new ones (run the model with `cothub run` instead)"
        )

    async def aclose(self) -> None:
        return None
