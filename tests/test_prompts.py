"""prompts/: the format record, the one token estimate and the one fitting rule, and
``--max-context`` holding for every benchmark; ``Sample.choices`` filled once by the adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cothub
from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.prompts import (
    ALL_FORMATS,
    FEWSHOT_COT,
    ZEROSHOT_DIRECT,
    PromptFormat,
    estimate_tokens,
    fit,
)
from cothub.run import RunConfig, plan
from cothub.tasks import PromptOptions
from cothub.tasks.bbh import BBH
from cothub.tasks.math_task import MATH
from cothub.tasks.mmlu import MMLU
from cothub.types import Prompt, Sample

# ---- the format record ------------------------------------------------------------------------


def test_format_names_round_trip() -> None:
    names = ["fewshot-cot", "fewshot-direct", "zeroshot-cot", "zeroshot-direct"]
    assert [f.name for f in ALL_FORMATS] == names
    assert [PromptFormat.parse(n) for n in names] == list(ALL_FORMATS)
    assert PromptFormat.parse(FEWSHOT_COT) is FEWSHOT_COT and str(ZEROSHOT_DIRECT) == names[-1]
    assert FEWSHOT_COT.cot and FEWSHOT_COT.fewshot
    assert not ZEROSHOT_DIRECT.cot and not ZEROSHOT_DIRECT.fewshot
    with pytest.raises(CothubError, match="unknown prompt format 'fewshot'; choose one of"):
        PromptFormat.parse("fewshot")


def test_a_task_names_its_own_formats() -> None:
    math = MATH()
    assert math.prompt_format("") == FEWSHOT_COT and math.prompt_format("zeroshot-cot").cot
    with pytest.raises(CothubError) as e:
        math.prompt_format("fewshot-direct")
    assert (
        str(e.value)
        == "math has no format 'fewshot-direct'; choose one of fewshot-cot, zeroshot-cot"
    )


# ---- the one fitting rule ---------------------------------------------------------------------


def _render(k: int) -> Prompt:
    return Prompt("completions", text="x" * (40 + 100 * k), n_exemplars=k)  # 10 + 25k tokens


def test_fit_keeps_the_most_exemplars_that_fit() -> None:
    assert estimate_tokens(Prompt("chat", messages=())) == 0
    assert estimate_tokens(_render(1)) == 35 and estimate_tokens(Prompt("completions", "x")) == 1
    assert fit(_render, 4, None, "t/0").n_exemplars == 4
    assert fit(_render, 4, 110, "t/0").n_exemplars == 4
    assert fit(_render, 4, 109, "t/0").n_exemplars == 3
    assert fit(_render, 4, 10, "t/0").n_exemplars == 0
    with pytest.raises(CothubError) as e:
        fit(_render, 4, 9, "gsm8k test/7")
    message = str(e.value)
    assert message.startswith("gsm8k test/7: even with no exemplars the prompt takes about 10")
    assert "--max-context" in message and "\n" not in message


# ---- --max-context holds for every benchmark --------------------------------------------------


def _config(task: str, max_context: int | None, max_tokens: int, **kw: Any) -> RunConfig:
    return RunConfig(
        tasks=(task,),
        format=kw.pop("format", None),
        options=PromptOptions(style=kw.pop("style", "completions")),
        limit=kw.pop("limit", 5),
        seed=0,
        max_tokens=max_tokens,
        temperature=0.0,
        max_context=max_context,
        **kw,
    )


def _prompts(data_dir: Path, config: RunConfig) -> tuple[int, list[Prompt]]:
    (p,) = plan(config, DataSource(data_dir), config.options.style)
    return p.config.max_tokens, [p.prompter.render(s) for s in p.samples]


# (task, format, --max-context, --max-tokens, exemplars in the full prompt)
CASES = [
    ("gsm8k", "fewshot-cot", 400, 32, 8),  # all 8 exemplars take about 660 tokens
    ("gsm8k", "fewshot-direct", 250, 32, 8),
    ("math/algebra", "fewshot-cot", 700, 256, 4),
    ("bbh/date_understanding", "fewshot-cot", 450, 200, 3),
    ("bbh/navigate", "fewshot-direct", 180, 16, 3),
    ("mmlu/anatomy", "fewshot-direct", 250, 16, 5),
    ("mmlu/anatomy", "fewshot-cot", 1200, 256, 5),
]


@pytest.mark.parametrize("style", ["completions", "chat"])
@pytest.mark.parametrize(("task", "fmt", "context", "max_tokens", "full"), CASES)
def test_max_context_holds_for_every_benchmark(
    data_dir: Path, task: str, fmt: str, context: int, max_tokens: int, full: int, style: str
) -> None:
    unlimited = _config(task, None, max_tokens, format=fmt, style=style)
    assert {p.n_exemplars for p in _prompts(data_dir, unlimited)[1]} == {full}
    gen_tokens, prompts = _prompts(
        data_dir, _config(task, context, max_tokens, format=fmt, style=style)
    )
    assert gen_tokens == max_tokens and len(prompts) == 5
    for prompt in prompts:
        assert estimate_tokens(prompt) + max_tokens <= context
    kept = [p.n_exemplars for p in prompts]
    assert max(kept) < full  # exemplars were dropped, and the count kept is recorded


@pytest.mark.parametrize("task", ["gsm8k", "mmlu/anatomy"])
def test_chat_prompts_share_their_exemplar_turns(data_dir: Path, task: str) -> None:
    """A run holds every rendered prompt: the exemplar turns are made once, not per item."""
    _, prompts = _prompts(data_dir, _config(task, None, 32, style="chat"))
    first, second = prompts[0].messages, prompts[1].messages
    assert len(first) == len(second) > 3 and first[-1] != second[-1]
    assert first[:-1] == second[:-1]
    assert all(a is b for a, b in zip(first[1:-1], second[1:-1], strict=True))


@pytest.mark.parametrize("task", ["gsm8k", "math/algebra", "bbh/navigate", "mmlu/anatomy"])
def test_an_item_that_cannot_fit_is_one_clear_line(data_dir: Path, task: str) -> None:
    config = _config(task, 60, 32, limit=1)
    with pytest.raises(CothubError) as e:  # by plan(): before a run is recorded or a model loads
        plan(config, DataSource(data_dir), "completions")
    message = str(e.value)
    assert "even with no exemplars" in message and "--max-context" in message
    assert message.startswith(task.split("/")[0] + " ") and "\n" not in message


# ---- Sample.choices ---------------------------------------------------------------------------


def test_adapters_fill_choices(data_dir: Path) -> None:
    mmlu = MMLU().load(DataSource(data_dir), ["anatomy"]).samples[0]
    assert len(mmlu.choices) == 4
    assert mmlu.question.endswith(
        "".join(f"\n{k}. {o}" for k, o in zip("ABCD", mmlu.choices, strict=True))
    )
    bbh = {s.subset: s for s in BBH().load(DataSource(data_dir), []).samples}
    date = bbh["date_understanding"]
    assert len(date.choices) >= 2 and f"(A) {date.choices[0]}" in date.question
    assert bbh["formal_fallacies"].choices == ("valid", "invalid")
    assert bbh["boolean_expressions"].choices == ()


def test_graders_read_sample_choices_not_the_question() -> None:
    # The question does not list the options; the grader maps the option text via choices.
    sample = Sample("x/0", "Which day?", "(B)", "date_understanding", choices=("Monday", "Friday"))
    grade = BBH().grade(sample, "So the answer is Friday.", "fewshot-cot")
    assert grade.correct and grade.answer == "(B)"
    mmlu = Sample(
        "x/0", "Which gas?", "B", "anatomy", choices=("Oxygen", "Carbon dioxide", "N", "H")
    )
    assert MMLU().grade(mmlu, "The answer is carbon dioxide.").correct
    # The public API reads the options from the question text, once, when that is all it has.
    question = "Which day?\nOptions:\n(A) Monday\n(B) Friday"
    assert cothub.grade(
        "bbh/date_understanding", "So the answer is Friday.", "(B)", question
    ).correct
