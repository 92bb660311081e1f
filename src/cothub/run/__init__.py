"""Running an evaluation: spec -> plan -> manifest -> one execute loop -> summary.

- :mod:`cothub.run.spec`: what a run was asked for (:class:`RunConfig`) and gives back
  (:class:`RunResult`, :class:`Usage`);
- :mod:`cothub.run.plan`: task names -> samples, prompt renderers, resolved settings;
- :mod:`cothub.run.manifest`: the manifest, the run id and the cache keys (stable hashes);
- :mod:`cothub.run.layers`: pacing, retries, budget, fan-out and the cache, wrapped around the
  backend;
- :mod:`cothub.run.cache`: where an item's requests are answered from (memory, an identical
  request in flight, the store, another process's lease, or the backend);
- :mod:`cothub.run.execute`: the :class:`Runner`, one loop in which the strategy solves each
  item, graded and committed as it finishes;
- :mod:`cothub.run.summary`: per-task summaries.

``cothub import`` is a run too: its plan holds the matched items, its manifest the source files,
and its strategy (:mod:`cothub.strategies.replay`) answers each item with its recorded
completion through the same loop, so an import is stored, graded and summarised as runs are.
"""

from cothub.run.execute import Runner
from cothub.run.manifest import (
    cache_key,
    cache_key_of,
    manifest,
    run_id_of,
    score_key,
    task_manifest,
)
from cothub.run.plan import TaskPlan, plan
from cothub.run.spec import (
    ItemFailed,
    NoProgress,
    Progress,
    RetryPolicy,
    RunConfig,
    RunResult,
    Scoring,
    Usage,
)

__all__ = [
    "ItemFailed",
    "NoProgress",
    "Progress",
    "RetryPolicy",
    "RunConfig",
    "RunResult",
    "Runner",
    "Scoring",
    "TaskPlan",
    "Usage",
    "cache_key",
    "cache_key_of",
    "manifest",
    "plan",
    "run_id_of",
    "score_key",
    "task_manifest",
]
