"""``cothub run ... --ray ADDRESS``: requests run on a Ray cluster, the driver keeps the run.

Only the backend moves. The driver plans, consults the cache before anything is shipped, paces
(``--rpm``/``--tpm``), retries, spends the ``--max-cost`` budget, grades, shows progress and alone
writes the store, exactly as a local run does; :class:`RayBackend` is the bottom layer of that
stack and sends each request that is left to a pool of Ray actors:

- API models (``openai/``, ``anthropic/``, ``fake/``): async actors holding one client each,
  ``max_concurrency`` requests in flight apiece (the driver's ``--concurrency`` bounds the whole
  cluster), a quarter CPU each; with ``--replica-url``, actor ``i`` talks to endpoint ``i mod k``
  of the ``k`` endpoints (``--base-url`` first), so each server of the model gets its own actors;
- local models (``hf/``, ``vllm/``): one actor per model replica, declaring ``num_gpus`` (1 where
  the cluster has GPUs), so Ray places each replica on a GPU of its own; concurrent requests
  reach the backend's own batching.

Requests are the unit of work rather than (model x task x shard) blocks: the cache, the rate
limit and the budget then hold across the whole cluster without any coordination, and an item is
only ever lost with the request in flight. A worker that dies is restarted by Ray and its
requests in flight are re-sent (``max_restarts``/``max_task_retries``); the run's result equals a
local run's because the driver grades and stores what comes back the same way.

Ray is an optional extra (``pip install 'cothub[ray]'``), imported when ``--ray`` is given.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cothub.errors import BackendError, CothubError
from cothub.models import Backend, Retryable, check_settings, make_backend, parse_model
from cothub.models.replicas import check_replicas, endpoints, same_model
from cothub.types import ApiStyle, Completion, GenerateConfig, Prompt

if TYPE_CHECKING:
    from cothub.run import RunResult

INSTALL_HINT = "pip install 'cothub[ray]' (or pip install 'ray>=2.9')"

_LOCAL = ("hf", "vllm")

_FORWARDED_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "HF_HOME",
    "HF_TOKEN",
)
"""The driver's settings a worker needs to build the same backend (keys go to your cluster)."""

_Result = tuple[str, Any, int]
"""What a worker sends back: ("ok", completions, pid) or ("retry", (kind, reason, retry_after),
pid) or ("error", message, pid). Exceptions are not shipped: ours do not pickle."""


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise CothubError(f"--ray needs the ray package: {INSTALL_HINT}") from None
    return ray


