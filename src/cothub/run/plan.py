"""Planning: task names -> the samples, prompt renderers and resolved settings of a run."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cothub.data.source import DataSource, seeded_subset
from cothub.errors import CothubError
from cothub.prompts.fit import PromptSettings, rendering_with
from cothub.run.spec import RunConfig
from cothub.strategies import ShapesPrompts
from cothub.strategies.single import Single
from cothub.tasks import GROUPS, Prompter, PromptOptions, Task, resolve_task, task_params
from cothub.types import ApiStyle, GenerateConfig, Prompt, Sample


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """One benchmark of the run: its samples, how they are prompted, and the settings used."""

    task: Task
    fmt: str
    samples: list[Sample]
    prompter: Prompter
    config: GenerateConfig
    provenance: dict[str, str]
    subsets: tuple[str, ...]


def plan(config: RunConfig, data: DataSource, style: ApiStyle) -> list[TaskPlan]:
    """Resolve task names, load and select samples, and build prompt renderers."""
    return [
        _plan_task(config, data, style, task, subsets)
        for task, subsets in _chosen(config.tasks).values()
    ]


def _chosen(names: tuple[str, ...]) -> dict[str, tuple[Task, list[str]]]:
    """Task name -> (task, the sub-tasks asked for; empty: all of it), ``hub`` expanded."""
    chosen: dict[str, tuple[Task, list[str]]] = {}
    for name in [n for given in names for n in GROUPS.get(given.lower(), [given])]:
        task, subset = resolve_task(name)
        if task.name in chosen and task_params(chosen[task.name][0]) != task_params(task):
            raise CothubError(
                f"{task.name} is given twice with different parameters; run one at a time"
            )
        entry = chosen.setdefault(task.name, (task, []))
        if subset and subset not in entry[1]:
            entry[1].append(subset)
        elif not subset:
            entry[1].clear()
            chosen[task.name] = (task, [])
    return chosen


def _plan_task(
    config: RunConfig, data: DataSource, style: ApiStyle, task: Task, subsets: list[str]
) -> TaskPlan:
    fmt = task.prompt_format(config.format or "")  # a format of this task, or an error
    loaded = task.load(data, subsets)
    samples = _select(_where(task, loaded.samples, config.where), config.limit, config.seed)
    if config.scoring == "loglikelihood":
        _check_scorable(config, task, fmt.name, samples, style)
    gen = generation(config, task.max_tokens(fmt))
    options = _prompt_options(config, gen)
    prompter = _with_settings(task.prompter(data, fmt, options), options, task, samples)
    if options.max_prompt_tokens is not None:
        for s in samples:  # an item that cannot fit is refused before anything is recorded
            prompter.render(s)
    return TaskPlan(task, fmt.name, samples, prompter, gen, loaded.provenance, tuple(subsets))


def _with_settings(
    prompter: Prompter, options: PromptOptions, task: Task, samples: list[Sample]
) -> Prompter:
    """``--shots`` and ``--system-prompt``, applied where every task's prompt is fitted (see
    :class:`cothub.prompts.fit.PromptSettings`); checked on the first item here, before
    anything is recorded. Unset, the prompter is the task's own (prompts, keys unchanged)."""
    if options.shots is None and options.system_prompt is None:
        return prompter
    inner = prompter.render

    def render(sample: Sample) -> Prompt:
        with rendering_with(PromptSettings(options.shots, options.system_prompt)) as settings:
            prompt = inner(sample)
        if not settings.applied:
            raise CothubError(
                f"{task.name} renders its prompts without cothub's fitting, so --shots and "
                "--system-prompt cannot apply to it; drop them for this task"
            )
        return prompt

    for s in samples[:1]:
        render(s)
    return replace(prompter, render=render)


def generation(config: RunConfig, task_max_tokens: int) -> GenerateConfig:
    """The run's generation settings, resolved once (recorded in the manifest)."""
    return GenerateConfig(
        max_tokens=config.max_tokens or task_max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=config.seed if config.temperature > 0 else None,
        timeout_s=config.timeout_s,
        reasoning_effort=config.reasoning_effort,
        thinking_budget=config.thinking_budget,
    )


def _prompt_options(config: RunConfig, gen: GenerateConfig) -> PromptOptions:
    options = config.options
    if isinstance(config.strategy, ShapesPrompts):  # e.g. complexity-based exemplars
        options = config.strategy.prompt_options(options)
    if config.max_context is not None:
        budget = config.max_context - gen.max_tokens
        if budget <= 0:
            raise CothubError(
                f"--max-context {config.max_context} leaves no room for a prompt beside "
                f"{gen.max_tokens} generated tokens; raise it or lower --max-tokens"
            )
        options = replace(options, max_prompt_tokens=budget)
    return options


def _check_scorable(
    config: RunConfig, task: Task, fmt: str, samples: list[Sample], style: ApiStyle
) -> None:
    """``--scoring loglikelihood`` scores options after a text prompt, one per item."""
    if not isinstance(config.strategy, Single):
        raise CothubError("--strategy does not combine with --scoring loglikelihood; drop one")
    if style != "completions":
        raise CothubError("--scoring loglikelihood scores a text prompt; use --api completions")
    for s in samples:
        if task.choices(s, fmt) is None:
            name = f"{task.name}/{s.subset}" if s.subset else task.name
            raise CothubError(
                f"{name} ({fmt}) has no options to score: --scoring loglikelihood needs "
                "multiple-choice items in an answer-only format (e.g. mmlu, or bbh/date_"
                "understanding --format fewshot-direct)"
            )


def _where(
    task: Task, samples: list[Sample], where: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[Sample]:
    for tag, values in where:
        if tag not in task.breakdowns:
            raise CothubError(f"--{tag} does not apply to {task.name}; drop it for this task")
        samples = [s for s in samples if dict(s.tags).get(tag) in values]
    return samples


def _select(samples: list[Sample], limit: int | None, seed: int) -> list[Sample]:
    """``--limit`` per subset, so a limited BBH run still covers every sub-task."""
    if limit is None:
        return samples
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.subset, []).append(s)
    keep = {
        s.id
        for group in groups.values()
        for s in seeded_subset(group, [g.id for g in group], limit, seed)
    }
    return [s for s in samples if s.id in keep]
