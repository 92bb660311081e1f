"""What a model is, as the hub's leaderboard groups it: its type (base, sft, rlhf) and size.

These describe the model, not a run: they live in the store keyed by model name, are never part
of a manifest, a run id or a cache key, and can be set or corrected after the fact
(``cothub models set``). Base vs instruction-tuned is one of the axes of the hub's essay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cothub.errors import CothubError

MODEL_TYPES = ("base", "sft", "rlhf")
"""Pretrained only; supervised instruction tuning (the hub's "SIFT"); tuned from feedback."""

_ALIASES = {"sift": "sft"}
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_SIZE = re.compile(r"^(?:(\d+)\s*[x×]\s*)?(\d+(?:\.\d+)?)\s*([KMBT])$", re.IGNORECASE)
_UNKNOWN = ("", "?", "-", "unknown", "n/a")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model's type and size; ``""``: not said."""

    type: str = ""
    size: str = ""

    @property
    def params(self) -> float | None:
        """The size in parameters (8x7B: 56e9, all experts), for sorting; None: not known."""
        return size_params(self.size)

    def as_json(self) -> dict[str, object]:
        return {"type": self.type or None, "size": self.size or None, "params": self.params}


def check_type(value: str, flag: str = "--model-type") -> str:
    """``base``, ``sft`` or ``rlhf`` (any case; the hub's ``SIFT`` reads as ``sft``)."""
    key = value.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MODEL_TYPES:
        raise CothubError(
            f"{flag} {value!r} is not a model type: use one of {', '.join(MODEL_TYPES)} "
            "(base: pretrained only; sft: instruction-tuned; rlhf: tuned from feedback)"
        )
    return key


def check_size(value: str, flag: str = "--model-size") -> str:
    """``7B``, ``1.5B``, ``70B``, ``350M``, ``8x7B`` (mixture of experts), as written upper-case."""
    m = _SIZE.match(value.strip())
    if m is None or float(m.group(2)) <= 0 or (m.group(1) is not None and int(m.group(1)) < 1):
        raise CothubError(
            f"{flag} {value!r} is not a model size: a number of parameters with K, M, B or T "
            "(7B, 1.5B, 70B, 350M), or EXPERTSxSIZE for a mixture (8x7B)"
        )
    experts = f"{int(m.group(1))}x" if m.group(1) else ""
    return f"{experts}{m.group(2)}{m.group(3).upper()}"


def size_params(size: str) -> float | None:
    """Parameters a size label stands for; None for an unknown one (``""``, ``?``)."""
    m = _SIZE.match(size.strip())
    if m is None:
        return None
    return int(m.group(1) or 1) * float(m.group(2)) * _UNITS[m.group(3).upper()]


def published_info(type_: str, size: str) -> ModelInfo:
    """A published leaderboard row's type (Base, SIFT, RLHF) and size (``?``: unknown), read as
    leniently as they were transcribed: what is not understood is left unsaid."""
    key = _ALIASES.get(type_.strip().lower(), type_.strip().lower())
    clean = size.strip()
    known = clean.lower() not in _UNKNOWN and _SIZE.match(clean) is not None
    return ModelInfo(key if key in MODEL_TYPES else "", check_size(clean) if known else "")
