"""Model backends, chosen by a ``provider/model`` spec. SDKs are imported only when used."""

from __future__ import annotations

from dataclasses import dataclass

from cothub.errors import CothubError
from cothub.models.base import Backend, Retryable
from cothub.types import ApiStyle

__all__ = ["PROVIDERS", "Backend", "ModelSpec", "Retryable", "make_backend", "parse_model"]

PROVIDERS = ("openai", "anthropic", "fake")


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


def make_backend(spec: ModelSpec, style: ApiStyle, base_url: str | None) -> Backend:
    if spec.provider == "openai":
        from cothub.models.openai_api import OpenAIBackend

        return OpenAIBackend(spec.name, style, base_url)
    if spec.provider == "anthropic":
        from cothub.models.anthropic_api import AnthropicBackend

        return AnthropicBackend(spec.name, style, base_url)
    from cothub.models.fake import FakeBackend

    return FakeBackend(spec.name, style)
