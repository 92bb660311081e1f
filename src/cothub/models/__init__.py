"""Model backends, chosen by a ``provider/model`` spec. SDKs are imported only when used."""

from __future__ import annotations

from dataclasses import dataclass

from cothub.errors import CothubError
from cothub.models.base import Backend, Retryable
from cothub.types import ApiStyle, GenerateConfig

__all__ = [
    "PROVIDERS",
    "REASONING_SETTINGS",
    "Backend",
    "ModelSpec",
    "Retryable",
    "check_settings",
    "make_backend",
    "parse_model",
]

PROVIDERS = ("openai", "anthropic", "fake", "vllm", "hf")

REASONING_SETTINGS: dict[str, frozenset[str]] = {
    "openai": frozenset({"reasoning_effort"}),
    "anthropic": frozenset({"thinking_budget"}),
    "fake": frozenset({"reasoning_effort", "thinking_budget"}),  # scripted: nothing to honour
}
"""Which reasoning settings each provider sends. A provider missing here sends none, so a run
that asks for one is refused rather than run without it."""

_FLAGS = {"reasoning_effort": "--reasoning-effort", "thinking_budget": "--thinking-budget"}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """``openai/gpt-4o-mini`` -> provider ``openai``, name ``gpt-4o-mini`` (names may hold '/')."""

    provider: str
    name: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.name}"


def parse_model(spec: str) -> ModelSpec:
    provider, sep, name = spec.strip().partition("/")
    if not sep or not provider or not name:
        raise CothubError(
            f"model spec {spec!r} is not PROVIDER/MODEL; e.g. openai/gpt-4o-mini "
            f"(providers: {', '.join(PROVIDERS)})"
        )
    if provider not in PROVIDERS:
        raise CothubError(
            f"unknown model provider {provider!r} in {spec!r}; use one of {', '.join(PROVIDERS)}"
        )
    return ModelSpec(provider, name)


def check_settings(provider: str, config: GenerateConfig) -> None:
    """Refuse, before anything is loaded or sent, a reasoning setting ``provider`` cannot honour.

    A backend that dropped it silently would score a different model setting than the manifest
    records.
    """
    accepted = REASONING_SETTINGS.get(provider, frozenset())
    for name, flag in _FLAGS.items():
        if getattr(config, name) is not None and name not in accepted:
            takers = sorted(p for p, names in REASONING_SETTINGS.items() if name in names)
            raise CothubError(
                f"{flag} cannot be sent to {provider}/ models; it applies to "
                f"{', '.join(p + '/' for p in takers if p != 'fake')} models only, drop it"
            )


def make_backend(spec: ModelSpec, style: ApiStyle, base_url: str | None) -> Backend:
    if spec.provider == "openai":
        from cothub.models.openai_api import OpenAIBackend

        return OpenAIBackend(spec.name, style, base_url)
    if spec.provider == "anthropic":
        from cothub.models.anthropic_api import AnthropicBackend

        return AnthropicBackend(spec.name, style, base_url)
    if spec.provider == "vllm":
        if base_url is not None:
            raise CothubError(
                "--base-url does not apply to vllm/ models (they run in this process); drop it, "
                "or use openai/MODEL --base-url URL for a vLLM server"
            )
        from cothub.models.vllm_offline import VLLMBackend

        return VLLMBackend(spec.name, style)
    if spec.provider == "hf":
        if base_url is not None:
            raise CothubError(
                "--base-url does not apply to hf/ models (they run in this process); drop it"
            )
        from cothub.models.hf import HFBackend

        return HFBackend(spec.name, style)
    from cothub.models.fake import FakeBackend

    return FakeBackend(spec.name, style)