def connect(address: str) -> Any:
    """Join the cluster at ``address`` (``auto``: the one this machine belongs to; ``local``: a
    new one on this machine); an existing connection of this process is kept."""
    ray = import_ray()
    if not ray.is_initialized():
        env = {k: v for k in _FORWARDED_ENV if (v := os.environ.get(k))}
        runtime_env = {"env_vars": env} if env else None
        if address == "local":
            ray.init(include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    return ray


class _Worker:
    """A Ray actor holding one backend (one client, or one model replica)."""

    def __init__(
        self, spec: str, style: ApiStyle, base_url: str | None, model_args: dict[str, str]
    ) -> None:
        self.backend = _build(spec, style, base_url, model_args)

    def identity(self) -> dict[str, object]:
        return dict(self.backend.identity)

    def native_n(self) -> bool:
        return bool(getattr(self.backend, "native_n", True))

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> _Result:
        try:
            return "ok", await self.backend.generate(prompt, config), os.getpid()
        except Retryable as e:
            return "retry", (e.kind, e.reason, e.retry_after), os.getpid()
        except BackendError as e:
            return "error", str(e), os.getpid()

    async def loglikelihood(self, requests: list[tuple[str, str]]) -> _Result:
        try:
            scores = await self.backend.loglikelihood(requests)
            return "ok", scores, os.getpid()
        except BackendError as e:
            return "error", str(e), os.getpid()


def _build(spec: str, style: ApiStyle, base_url: str | None, model_args: dict[str, str]) -> Any:
    parsed = parse_model(spec)
    if model_args:
        from cothub.models.hf import HFBackend, load_options

        return HFBackend(parsed.name, style, options=load_options(model_args))
    return make_backend(parsed, style, base_url)


class RayBackend:
    """A :class:`~cothub.models.Backend` whose requests run on Ray actors; identity, style and
    ``native_n`` are the remote backend's, so cache keys and the run id equal a local run's."""

    def __init__(
        self,
        spec: str,
        style: ApiStyle,
        base_url: str | None = None,
        model_args: dict[str, str] | None = None,
        workers: int | None = None,
        concurrency: int = 32,
        num_gpus: float | None = None,
        replica_urls: Sequence[str] = (),
    ) -> None:
        check_replicas(parse_model(spec), replica_urls)
        urls = endpoints(base_url, replica_urls)
        ray = import_ray()
        self._ray = ray
        local = parse_model(spec).provider in _LOCAL or bool(model_args)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        if num_gpus is None:
            num_gpus = 1.0 if local and gpus >= 1 else 0.0
        if workers is None:  # a replica per GPU for local models; a few clients for APIs
            workers = max(1, int(gpus // num_gpus)) if local and num_gpus else 1 if local else 2
            workers = max(workers, len(urls))  # every endpoint gets an actor of its own
        if workers < len(urls):
            raise CothubError(
                f"{len(urls)} endpoints but {workers} Ray workers: endpoints past the first "
                f"{workers} would get no requests; use at least {len(urls)} workers"
            )
        per_worker = max(1, -(-concurrency // workers))
        actor = ray.remote(_Worker).options(
            num_cpus=1 if local else 0.25,
            num_gpus=num_gpus,
            max_concurrency=per_worker,
            max_restarts=-1,  # a dead worker comes back ...
            max_task_retries=-1,  # ... and its requests in flight are sent again
        )
        self._actors = [
            actor.remote(spec, style, urls[i % len(urls)], model_args or {}) for i in range(workers)
        ]
        self._next = itertools.cycle(range(workers))
        # actor 0 holds --base-url: the identity (run id, cache keys) whatever the replicas
        self._identity: dict[str, object] = same_model(
            ray.get([a.identity.remote() for a in self._actors])
        )
        self.native_n: bool = ray.get(self._actors[0].native_n.remote())
        self._style = style
        self.worker_pids: set[int] = set()
        """Processes that answered (diagnostics; tests kill one)."""
        self.num_gpus = num_gpus
        if local:
            self.loglikelihood = self._loglikelihood

    @property
    def identity(self) -> dict[str, object]:
        return self._identity

    @property
    def style(self) -> ApiStyle:
        return self._style

    @property
    def workers(self) -> int:
        return len(self._actors)

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        result: list[Completion] = await self._send(lambda a: a.generate.remote(prompt, config))
        return result

    async def _loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        result: list[float] = await self._send(lambda a: a.loglikelihood.remote(requests))
        return result

    async def _send(self, call: Callable[[Any], Any]) -> Any:
        actor = self._actors[next(self._next)]
        try:
            status, value, pid = await call(actor)
        except self._ray.exceptions.RayActorError as e:  # gone for good (restarts exhausted)
            raise Retryable("dropped", f"Ray worker lost: {e}") from None
        self.worker_pids.add(int(pid))
        if status == "retry":
            kind, reason, retry_after = value
            raise Retryable(kind, reason, retry_after)
        if status == "error":
            raise BackendError(str(value))
        return value

    async def aclose(self) -> None:
        for a in self._actors:
            self._ray.kill(a)
        await asyncio.sleep(0)


def on_ray(address: str, workers: int | None = None) -> Callable[..., RunResult]:
    """:func:`cothub.api.evaluate` with the requests sent to the Ray cluster at ``address``."""

    def evaluate(
        config: Any,
        model: str,
        base_url: str | None = None,
        data_dir: str | Path | None = None,
        store_path: Path | None = None,
        json_path: Path | None = None,
        show_progress: bool = False,
        model_args: dict[str, str] | None = None,
        replica_urls: Sequence[str] = (),
    ) -> RunResult:
        from cothub.api import preflight, write_json
        from cothub.data.source import DataSource
        from cothub.run import Runner, plan
        from cothub.store import open_store

        spec = parse_model(model)
        preflight(config, [model], base_url, model_args, data_dir)
        check_replicas(spec, replica_urls)
        plans = plan(config, DataSource.resolve(data_dir), config.options.style)
        for p in plans:  # before a worker loads anything
            check_settings(spec.provider, p.config)
        connect(address)
        backend: Backend = RayBackend(
            model,
            config.options.style,
            base_url,
            model_args,
            workers=workers,
            concurrency=config.concurrency,
            replica_urls=replica_urls,
        )
        store = open_store(store_path)
        progress = None
        if show_progress:  # a bar on a terminal, plain lines in a log, as a local run
            from cothub.report.progress import progress_for

            progress = progress_for(str(spec))

        async def go() -> RunResult:
            try:
                return await Runner(backend, store, config, progress).run(plans)
            finally:
                await backend.aclose()

        try:
            result = asyncio.run(go())
        finally:
            store.close()
        if json_path is not None:
            write_json(json_path, result.as_json())
        return result

    return evaluate
