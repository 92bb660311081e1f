"""``cothub plan RUN-ARGS``: what ``cothub run RUN-ARGS`` would send, without sending anything.

Per model and task: items (after ``--limit``/``--shard``), distinct requests still to send,
answers the store's cache already holds, estimated tokens and dollars. Prompt tokens are the one
estimate of :func:`cothub.prompts.estimate_tokens`; completion tokens are bounded by
``max_tokens`` and estimated from the cached answers of the same task where there are some.
Multi-request strategies (self-consistency, self-refine ...) count their first request only,
marked ``at least``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from cothub.cost import load_prices
from cothub.data.source import DataSource
from cothub.models import ModelSpec, make_backend, parse_model
from cothub.prompts import estimate_tokens
from cothub.run import RunConfig, TaskPlan, cache_key, plan, score_key
from cothub.run.layers import native_n
from cothub.store import open_store
from cothub.strategies.single import Single

_LOCAL = ("hf", "vllm")
"""Providers whose backend loads a model: not built for a plan (their cache is not checked)."""


@dataclass(frozen=True, slots=True)
class TaskEstimate:
    """What one task of one model's run would send."""

    model: str
    task: str
    items: int
    requests: int
    """Distinct requests not in the cache (identical prompts are sent once)."""
    cache_hits: int
    """Items whose answer the cache already holds."""
    prompt_tokens: int
    completion_tokens: int
    """Estimated: the mean of this task's cached answers, else ``completion_tokens_max``."""
    completion_tokens_max: int
    cost_usd: float | None
    """At ``completion_tokens``; None: the model has no price (``--prices``)."""
    cost_usd_max: float | None
    at_least: bool
    """A multi-request strategy: only its first request per item is counted."""
    cache_checked: bool

    def as_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "task": self.task,
            "items": self.items,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "completion_tokens_max": self.completion_tokens_max,
            "cost_usd": self.cost_usd,
            "cost_usd_max": self.cost_usd_max,
            "at_least": self.at_least,
            "cache_checked": self.cache_checked,
        }


def plan_run(
    config: RunConfig,
    models: list[str],
    base_url: str | None = None,
    data_dir: str | Path | None = None,
    store_path: Path | None = None,
) -> list[TaskEstimate]:
    """Estimate ``cothub run`` of ``config`` on every model; nothing is sent or written."""
    data = DataSource.resolve(data_dir)
    plans = plan(config, data, config.options.style)
    out: list[TaskEstimate] = []
    for text in models:
        out.extend(_model_plan(config, parse_model(text), plans, base_url, store_path))
    return out


def _model_plan(
    config: RunConfig,
    spec: ModelSpec,
    plans: list[TaskPlan],
    base_url: str | None,
    store_path: Path | None,
) -> list[TaskEstimate]:
    price = (config.prices or load_prices()).lookup(str(spec))
    backend = (
        None if spec.provider in _LOCAL else make_backend(spec, config.options.style, base_url)
    )
    store = open_store(store_path, readonly=True)
    out = []
    try:
        for p in plans:
            samples = [
                s
                for s in p.samples
                if config.shard is None or config.shard.keeps(p.task.name, s.id)
            ]
            prompts = [p.prompter.render(s) for s in samples]
            gen = config.strategy.first_config(p.config)
            fan = 1 if backend is None or native_n(backend) else gen.n
            keys: list[str] = []
            hits: dict[str, int] = {}  # key -> completion tokens of the cached answer
            if backend is not None:
                if config.scoring == "loglikelihood":
                    for s, pr in zip(samples, prompts, strict=True):
                        keys.append(score_key(backend, pr, tuple(p.task.choices(s, p.fmt) or ())))
                    hits = dict.fromkeys(store.cached_scores(sorted(set(keys))), 0)
                else:
                    keys = [cache_key(backend, pr, gen) for pr in prompts]
                    cached = store.cached(sorted(set(keys)))
                    hits = {k: sum(c.completion_tokens for c in cs) for k, cs in cached.items()}
            else:
                keys = [str(i) for i in range(len(prompts))]
            tokens = {k: estimate_tokens(pr) for k, pr in zip(keys, prompts, strict=True)}
            to_send = [k for k in dict.fromkeys(keys) if k not in hits]
            prompt_tokens = sum(tokens[k] for k in to_send) * fan
            most = gen.max_tokens * gen.n
            mean = sum(hits.values()) / len(hits) if hits and any(hits.values()) else float(most)
            comp_est = round(min(mean, most) * len(to_send))
            comp_max = most * len(to_send)
            out.append(
                TaskEstimate(
                    model=str(spec),
                    task=p.task.name,
                    items=len(samples),
                    requests=len(to_send) * fan,
                    cache_hits=sum(1 for k in keys if k in hits),
                    prompt_tokens=prompt_tokens,
                    completion_tokens=comp_est,
                    completion_tokens_max=comp_max,
                    cost_usd=None if price is None else price.cost(prompt_tokens, comp_est),
                    cost_usd_max=None if price is None else price.cost(prompt_tokens, comp_max),
                    at_least=not isinstance(config.strategy, Single),
                    cache_checked=backend is not None,
                )
            )
    finally:
        store.close()
        if backend is not None:
            asyncio.run(backend.aclose())
    return out


def plan_lines(estimates: list[TaskEstimate]) -> list[str]:
    """The plan as lines for a terminal; nothing was sent."""

    def usd(v: float | None) -> str:
        return "unpriced" if v is None else f"${v:.4f}"

    lines = []
    for e in estimates:
        more = "at least " if e.at_least else ""
        hits = f"{e.cache_hits} cached" if e.cache_checked else "cache not checked (local model)"
        lines.append(
            f"{e.model} {e.task}: {e.items} items, {more}{e.requests} requests to send, {hits}; "
            f"~{e.prompt_tokens} prompt + ~{e.completion_tokens} completion tokens "
            f"(at most {e.completion_tokens_max}); {usd(e.cost_usd)} "
            f"(at most {usd(e.cost_usd_max)})"
        )
    total_req = sum(e.requests for e in estimates)
    priced = [e for e in estimates if e.cost_usd is not None]
    cost = sum(e.cost_usd or 0.0 for e in priced)
    cost_max = sum(e.cost_usd_max or 0.0 for e in priced)
    lines.append(
        f"total: {total_req} requests, ~${cost:.4f} (at most ${cost_max:.4f})"
        + ("" if len(priced) == len(estimates) else ", some models unpriced")
        + "; nothing was sent"
    )
    return lines
