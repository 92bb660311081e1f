"""Scale-out: deterministic shards for any batch scheduler, merging shard stores, planning a run
before it spends anything, and a Ray execution mode (``cothub[ray]``, imported lazily).

Never write one SQLite file from several machines: each shard writes its own store file, and
``cothub merge`` unions them afterwards.
"""

from __future__ import annotations

from cothub.scale.shard import Shard, parse_shard, shard_of

__all__ = ["Shard", "parse_shard", "shard_of"]
