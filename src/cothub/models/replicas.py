"""Several endpoints serving one model (``--replica-url``): the run's requests spread over them.

``--base-url`` names the model as a run records it: its identity, hence the run id, the manifest
and every cache key. Each ``--replica-url`` is one more server of that same model (several GPU
servers, no load balancer in front). The replicas share the work and never enter the identity,
so how many there are and in what order never change what is stored: a run against one server
and the same run against four are one run, sharing one cache. This is why replicas are their own
option rather than a repeated ``--base-url``: with several equal URLs, which one names the model
would depend on their order, and dropping the URL from the identity would change the run id of
every run already stored. A replica's URL (and any credentials in it) is never stored or shown.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from cothub.errors import CothubError
from cothub.models import Backend, ModelSpec, Retryable, make_backend
from cothub.types import ApiStyle, Completion, GenerateConfig, Prompt

__all__ = ["ReplicaBackend", "check_replicas", "endpoints", "make_replicated", "same_model"]

IN_PROCESS = ("hf", "vllm", "fake")
"""Providers that run in this process: no endpoint, so no replicas of one."""

BENCH_S = 5.0
"""How long an endpoint nobody answers at is passed over (a server restarting, a dead machine):
its requests' retries go to the others meanwhile."""


def endpoints(base_url: str | None, replica_urls: Sequence[str]) -> list[str | None]:
    """The primary endpoint (``--base-url``, None: the provider's default) and then each
    replica, a URL given twice kept once."""
    out: list[str | None] = [base_url]
    for url in replica_urls:
        if url not in out:
            out.append(url)
    return out


def check_replicas(spec: ModelSpec, replica_urls: Sequence[str]) -> None:
    """Refuse, before anything runs, replicas of a model that has no endpoint, or a replica URL
    its provider's client would refuse (credentials beside an API key, not http(s))."""
    if not replica_urls:
        return
    if spec.provider in IN_PROCESS:
        raise CothubError(
            f"--replica-url applies to models served at a URL (openai/, anthropic/), not "
            f"{spec.provider}/ models, which run in this process; drop it (with --ray, a local "
            "model gets one replica per GPU)"
        )
    for url in replica_urls:
        if spec.provider == "openai":
            from cothub.models.openai_api import check_endpoint

            check_endpoint(url)
        elif spec.provider == "anthropic":
            from cothub.models.anthropic_api import check_endpoint as check_anthropic

            check_anthropic(url)


def same_model(identities: Sequence[dict[str, object]]) -> dict[str, object]:
    """The first identity, once every replica's is known to be the same model's: equal but for
    the endpoint (a provider whose identity has more, a load option say, must agree on it)."""
    first = identities[0]
    core = {k: v for k, v in first.items() if k != "base_url"}
    for other in identities[1:]:
        if {k: v for k, v in other.items() if k != "base_url"} != core:
            raise CothubError(
                f"the --replica-url endpoints do not serve the same model as --base-url "
                f"({first.get('model')!r}); give replicas of one model only"
            )
    return first


def make_replicated(
    spec: ModelSpec, style: ApiStyle, base_url: str | None, replica_urls: Sequence[str]
) -> Backend:
    """The backend of ``spec``: its provider's own for one endpoint, else a :class:`ReplicaBackend`
    over one client per endpoint."""
    urls = endpoints(base_url, replica_urls)
    if len(urls) == 1:
        return make_backend(spec, style, base_url)
    check_replicas(spec, replica_urls)
    return ReplicaBackend([make_backend(spec, style, url) for url in urls])


class ReplicaBackend:
    """One model behind several endpoints: each request goes to the endpoint with the fewest in
    flight (ties: the next in turn), so faster servers take more; one where nobody listens is
    passed over for :data:`BENCH_S`. Its identity is the first endpoint's, whatever the others
    are; a failure names the endpoint it came from (its public URL)."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        if not backends:
            raise ValueError("a ReplicaBackend needs at least one backend")
        self._backends = list(backends)
        self._identity = same_model([b.identity for b in self._backends])
        self._in_flight = [0] * len(self._backends)
        self._turn = 0
        self._benched_until = [0.0] * len(self._backends)
        self._where = [str(b.identity.get("base_url", "")) for b in self._backends]
        self.native_n: bool = all(bool(getattr(b, "native_n", True)) for b in self._backends)
        self.sent = [0] * len(self._backends)
        """Requests handed to each endpoint, in :func:`endpoints` order (diagnostics)."""

    @property
    def identity(self) -> dict[str, object]:
        return self._identity

    @property
    def style(self) -> ApiStyle:
        return self._backends[0].style

    @property
    def replicas(self) -> int:
        return len(self._backends)

    def _pick(self) -> int:
        k = len(self._backends)
        start, self._turn = self._turn, (self._turn + 1) % k
        order = [(start + j) % k for j in range(k)]
        now = time.monotonic()
        up = [i for i in order if self._benched_until[i] <= now] or order
        return min(up, key=lambda i: self._in_flight[i])

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        i = self._pick()
        self._in_flight[i] += 1
        self.sent[i] += 1
        try:
            return await self._backends[i].generate(prompt, config)
        except Retryable as e:
            if e.kind == "connection":
                self._benched_until[i] = time.monotonic() + BENCH_S
            raise Retryable(e.kind, f"{self._where[i]}: {e.reason}", e.retry_after) from e
        finally:
            self._in_flight[i] -= 1

    async def aclose(self) -> None:
        for b in self._backends:
            await b.aclose()
