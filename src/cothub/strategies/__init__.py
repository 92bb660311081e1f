"""Reasoning strategies, chosen with ``--strategy NAME[:key=value,...]``.

The registry is open: :func:`register_strategy` (a class decorator) adds one, and other packages
add theirs through the ``cothub.strategies`` entry-point group (see :mod:`cothub._registry`). A
strategy is a class whose instances follow :class:`Strategy`; as a dataclass its typed fields are
its ``--strategy`` settings, parsed and checked here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, TypeVar

from cothub._registry import Registry
from cothub.errors import CothubError
from cothub.strategies.base import Outcome, ShapesPrompts, SolveContext, Strategy

__all__ = [
    "STRATEGIES",
    "Outcome",
    "ShapesPrompts",
    "SolveContext",
    "Strategy",
    "parse_strategy",
    "register_strategy",
    "strategy_help",
]

C = TypeVar("C", bound=type[Any])


def _as_strategy(name: str, obj: Any) -> type[Any]:
    if not callable(obj):
        raise CothubError(
            f"strategy {name!r} is a {type(obj).__name__}; register a strategy class (a "
            "dataclass whose fields are its settings)"
        )
    return obj  # type: ignore[no-any-return]


STRATEGIES: Registry[type[Any]] = Registry("strategy", "cothub.strategies", _as_strategy)
STRATEGIES.register("single", "cothub.strategies.single:Single")
STRATEGIES.register("self-consistency", "cothub.strategies.self_consistency:SelfConsistency")
STRATEGIES.register("complexity", "cothub.strategies.complexity:Complexity")
STRATEGIES.register("least-to-most", "cothub.strategies.least_to_most:LeastToMost")
STRATEGIES.register("self-refine", "cothub.strategies.self_refine:SelfRefine")
STRATEGIES.register("program", "cothub.strategies.program:Program")

_USAGE = {
    "self-consistency": "self-consistency:k=K[,temperature=T,top_p=P,batch=B]",
    "self-refine": "self-refine:rounds=R[,max_feedback_tokens=N]",
    "complexity": "complexity:k=K[,m=M,temperature=T,select=complexity|random,batch=B]",
    "least-to-most": "least-to-most[:max_subquestions=N]",
    "program": "program[:timeout=S,memory_mb=M,site_packages=B]",
}
"""How ``--strategy`` help writes the built-in strategies; others are written from their fields."""


def register_strategy(name: str) -> Callable[[C], C]:
    """Class decorator: ``@register_strategy("my-vote")`` makes ``--strategy my-vote:k=3`` build
    ``MyVote(k=3)``."""

    def add(cls: C) -> C:
        STRATEGIES.register(name, cls, origin=cls.__module__)
        return cls

    return add


def _settings(cls: type[Any]) -> dict[str, Any]:
    if not dataclasses.is_dataclass(cls):
        return {}
    return {f.name: f.type for f in dataclasses.fields(cls) if f.name != "name"}


def strategy_help() -> str:
    """Every registered strategy with its settings, for ``--strategy``'s help."""
    parts = []
    for name in STRATEGIES:
        if name in _USAGE or name == "single":
            parts.append(_USAGE.get(name, name))
            continue
        settings = ",".join(f"{k}=..." for k in _settings(STRATEGIES[name]))
        parts.append(f"{name}[:{settings}]" if settings else name)
    return ", ".join(parts[:-1]) + ", or " + parts[-1] + "."


def parse_strategy(spec: str) -> Strategy:
    """``self-consistency:k=8,temperature=0.7`` -> a configured strategy."""
    name, _, rest = spec.strip().partition(":")
    cls = STRATEGIES.get(name)
    if cls is None:
        raise STRATEGIES.unknown(name, " (e.g. --strategy self-consistency:k=8)")
    fields = _settings(cls)
    kwargs: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in fields:
            known = ", ".join(fields) or "none"
            raise CothubError(f"strategy {name}: bad setting {part!r}; settings: {known}")
        try:
            kwargs[key] = _coerce(name, key, value.strip(), str(fields[key]))
        except _OutOfRange as e:
            fixed = spec.strip().replace(part, f"{key}={_EXAMPLES.get(key, '1')}", 1)
            raise CothubError(
                f"--strategy {name}: {key}={value.strip()!r} must be {e}; e.g. --strategy {fixed}"
            ) from None
    try:
        strategy: Strategy = cls(**kwargs)
    except TypeError as e:
        raise CothubError(f"strategy {name}: {e}; e.g. --strategy self-consistency:k=8") from e
    except CothubError as e:
        raise CothubError(f"--strategy {spec.strip()!r}: {e}") from e
    return strategy


_RANGES: dict[str, tuple[float, float, str]] = {
    "temperature": (0.0, 2.0, "a number from 0 to 2"),
    "top_p": (0.0, 1.0, "a number above 0, at most 1"),
}


def _coerce(name: str, key: str, value: str, kind: str) -> Any:
    try:
        if "bool" in kind:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        if "int" in kind:
            return int(value)
        if "float" in kind:
            number = float(value)
            low, high, want = _RANGES.get(key, (0.0, math.inf, "a positive number"))
            if not (math.isfinite(number) and low <= number <= high) or (
                key == "top_p" and number == 0
            ):
                raise _OutOfRange(want)
            return number
    except ValueError:
        raise CothubError(f"strategy {name}: {key}={value!r} is not a valid {kind}") from None
    return value


_EXAMPLES = {"temperature": "0.7", "top_p": "0.95", "timeout": "5"}


class _OutOfRange(Exception):
    """A number that parses but cannot be used (nan, inf, negative, past its range)."""
