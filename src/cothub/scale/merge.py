"""``cothub merge OUT.db SHARD.db ...``: union shard stores into the run an unsharded command
makes.

Idempotent: every copy is keyed (a sample by run, task and item; a cached completion by its
content hash), so merging a shard twice, or merging it again after it was resumed from a crash,
gives the same store. Shards must hold the same run manifest (its hash is the run id; the shard
is not part of it); a store of another run is refused with one line naming both. What is still
missing is reported item by item: items a merged shard was given but has no sample for (killed,
stopped by --max-cost, failed every retry), and whole shards no store was given for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cothub.errors import CothubError
from cothub.store import Store, open_store
from cothub.store.shards import (
    ShardContent,
    copy_shard,
    finish_merge,
    merged_items,
    read_shard,
    run_ids,
    shards_seen,
)
from cothub.types import RunManifest

_NOT_COMPARED = ("started_at", "grader", "paths")


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What ``cothub merge`` did and what the merged run still lacks."""

    run_id: str
    out: Path
    shards: tuple[tuple[str, str], ...]
    """(store path, ``I/N`` or ``-`` for a store run without --shard), in the order given."""
    added_samples: int
    added_completions: int
    items: dict[str, tuple[int, int]]
    """Task -> (samples in the merged run, items the manifest plans)."""
    missing_items: tuple[tuple[str, str], ...]
    """(task, item id) a merged shard was given and has no sample for."""
    missing_shards: tuple[str, ...]
    """``I/N`` of shards no given store ran."""
    failed: tuple[tuple[str, str], ...]
    """Missing items whose last attempt failed every retry."""
    conflicts: tuple[tuple[str, str], ...]
    """Items two stores both hold with different completions or verdicts (first kept)."""
    status: str
    warnings: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "out": str(self.out),
            "status": self.status,
            "shards": [{"store": p, "shard": s} for p, s in self.shards],
            "added": {"samples": self.added_samples, "completions": self.added_completions},
            "items": {t: {"stored": a, "planned": b} for t, (a, b) in self.items.items()},
            "missing_items": [{"task": t, "item_id": i} for t, i in self.missing_items],
            "missing_shards": list(self.missing_shards),
            "failed": [{"task": t, "item_id": i} for t, i in self.failed],
            "conflicts": [{"task": t, "item_id": i} for t, i in self.conflicts],
            "warnings": list(self.warnings),
        }

    def lines(self, limit: int = 20) -> list[str]:
        """The human report: one line per fact, long lists cut at ``limit``."""
        out = [
            f"merged {len(self.shards)} store(s) into {self.out}: run {self.run_id}, "
            f"{self.added_samples} new sample(s), {self.added_completions} new cached "
            f"completion(s); status {self.status}"
        ]
        for task, (stored, planned) in self.items.items():
            out.append(f"  {task}: {stored}/{planned} items")
        if self.missing_shards:
            out.append("  shards not merged: " + ", ".join(self.missing_shards))
        if self.missing_items:
            shown = ", ".join(f"{t}/{i}" for t, i in self.missing_items[:limit])
            more = len(self.missing_items) - limit
            tail = f" and {more} more (--json lists all)" if more > 0 else ""
            out.append(f"  {len(self.missing_items)} item(s) missing: {shown}{tail}")
            out.append("  re-run the shard's command (same --shard, same --store) to finish them")
        if self.failed:
            out.append(f"  {len(self.failed)} of them failed every retry in their last attempt")
        if self.conflicts:
            out.append(
                f"  {len(self.conflicts)} item(s) differ between stores (first merged kept): "
                + ", ".join(f"{t}/{i}" for t, i in self.conflicts[:limit])
            )
        out.extend(f"  warning: {w}" for w in self.warnings)
        return out


def merge(out_path: Path, shard_paths: Sequence[Path], run: str | None = None) -> MergeReport:
    """Union the run held by each of ``shard_paths`` into the store at ``out_path``."""
    if not shard_paths:
        raise CothubError("cothub merge needs at least one shard store: OUT.db SHARD.db ...")
    for p in shard_paths:
        if not p.is_file():
            raise CothubError(f"shard store {p} does not exist; check the path")
        if out_path.exists() and p.resolve() == out_path.resolve():
            raise CothubError(f"{p} is both the output and a shard; merge into a new file")
    run_id = _pick_run(shard_paths, run)
    contents = [_read(p, run_id) for p in shard_paths]
    warnings = _check_same_run(contents)
    store = open_store(out_path)
    try:
        _check_out(store, run_id, contents[0])
        added_s = added_c = 0
        conflicts: list[tuple[str, str]] = []
        for c in contents:
            counts = copy_shard(store, c)
            added_s += counts.samples
            added_c += counts.completions
            conflicts.extend(counts.conflicts)
        report = _settle(store, run_id, contents, added_s, added_c, tuple(conflicts), warnings)
    finally:
        store.close()
    return report


