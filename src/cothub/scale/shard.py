"""``--shard I/N``: a deterministic slice of a run's items, the same on every machine.

An item belongs to shard ``sha256(task NUL item_id) mod N``: it depends on nothing but the item's
key (never on Python's salted ``hash``, the order items were loaded in, the host or the time), so
every job of a batch array computes the same partition, and a shard resumed after a crash picks
exactly the same items again. The shard is not part of the run manifest: all shards of a run share
its run id, and ``cothub merge`` unions their stores into the run an unsharded command makes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cothub.errors import CothubError

_INDEX_VARS = (
    ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN"),
    ("JOB_COMPLETION_INDEX", None),  # Kubernetes Indexed Job: 0 .. completions-1
)
"""Where ``--shard auto/N`` finds its index: (variable, the variable of the array's first id)."""


@dataclass(frozen=True, slots=True)
class Shard:
    """One slice of a run: the items whose key hashes to ``index`` modulo ``count``."""

    index: int
    """0-based: ``0 <= index < count``."""
    count: int
    """How many shards the run is split into."""

    def keeps(self, task: str, item_id: str) -> bool:
        """Whether item ``item_id`` of ``task`` is in this shard."""
        return shard_of(task, item_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(task: str, item_id: str, count: int) -> int:
    """The shard (0 .. count-1) item ``item_id`` of ``task`` belongs to."""
    digest = hashlib.sha256(f"{task}\0{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str, env: Mapping[str, str] | None = None) -> Shard:
    """``I/N`` (0-based I), or ``auto/N``: I from ``$SLURM_ARRAY_TASK_ID`` (minus
    ``$SLURM_ARRAY_TASK_MIN``, so ``--array=1-4`` works too) or Kubernetes'
    ``$JOB_COMPLETION_INDEX``."""
    environ = os.environ if env is None else env
    head, sep, tail = text.strip().partition("/")
    if not sep or not tail.strip().isdigit() or int(tail) < 1:
        raise CothubError(f"--shard {text!r} is not I/N (e.g. 0/4, or auto/4 in a batch array)")
    count = int(tail)
    if head.strip().lower() == "auto":
        index = _index_from_env(environ, text)
    elif head.strip().isdigit():
        index = int(head)
    else:
        raise CothubError(f"--shard {text!r}: I is a whole number from 0 or 'auto'")
    if not 0 <= index < count:
        raise CothubError(
            f"--shard {text!r}: the index is {index}, outside 0..{count - 1} (shards count from 0)"
        )
    return Shard(index, count)


def _index_from_env(env: Mapping[str, str], text: str) -> int:
    for var, first_var in _INDEX_VARS:
        raw = env.get(var, "").strip()
        if not raw:
            continue
        if not raw.isdigit():
            raise CothubError(f"--shard {text}: ${var} is {raw!r}, not a whole number")
        first = env.get(first_var, "").strip() if first_var else ""
        return int(raw) - (int(first) if first.isdigit() else 0)
    raise CothubError(
        f"--shard {text}: neither $SLURM_ARRAY_TASK_ID (a Slurm job array) nor "
        "$JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give the index, e.g. --shard 0/4"
    )
