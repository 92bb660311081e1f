"""What a run records of itself, and the keys that identify runs and responses.

The hashes here are the identity of stored data: a run id is a hash of the manifest's JSON, a
cache key a hash of what determines a response. Their inputs and serialisation never change, so
that a store filled by an older release serves the same command with zero requests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from cothub import __version__
from cothub.models import Backend
from cothub.run.plan import TaskPlan
from cothub.run.spec import RunConfig
from cothub.tasks import task_params
from cothub.types import GenerateConfig, ModelId, Prompt, RunManifest, StrategyId, TaskManifest


def task_manifest(p: TaskPlan, config: RunConfig | None = None) -> TaskManifest:
    """What a run's manifest records of one task: version, format, exemplars, data hashes (and,
    given the run's config, its selection and settings; imports record none)."""
    params = task_params(p.task)
    return TaskManifest(
        version=p.task.version,
        citation=p.task.citation,
        format=p.fmt,
        subsets=tuple(p.subsets),
        items=len(p.samples),
        exemplars=(p.prompter.exemplar_source, p.prompter.exemplar_hash),
        data=tuple(p.provenance.items()),
        # only then (``math:levels=5``): runs without any keep the ids they always had
        params=tuple(params.items()) if params else None,
        where=None if config is None else config.where,
        generation=None if config is None else p.config,
        # only with --perturb, --shots or --system-prompt: other runs keep the ids they had
        extra=_perturbation(p) + _prompt_settings(config),
    )


def _prompt_settings(config: RunConfig | None) -> tuple[tuple[str, object], ...]:
    if config is None:
        return ()
    options = config.options
    out: tuple[tuple[str, object], ...] = ()
    if options.shots is not None:
        out += (("shots", options.shots),)
    if options.system_prompt is not None:
        out += (("system_prompt", options.system_prompt),)
    return out


def _perturbation(p: TaskPlan) -> tuple[tuple[str, object], ...]:
    perturbation = p.prompter.perturbation
    return () if perturbation is None else (("perturbation", perturbation),)


def run_manifest(plans: Sequence[TaskPlan], backend: Backend, config: RunConfig) -> RunManifest:
    """Everything that can move the numbers. Its hash (minus timestamps) is the run id."""
    return RunManifest(
        model=model_id(backend.identity),
        tasks=tuple((p.task.name, task_manifest(p, config)) for p in plans),
        prompt_style=config.options.style,
        grader="cothub/" + __version__,
        selection=(config.limit, config.seed),
        strategy=StrategyId.from_json(config.strategy.describe()),
        # only when not generated: other runs keep the ids they always had
        scoring=None if config.scoring == "generate" else config.scoring,
    )


def model_id(identity: dict[str, object]) -> ModelId:
    """A backend's identity as a record that writes back exactly the same JSON (the run id
    hashes it): keys the record would drop (``base_url: None``) are kept as they were."""
    found = ModelId.from_json(dict(identity))
    if found.as_json() == identity:
        return found
    rest = tuple((k, v) for k, v in identity.items() if k not in ("provider", "model"))
    return ModelId(str(identity["provider"]), str(identity["model"]), extra=rest)


def manifest(plans: Sequence[TaskPlan], backend: Backend, config: RunConfig) -> dict[str, object]:
    """:func:`run_manifest` as the JSON object the store keeps."""
    return run_manifest(plans, backend, config).as_json()


def run_id_of(man: dict[str, object]) -> str:
    core = {k: v for k, v in man.items() if k != "grader"}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


def cache_key(backend: Backend, prompt: Prompt, config: GenerateConfig) -> str:
    """Everything that determines a response: model and endpoint, prompt, generation settings."""
    return cache_key_of(backend.identity, prompt, config)


def cache_key_of(identity: dict[str, object], prompt: Prompt, config: GenerateConfig) -> str:
    """:func:`cache_key` from a backend's identity as a manifest records it (rescoring)."""
    body = {"model": identity, "prompt": prompt.as_json(), "gen": config.as_json()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def score_key(backend: Backend, prompt: Prompt, options: Sequence[str]) -> str:
    """What determines option log-likelihoods: model, prompt and the options scored."""
    body = {
        "model": backend.identity,
        "prompt": prompt.as_json(),
        "options": list(options),
        "scoring": "loglikelihood",
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
