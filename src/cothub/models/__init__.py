"""Model backends, chosen by a ``provider/model`` spec. SDKs are imported only when used.

Providers are an open registry: :func:`register_provider` (a decorator on a factory) adds one,
and other packages add theirs through the ``cothub.providers`` entry-point group (see
:mod:`cothub._registry`). A factory takes ``(model, style, base_url)`` and returns a
:class:`Backend`; it imports its SDK in its body, so registering costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cothub._registry import Registry
from cothub.errors import CothubError
from cothub.models.base import Backend, Retryable
from cothub.types import ApiStyle, GenerateConfig

__all__ = [
    "PROVIDERS",
    "Backend",
    "BackendFactory",
    "ModelSpec",
    "Provider",
    "Retryable",
    "check_settings",
    "make_backend",
    "parse_model",
    "register_provider",
]

BackendFactory = Callable[[str, ApiStyle, str | None], Backend]
"""``(model name, API style, base URL or None) -> Backend``."""


@dataclass(frozen=True, slots=True)
class Provider:
    """A model provider: how to build its backend, and which reasoning settings it sends."""

    factory: BackendFactory
    reasoning: frozenset[str] = frozenset()
    """Reasoning settings (``reasoning_effort``, ``thinking_budget``) its backend sends; a run
    asking for another is refused rather than run without it."""


def _as_provider(name: str, obj: object) -> Provider:
    if isinstance(obj, Provider):
        return obj
    if callable(obj):
        return Provider(obj)
    raise CothubError(
        f"model provider {name!r} is a {type(obj).__name__}; register a factory "
        "(model, style, base_url) -> Backend, or a cothub.models.Provider"
    )


PROVIDERS: Registry[Provider] = Registry("model provider", "cothub.providers", _as_provider)
"""Provider name -> :class:`Provider` (``cothub.models.PROVIDERS``; ``list(PROVIDERS)`` names)."""


def register_provider(
    name: str, reasoning: frozenset[str] = frozenset()
) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: ``@register_provider("mine")`` on a factory makes ``--model mine/NAME`` work."""

    def add(factory: BackendFactory) -> BackendFactory:
        PROVIDERS.register(name, Provider(factory, reasoning), origin=factory.__module__)
        return factory

    return add


def _in_process(provider: str, base_url: str | None, hint: str = "") -> None:
    if base_url is not None:
        raise CothubError(
            f"--base-url does not apply to {provider}/ models (they run in this process); "
            f"drop it{hint}"
        )


@register_provider("openai", frozenset({"reasoning_effort"}))
def _openai(model: str, style: ApiStyle, base_url: str | None) -> Backend:
    from cothub.models.openai_api import OpenAIBackend

    return OpenAIBackend(model, style, base_url)


@register_provider("anthropic", frozenset({"thinking_budget"}))
def _anthropic(model: str, style: ApiStyle, base_url: str | None) -> Backend:
    from cothub.models.anthropic_api import AnthropicBackend

    return AnthropicBackend(model, style, base_url)


# Scripted: nothing to honour, so it takes every setting.
@register_provider("fake", frozenset({"reasoning_effort", "thinking_budget"}))
def _fake(model: str, style: ApiStyle, base_url: str | None) -> Backend:
    from cothub.models.fake import FakeBackend

    return FakeBackend(model, style)


@register_provider("vllm")
def _vllm(model: str, style: ApiStyle, base_url: str | None) -> Backend:
    _in_process("vllm", base_url, ", or use openai/MODEL --base-url URL for a vLLM server")
    from cothub.models.vllm_offline import VLLMBackend

    return VLLMBackend(model, style)


@register_provider("hf")
def _hf(model: str, style: ApiStyle, base_url: str | None) -> Backend:
    _in_process("hf", base_url)
    from cothub.models.hf import HFBackend

    return HFBackend(model, style)


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
    found = PROVIDERS.get(provider)
    accepted = found.reasoning if found is not None else frozenset()
    for name, flag in _FLAGS.items():
        if getattr(config, name) is not None and name not in accepted:
            takers = sorted(p for p, v in PROVIDERS.items() if name in v.reasoning)
            raise CothubError(
                f"{flag} cannot be sent to {provider}/ models; it applies to "
                f"{', '.join(p + '/' for p in takers if p != 'fake')} models only, drop it"
            )


def make_backend(spec: ModelSpec, style: ApiStyle, base_url: str | None) -> Backend:
    """The backend of ``spec``, built by its provider's factory (which imports the SDK)."""
    provider = PROVIDERS.get(spec.provider)
    if provider is None:
        raise PROVIDERS.unknown(spec.provider, " (PROVIDER/MODEL, e.g. openai/gpt-4o-mini)")
    return provider.factory(spec.name, style, base_url)
