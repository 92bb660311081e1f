"""What a run costs: prices per model, cost per item and per correct answer, the --max-cost budget.

Prices are list prices in USD per million tokens from the package's ``data/prices.json``; a user
file (``--prices FILE``, else ``$COTHUB_PRICES``, same schema) is consulted before it. A model
without a price costs ``None`` (unknown), never 0: a local model is unpriced, not free.

Tokens are what the server reported. Reasoning (thinking) tokens are counted inside completion
tokens by OpenAI and Anthropic alike, so they are priced instead of, not on top of, completion
tokens.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from cothub.errors import CothubError
from cothub.types import Accounting, Completion, SampleRecord, TokensPerItem

PRICES_ENV = "COTHUB_PRICES"
_EXAMPLE = '{"models": {"openai/my-model*": {"prompt": 0.5, "completion": 1.5}}}'


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens of one model."""

    prompt: float
    completion: float
    reasoning: float
    """Thinking tokens (a part of the completion tokens); the completion price unless given."""

    def cost(self, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> float:
        """USD for these token counts."""
        visible = max(0, completion_tokens - reasoning_tokens)
        return (
            self.prompt * prompt_tokens
            + self.completion * visible
            + self.reasoning * reasoning_tokens
        ) / 1e6


Rules = tuple[tuple[str, Price], ...]
"""(pattern, price) pairs of one price file, patterns lower-cased."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Price rules in priority order: the user's file first, then the built-in table."""

    layers: tuple[Rules, ...]

    def lookup(self, model: str) -> Price | None:
        """The price of ``provider/model``: the first layer with a matching rule decides."""
        name = model.strip().lower()
        for rules in self.layers:
            found = _match(rules, name)
            if found is not None:
                return found
        return None


def _match(rules: Rules, name: str) -> Price | None:
    """An exact name wins; else the matching pattern with the most literal characters."""
    best: tuple[int, Price] | None = None
    for pattern, price in rules:
        if pattern == name:
            return price
        if any(ch in pattern for ch in "*?[") and fnmatchcase(name, pattern):
            literal = len(pattern) - sum(pattern.count(ch) for ch in "*?")
            if best is None or literal > best[0]:
                best = (literal, price)
    return best[1] if best is not None else None


def load_prices(path: Path | None = None) -> PriceTable:
    """The built-in table, under ``path`` (or ``$COTHUB_PRICES``) when one is given."""
    if path is None and os.environ.get(PRICES_ENV):
        path = Path(os.environ[PRICES_ENV]).expanduser()
    if path is None:
        return PriceTable((_builtin(),))
    return PriceTable((_read_file(path), _builtin()))


def builtin_prices_text() -> str:
    """The shipped price file, read through the package's resources (works from a wheel)."""
    return resources.files("cothub.data").joinpath("prices.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _builtin() -> Rules:
    return _parse(json.loads(builtin_prices_text()), "the built-in price table")


def _read_file(path: Path) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CothubError(f"cannot read price file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise CothubError(
            f"price file {path} is not UTF-8 text ({e.reason}); re-save it as UTF-8 JSON"
        ) from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CothubError(
            f"price file {path} is not valid JSON ({e.msg} at line {e.lineno}); expected {_EXAMPLE}"
        ) from e
    return _parse(data, f"price file {path}")


def _parse(data: object, where: str) -> Rules:
    """Check the schema strictly: a typo such as ``completion_price`` must not price at 0."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise CothubError(f'{where} needs a "models" object; expected {_EXAMPLE}')
    extra = [k for k in data if k != "models" and not str(k).startswith("_")]
    if extra:
        raise CothubError(f"{where} has unknown key {extra[0]!r}; expected {_EXAMPLE}")
    rules = []
    for pattern, entry in data["models"].items():
        if not isinstance(entry, dict):
            raise CothubError(f"{where}: {pattern!r} must be an object; expected {_EXAMPLE}")
        unknown = [
            k for k in entry if k not in ("prompt", "completion", "reasoning") and k[:1] != "_"
        ]
        if unknown or "prompt" not in entry or "completion" not in entry:
            raise CothubError(
                f"{where}: {pattern!r} needs numbers prompt and completion (optional reasoning), "
                f"USD per million tokens" + (f"; unknown key {unknown[0]!r}" if unknown else "")
            )
        values = {k: _usd(where, pattern, k, v) for k, v in entry.items() if k[:1] != "_"}
        price = Price(
            values["prompt"], values["completion"], values.get("reasoning", values["completion"])
        )
        rules.append((pattern.strip().lower(), price))
    return tuple(rules)


def _usd(where: str, pattern: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CothubError(f"{where}: {pattern!r} {key} must be a number, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise CothubError(f"{where}: {pattern!r} {key} must be a finite number >= 0")
    return float(value)


def check_priced(table: PriceTable, models: Iterable[str]) -> None:
    """``--max-cost`` needs a price for every model, checked before anything is sent."""
    for model in models:
        if table.lookup(model) is None:
            raise CothubError(
                f"--max-cost needs a price for {model}, and the price table has none; "
                f'add one with --prices FILE, e.g. {{"models": {{"{model}": '
                '{"prompt": 1.0, "completion": 2.0}}}'
            )


# ---- per-item accounting ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemUsage:
    """What producing one stored sample took, whenever it was produced."""

    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    requests: int | None
    """Requests behind the sample; None when unknown (imported, or stored before schema 3)."""
    correct: bool

    @classmethod
    def of(cls, r: SampleRecord) -> ItemUsage:
        c = r.completion
        return cls(
            c.prompt_tokens, c.completion_tokens, c.reasoning_tokens, r.requests, r.grade.correct
        )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ItemUsage:
        """From a store row (``Store.sample_usage``)."""
        requests = row.get("requests")
        return cls(
            int(row["prompt_tokens"]),
            int(row["completion_tokens"]),
            int(row["reasoning_tokens"]),
            None if requests is None else int(requests),
            bool(row["correct"]),
        )


def total_cost(items: Iterable[ItemUsage], price: Price | None) -> float | None:
    if price is None:
        return None
    return sum(price.cost(i.prompt_tokens, i.completion_tokens, i.reasoning_tokens) for i in items)


def accounting(items: Sequence[ItemUsage], price: Price | None) -> Accounting:
    """Per-task means: tokens, requests and cost per item, cost per correct answer.

    Every mean is None when it cannot be known: no items, an unpriced model, a sample whose
    request count was never recorded, or (for cost per correct) no correct answer.
    """
    n = len(items)
    correct = sum(i.correct for i in items)
    cost = total_cost(items, price)
    requests = [i.requests for i in items]
    known = [r for r in requests if r is not None]

    def mean(total: float) -> float | None:
        return total / n if n else None

    tokens = TokensPerItem(
        prompt=mean(sum(i.prompt_tokens for i in items)),
        completion=mean(sum(i.completion_tokens for i in items)),
        reasoning=mean(sum(i.reasoning_tokens for i in items)),
    )
    return Accounting(
        tokens_per_item=tokens,
        requests_per_item=mean(sum(known)) if len(known) == n else None,
        cost_usd=cost,
        cost_per_item=mean(cost) if cost is not None else None,
        cost_per_correct=cost / correct if cost is not None and correct else None,
    )


# ---- the --max-cost budget ----------------------------------------------------------------------


class BudgetReached(Exception):
    """Raised instead of sending a request once a run's budget is spent (control flow only)."""


class Budget:
    """USD a run has cost so far against its ``--max-cost``.

    It counts the run's samples already in the store when the invocation began plus every request
    this invocation completes; completions served from the cache are free. Requests in flight when
    the budget is reached still finish, so a run may exceed it by up to ``--concurrency`` requests.
    """

    def __init__(self, limit: float, price: Price, spent: float = 0.0) -> None:
        self.limit = limit
        self.price = price
        self.spent = spent

    def check(self) -> None:
        """Call before sending a new request."""
        if self.spent >= self.limit:
            raise BudgetReached

    def spend(self, completions: Sequence[Completion]) -> None:
        """Add one response's tokens (summed over its choices)."""
        self.spent += sum(
            self.price.cost(c.prompt_tokens, c.completion_tokens, c.reasoning_tokens)
            for c in completions
        )