def _read(path: Path, run_id: str) -> ShardContent:
    """``run_id`` of the store at ``path``; a store holding one other run is read too, so that
    the manifest check names what differs."""
    held = run_ids(path)
    return read_shard(path, held[0] if run_id not in held and len(held) == 1 else run_id)


def _pick_run(paths: Sequence[Path], run: str | None) -> str:
    """The run the shards hold: ``--run`` (an id or unique prefix), else the one run of the
    first store."""
    held = run_ids(paths[0])
    if run is not None:
        found = [r for r in held if r.startswith(run)]
        if len(found) != 1:
            what = "no run" if not found else "several runs"
            raise CothubError(f"{paths[0]} holds {what} matching {run!r}; check --run")
        return found[0]
    if len(held) != 1:
        raise CothubError(
            f"{paths[0]} holds {len(held)} runs; name the one to merge with --run RUN_ID "
            "(`cothub runs --store PATH` lists them)"
        )
    return held[0]


def _core(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if k not in _NOT_COMPARED}


def _check_same_run(contents: list[ShardContent]) -> tuple[str, ...]:
    """Every store holds the same run manifest; different grader releases are only warned of."""
    first = contents[0]
    warnings = []
    for c in contents:
        if _core(c.manifest) != _core(first.manifest):
            diff = sorted(
                k
                for k in set(_core(c.manifest)) | set(_core(first.manifest))
                if c.manifest.get(k) != first.manifest.get(k)
            )
            raise CothubError(
                f"{c.path} and {first.path} hold different run manifests ({', '.join(diff)} "
                "differ): shards of one run are the same command with another --shard"
            )
        if c.manifest.get("grader") != first.manifest.get("grader"):
            warnings.append(
                f"{c.path} was graded by {c.manifest.get('grader')}, {first.path} by "
                f"{first.manifest.get('grader')}; `cothub rescore` the merged run to grade "
                "all of it alike"
            )
    counts = {n for c in contents for _, n in c.shards}
    if len(counts) > 1:
        raise CothubError(
            "the stores were sharded different ways (--shard .../"
            + ", .../".join(str(n) for n in sorted(counts))
            + "); their slices overlap and leave gaps: merge shards of one split"
        )
    return tuple(warnings)


def _check_out(store: Store, run_id: str, first: ShardContent) -> None:
    """An output store that already holds the run must hold the same manifest."""
    if run_id not in {r.run_id for r in store.runs()}:
        return
    have = store.run(run_id).manifest.as_json()
    if _core(have) != _core(first.manifest):
        raise CothubError(
            f"the output store already holds run {run_id} with another manifest; merge into a "
            "new file"
        )


def _settle(
    store: Store,
    run_id: str,
    contents: list[ShardContent],
    added_s: int,
    added_c: int,
    conflicts: tuple[tuple[str, str], ...],
    warnings: tuple[str, ...],
) -> MergeReport:
    """Status and summary of the merged run, from everything merged into it so far."""
    man = RunManifest.from_json(contents[0].manifest)
    planned, done = merged_items(store, run_id)
    seen = shards_seen(store, run_id)
    counts = {n for _, n in seen}
    missing_shards: tuple[str, ...] = ()
    if len(counts) == 1:
        n = counts.pop()
        missing_shards = tuple(f"{i}/{n}" for i in range(n) if (i, n) not in seen)
    missing = tuple(sorted(planned - done))
    failed_rows = {(f.task, f.item_id) for f in store.failures(run_id)}
    per_task = {name: (0, entry.items) for name, entry in man.tasks}
    for task, _ in done:
        stored, items = per_task.get(task, (0, 0))
        per_task[task] = (stored + 1, items)
    complete = all(stored >= items for stored, items in per_task.values())
    status = "complete" if complete and not missing and not missing_shards else "incomplete"
    finish_merge(store, run_id, status, _summary(store, run_id))
    shard_names = []
    for c in contents:
        names = sorted(c.shards)
        shard_names.append((str(c.path), ",".join(f"{i}/{n}" for i, n in names) or "-"))
    return MergeReport(
        run_id=run_id,
        out=store.path,
        shards=tuple(shard_names),
        added_samples=added_s,
        added_completions=added_c,
        items=per_task,
        missing_items=missing,
        missing_shards=missing_shards,
        failed=tuple(sorted(failed_rows & set(missing))),
        conflicts=conflicts,
        status=status,
        warnings=warnings,
    )


def _summary(store: Store, run_id: str) -> dict[str, object] | None:
    """The merged run's summaries, computed as a rescore computes them from stored samples.

    Records are put in item order first, so the float sums do not depend on which shard was
    merged first."""
    from cothub.rescoring import _strategy, _summaries, _task

    row = store.run(run_id)
    tasks = {name: _task(name, entry) for name, entry in row.manifest.tasks}
    records = sorted(store.records(run_id), key=lambda r: (r.task, r.sample.id))
    if not records:
        return None
    sums = _summaries(row.manifest, tasks, records, _strategy(row.manifest), row)
    return {k: v.as_json() for k, v in sums.items()}
