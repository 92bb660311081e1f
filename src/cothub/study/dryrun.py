"""``cothub study ... --dry-run``: what a study will cost before it is spent.

Each cell is planned exactly as its run would be (same samples, same prompts, same run id); the
items its run already holds in the store, and single-completion items whose response is in the
cache, are not counted. Prompt tokens are the estimate :func:`cothub.prompts.estimate_tokens`
uses everywhere; completion tokens are the cell's token limit per chain, so the dollars are an
upper bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cothub.cost import PriceTable
from cothub.study.execute import StudySettings, cell_config, grid
from cothub.study.spec import StudySpec

if TYPE_CHECKING:
    from cothub.store import Store
    from cothub.types import SampleRecord


@dataclass(frozen=True, slots=True)
class CellCost:
    """What one (model, cell) run still needs."""

    model: str
    cell: str
    run_id: str
    items: int
    """Items the cell evaluates."""
    stored: int
    """Items already in the store (this run's, or a cached response): no request."""
    requests: int
    prompt_tokens: int
    completion_tokens: int
    """Upper bound: the token limit per chain."""
    usd: float | None
    """At list price; None: the model is not in the price table."""

    def as_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "cell": self.cell,
            "run_id": self.run_id,
            "items": self.items,
            "stored": self.stored,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "usd": self.usd,
        }


def estimate(spec: StudySpec, settings: StudySettings, prices: PriceTable) -> list[CellCost]:
    """The cost of every cell still to run; sends nothing."""
    from cothub.data.source import DataSource
    from cothub.models import make_backend, parse_model
    from cothub.prompts import estimate_tokens
    from cothub.run import cache_key, manifest, plan, run_id_of
    from cothub.store import open_store

    data = DataSource.resolve(settings.data_dir)
    store = open_store(settings.store_path)
    out = []
    try:
        for model, cell in grid(spec, settings):
            config = cell_config(cell, settings)
            plans = plan(config, data, settings.style)
            backend = make_backend(parse_model(model), settings.style, settings.base_url)
            try:
                run_id = run_id_of(manifest(plans, backend, config))
                done = {(r.task, r.sample.id) for r in _records(store, run_id)}
                chains = int(getattr(config.strategy, "k", 1) or 1)
                batched = bool(getattr(config.strategy, "batch", True))
                single = cell.strategy == "single"
                items = stored = requests = prompt_tokens = completion_tokens = 0
                for p in plans:
                    for s in p.samples:
                        items += 1
                        if (p.task.name, s.id) in done:
                            stored += 1
                            continue
                        prompt = p.prompter.render(s)
                        if single and store.cached([cache_key(backend, prompt, p.config)]):
                            stored += 1
                            continue
                        calls = 1 if batched else chains
                        requests += calls
                        prompt_tokens += estimate_tokens(prompt) * calls
                        completion_tokens += p.config.max_tokens * chains
            finally:
                asyncio.run(backend.aclose())
            price = prices.lookup(model)
            usd = None if price is None else price.cost(prompt_tokens, completion_tokens)
            out.append(
                CellCost(
                    model,
                    cell.label,
                    run_id,
                    items,
                    stored,
                    requests,
                    prompt_tokens,
                    completion_tokens,
                    usd,
                )
            )
    finally:
        store.close()
    return out


def _records(store: Store, run_id: str) -> list[SampleRecord]:
    """The run's stored records, or none when the run was never started."""
    if not any(r.run_id == run_id for r in store.runs()):
        return []
    return list(store.records(run_id))
