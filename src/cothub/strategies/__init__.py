"""Reasoning strategies, chosen with ``--strategy NAME[:key=value,...]``."""

from __future__ import annotations

import dataclasses
from typing import Any

from cothub.errors import CothubError
from cothub.strategies.base import Outcome, ShapesPrompts, Strategy
from cothub.strategies.complexity import Complexity
from cothub.strategies.least_to_most import LeastToMost
from cothub.strategies.program import Program
from cothub.strategies.self_consistency import SelfConsistency
from cothub.strategies.self_refine import SelfRefine
from cothub.strategies.single import Single

__all__ = ["STRATEGIES", "Outcome", "ShapesPrompts", "Strategy", "parse_strategy"]

STRATEGIES: dict[str, type[Any]] = {
    "single": Single,
    "self-consistency": SelfConsistency,
    "complexity": Complexity,
    "least-to-most": LeastToMost,
    "self-refine": SelfRefine,
    "program": Program,
}


def parse_strategy(spec: str) -> Strategy:
    """``self-consistency:k=8,temperature=0.7`` -> a configured strategy."""
    name, _, rest = spec.strip().partition(":")
    cls = STRATEGIES.get(name)
    if cls is None:
        raise CothubError(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)} "
            "(e.g. --strategy self-consistency:k=8)"
        )
    fields = (
        {f.name: f.type for f in dataclasses.fields(cls) if f.name != "name"}
        if dataclasses.is_dataclass(cls)
        else {}
    )
    kwargs: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in fields:
            known = ", ".join(fields) or "none"
            raise CothubError(f"strategy {name}: bad setting {part!r}; settings: {known}")
        kwargs[key] = _coerce(name, key, value.strip(), str(fields[key]))
    try:
        strategy: Strategy = cls(**kwargs)
    except TypeError as e:
        raise CothubError(f"strategy {name}: {e}; e.g. --strategy self-consistency:k=8") from e
    return strategy


def _coerce(name: str, key: str, value: str, kind: str) -> Any:
    try:
        if "bool" in kind:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if "int" in kind:
            return int(value)
        if "float" in kind:
            return float(value)
    except ValueError:
        raise CothubError(f"strategy {name}: {key}={value!r} is not a valid {kind}") from None
    return value
