"""BBH task: published prompts byte for byte, grading wired to the format, the CLI end to end.

The reference is the BBH authors' released code-davinci-002 outputs (``shared/reference``): every
``input`` there is the exact prompt Codex saw, every ``prediction`` its completion. The data and
the reference are read in place (never copied); tests skip when either is absent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import cothub
from conftest import SHARED, CliResult
from cothub.data.source import DataSource, Rows, sha256_text
from cothub.errors import CothubError
from cothub.extract.choice import published_bbh_answer
from cothub.prompts import estimate_tokens
from cothub.tasks import TASKS, PromptOptions
from cothub.tasks.bbh import BBH
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server
from cothub.types import ApiStyle, Prompt, Sample

REFERENCE = SHARED / "reference" / "bbh-code-davinci-002-outputs" / "code-davinci-002-outputs"
MODE = {"fewshot-cot": "cot", "fewshot-direct": "direct"}
TAIL = {"cot": "\nA: Let's think step by step.", "direct": "\nA:"}
# The answer-only prompts that are not the CoT file with rationales cut (shared/data/README.md).
DIRECT_DIFFERS = {"date_understanding", "snarks", "tracking_shuffled_objects_three_objects"}


@pytest.fixture
def bbh_data(data_dir: Path) -> Path:
    if not (data_dir / "bbh" / "bbh" / "navigate.json").is_file():
        pytest.skip(f"BBH data not found under {data_dir}")
    return data_dir


@pytest.fixture
def reference(bbh_data: Path) -> Path:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference outputs not found at {REFERENCE}")
    return REFERENCE


@cache
def published(mode: str, task: str) -> list[dict[str, str]]:
    path = REFERENCE / f"code-davinci-002-{mode}" / f"{task}_few_shot_template_0-255000.json"
    outputs: list[dict[str, str]] = json.loads(path.read_text("utf-8"))["outputs"]
    return outputs


def published_accuracy(mode: str, task: str) -> float:
    path = (
        REFERENCE
        / f"code-davinci-002-{mode}"
        / f"{task}_few_shot_template_0-255000_eval_metrics.jsonl"
    )
    return float(json.loads(path.read_text("utf-8").splitlines()[0])["accuracy"])


@cache
def samples(data: Path) -> tuple[Sample, ...]:
    return tuple(BBH().load(DataSource(data), []).samples)


def index_of(sample: Sample) -> int:
    return int(sample.id.rsplit("/", 1)[1])


def render(
    data: Path, fmt: str, style: ApiStyle = "completions", budget: int | None = None
) -> Callable[[Sample], Prompt]:
    options = PromptOptions(style=style, max_prompt_tokens=budget)
    return BBH().prompter(DataSource(data), fmt, options).render


# ---- 1. prompt fidelity ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", MODE)
def test_completion_prompts_equal_the_published_inputs(
    bbh_data: Path, reference: Path, fmt: str
) -> None:
    mode = MODE[fmt]
    rendered = render(bbh_data, fmt)
    items = samples(bbh_data)
    equal, differing = 0, []
    for s in items:
        ref = published(mode, s.subset)[index_of(s)]
        assert ref["target"] == s.gold  # same items, same order
        prompt = rendered(s)
        assert prompt.stop == ("\n\nQ:",) and prompt.n_exemplars == 3
        if prompt.text == ref["input"]:
            equal += 1
        else:
            differing.append(s.id)
    assert len(items) == 6511
    # snarks item 88's input is truncated in the upstream data file ("(A) The NB"); Codex was
    # prompted with the full item, so that one prompt can only match up to the truncation.
    assert differing == ["snarks/88"] and equal == 6510
    s88 = next(s for s in items if s.id == "snarks/88")
    cut = rendered(s88).text.removesuffix(TAIL[mode])
    assert cut.endswith("(A) The NB") and published(mode, "snarks")[88]["input"].startswith(cut)


def test_stop_sequence_never_cuts_a_published_completion(bbh_data: Path, reference: Path) -> None:
    stop = render(bbh_data, "fewshot-cot")(samples(bbh_data)[0]).stop[0]
    predictions = [o["prediction"] for m in ("cot", "direct") for t in BBH.subsets
                   for o in published(m, t)]  # fmt: skip
    assert len(predictions) == 2 * 6511
    assert not any(stop in p for p in predictions)


def test_exemplar_provenance_hashes_the_canary_free_files(bbh_data: Path) -> None:
    prompter = BBH().prompter(DataSource(bbh_data), "fewshot-cot", PromptOptions("completions"))
    folder = bbh_data / "bbh" / "cot-prompts"
    assert prompter.exemplar_source == str(folder)
    lines = []
    for task in sorted(BBH.subsets):
        canary_free = (folder / f"{task}.txt").read_text("utf-8").split("\n", 2)[2]
        lines.append(f"{task} {sha256_text(canary_free)}")
    assert prompter.exemplar_hash == sha256_text("\n".join(lines))
    # Chain-of-Thought Hub's lib_prompt files are the same prompts without the canary lines.
    hub = bbh_data / "cot-hub-prompts" / "BBH" / "lib_prompt"
    if hub.is_dir():
        options = PromptOptions("completions", prompt_file=str(hub))
        assert BBH().prompter(DataSource(None), "fewshot-cot", options).exemplar_hash == (
            prompter.exemplar_hash
        )


def test_cot_files_give_answer_only_prompts_where_the_published_ones_agree(bbh_data: Path) -> None:
    cot_dir = str(bbh_data / "bbh" / "cot-prompts")
    options = PromptOptions("completions", prompt_file=cot_dir)
    derived = BBH().prompter(DataSource(bbh_data), "fewshot-direct", options).render
    bundled = render(bbh_data, "fewshot-direct")
    first = {s.subset: s for s in reversed(samples(bbh_data))}
    differ = {t for t, s in first.items() if derived(s).text != bundled(s).text}
    assert differ == DIRECT_DIFFERS


def test_chat_turns_carry_the_same_exemplars(bbh_data: Path) -> None:
    s = samples(bbh_data)[1000]
    for fmt, mode in MODE.items():
        text = render(bbh_data, fmt)(s).text
        chat = render(bbh_data, fmt, "chat")(s)
        msgs = chat.messages
        assert [m.role for m in msgs] == ["user", "assistant"] * 3 + ["user"]
        assert chat.n_exemplars == 3 and chat.stop == ()
        joined = "".join(
            f"{u.content}\nA: {a.content}\n\n" for u, a in zip(msgs[:-1:2], msgs[1::2], strict=True)
        )
        assert joined + msgs[-1].content + TAIL[mode] == text
        if mode == "cot":
            assert all(m.content.startswith("Let's think step by step.") for m in msgs[1::2])
            assert all("So the answer is " in m.content for m in msgs[1::2])
        else:
            assert all("\n" not in m.content and len(m.content) < 60 for m in msgs[1::2])


def test_zero_shot_prompts(bbh_data: Path) -> None:
    s = next(x for x in samples(bbh_data) if x.subset == "navigate")
    description = "Given a series of navigation instructions, determine whether one would end up"
    cot = render(bbh_data, "zeroshot-cot")(s)
    assert cot.text.startswith(description) and cot.n_exemplars == 0
    assert cot.text.endswith(f"\n\nQ: {s.question}\nA: Let's think step by step.")
    assert cot.text.count("Q: ") == 1
    direct = render(bbh_data, "zeroshot-direct")(s)
    assert direct.text == cot.text.removesuffix(" Let's think step by step.")
    (turn,) = render(bbh_data, "zeroshot-cot", "chat")(s).messages
    assert turn.content.startswith(description) and f"Q: {s.question}\n" in turn.content
    assert turn.content.endswith('end your reply with "So the answer is <answer>."')


@pytest.mark.parametrize("style", ["completions", "chat"])
def test_exemplars_are_dropped_from_the_end_to_fit_a_budget(
    bbh_data: Path, style: ApiStyle
) -> None:
    s = next(x for x in samples(bbh_data) if x.subset == "geometric_shapes")
    full = render(bbh_data, "fewshot-cot", style)(s)
    chars = len(full.text) + sum(len(m.content) for m in full.messages)
    assert estimate_tokens(full) == math.ceil(chars / 4)
    assert render(bbh_data, "fewshot-cot", style, estimate_tokens(full))(s) == full
    # One token less than the prompt with n exemplars leaves room for n - 1 of them.
    fitted = [full]
    for n in (2, 1, 0):
        budget = estimate_tokens(fitted[-1]) - 1
        fitted.append(render(bbh_data, "fewshot-cot", style, budget)(s))
        assert fitted[-1].n_exemplars == n and estimate_tokens(fitted[-1]) <= budget
    if style == "completions":  # the first exemplars are kept, the last dropped
        heads = [p.text.rsplit("\n\nQ: ", 1)[0] for p in fitted]
        assert all(full.text.startswith(h) for h in heads)
    assert fitted[-1] == render(bbh_data, "zeroshot-cot", style)(s)
    with pytest.raises(CothubError, match="even with no exemplars") as nothing_fits:
        render(bbh_data, "fewshot-cot", style, 1)(s)
    assert str(nothing_fits.value).count("\n") == 0 and s.id in str(nothing_fits.value)


# ---- loading --------------------------------------------------------------------------------


def test_load_names_items_by_task_and_records_file_hashes(bbh_data: Path) -> None:
    loaded = BBH().load(DataSource(bbh_data), ["snarks", "navigate"])
    assert [s.subset for s in loaded.samples] == ["snarks"] * 178 + ["navigate"] * 250
    assert loaded.samples[0].id == "snarks/0" and loaded.samples[-1].id == "navigate/249"
    assert sorted(Path(p).name for p in loaded.provenance) == ["navigate.json", "snarks.json"]
    assert all(len(h) == 64 for h in loaded.provenance.values())


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "is missing"), ("{not json", "not valid JSON"), ('{"examples": [{"input": 1}]}',
     "not a BBH task file"), ('{"examples": []}', "not a BBH task file")],
)  # fmt: skip
def test_bad_task_file_is_one_line_naming_file_and_flag(
    tmp_path: Path, content: str | None, why: str
) -> None:
    folder = tmp_path / "bbh" / "bbh"
    folder.mkdir(parents=True)
    if content is not None:
        (folder / "navigate.json").write_text(content)
    with pytest.raises(CothubError) as e:
        BBH().load(DataSource(tmp_path), ["navigate"])
    message = str(e.value)
    assert why in message and str(folder / "navigate.json") in message
    assert "--data-dir" in message and "\n" not in message


def test_without_a_data_dir_items_come_from_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_hub(repo: str, config: str | None, split: str, required: Any) -> Rows:
        calls.append((repo, config, split, tuple(required)))
        return Rows([{"input": "Q?", "target": "Yes"}], f"hf:{repo}/{config}/{split}", "rev1")

    monkeypatch.setattr("cothub.tasks.bbh.load_hub", fake_hub)
    loaded = BBH().load(DataSource(None), ["navigate", "web_of_lies"])
    assert calls == [("lukaemon/bbh", t, "test", ("input", "target"))
                     for t in ("navigate", "web_of_lies")]  # fmt: skip
    assert [s.id for s in loaded.samples] == ["navigate/0", "web_of_lies/0"]
    assert loaded.provenance == {"hf:lukaemon/bbh/navigate/test": "rev1",
                                 "hf:lukaemon/bbh/web_of_lies/test": "rev1"}  # fmt: skip
    with pytest.raises(CothubError, match="--data-dir") as e:
        BBH().prompter(DataSource(None), "fewshot-cot", PromptOptions("chat"))
    assert "\n" not in str(e.value)


# ---- 2. grading -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", MODE)
def test_grading_published_predictions_gives_published_accuracies(
    bbh_data: Path, reference: Path, fmt: str
) -> None:
    mode, task = MODE[fmt], BBH()
    by_task: dict[str, list[bool]] = {}
    for s in samples(bbh_data):
        grade = task.grade(s, published(mode, s.subset)[index_of(s)]["prediction"], fmt)
        assert not grade.disagreement  # the published rule of this very mode agrees
        by_task.setdefault(s.subset, []).append(grade.correct)
    assert sorted(by_task) == sorted(BBH.subsets)
    for name, verdicts in by_task.items():
        assert sum(verdicts) / len(verdicts) * 100 == published_accuracy(mode, name), name
    mean = sum(sum(v) / len(v) for v in by_task.values()) / 27
    assert round(100 * mean, 2) == {"cot": 73.71, "direct": 52.76}[mode]


def test_format_selects_the_published_rule(bbh_data: Path, reference: Path) -> None:
    """Bare answer-only predictions judged as CoT: same verdicts, but the CoT rule (which needs
    "the answer is") disagrees on every correct one; so the format really reaches grade_bbh."""
    task = BBH()
    items = [s for s in samples(bbh_data) if s.subset == "navigate"]
    preds = [published("direct", "navigate")[index_of(s)]["prediction"] for s in items]
    for fmt, disagreeing in (("zeroshot-direct", 0), ("fewshot-cot", None), ("", None)):
        grades = [task.grade(s, p, fmt) for s, p in zip(items, preds, strict=True)]
        correct = sum(g.correct for g in grades)
        assert correct == 126  # 50.40% of 250, whatever the rule
        expected = correct if disagreeing is None else disagreeing
        assert sum(g.disagreement for g in grades) == expected


def test_public_grade_takes_a_bbh_sub_task() -> None:
    right = cothub.grade("bbh/navigate", "We end at (0, 0). So the answer is Yes.", "Yes")
    assert right.correct and right.answer == "Yes"
    assert not cothub.grade("bbh/navigate", "So the answer is No.", "Yes").correct
    assert cothub.grade("bbh/word_sorting", "So the answer is a b c.", "a b c").correct
    with pytest.raises(CothubError, match="bbh/navigate"):
        cothub.grade("bbh", "So the answer is Yes.", "Yes")


# ---- 3. end to end over HTTP ----------------------------------------------------------------


def codex(data: Path) -> Script:
    """A stand-in model that answers each BBH item with Codex's published CoT completion."""
    index = {s.question: s for s in samples(data)}

    def respond(request: dict[str, Any]) -> list[Choice]:
        if "messages" in request:
            question = request["messages"][-1]["content"].removeprefix("Q: ")
        else:
            question = request["prompt"].rsplit("\n\nQ: ", 1)[1].removesuffix(TAIL["cot"])
        s = index[question]
        return [Choice(published("cot", s.subset)[index_of(s)]["prediction"])]

    return Script(responder=respond)


def expected_correct(data: Path, bodies: list[dict[str, Any]]) -> dict[str, list[bool]]:
    """Per task, whether each answer sent is right by the published rule."""
    index = {s.question: s for s in samples(data)}
    out: dict[str, list[bool]] = {}
    for body in bodies:
        if "messages" in body:
            question = body["messages"][-1]["content"].removeprefix("Q: ")
        else:
            question = body["prompt"].rsplit("\n\nQ: ", 1)[1].removesuffix(TAIL["cot"])
        s = index[question]
        answer = published_bbh_answer(published("cot", s.subset)[index_of(s)]["prediction"])
        out.setdefault(s.subset, []).append(answer == s.gold)
    return out


def run_bbh(
    cli: Any, srv: OpenAIStandIn, data: Path, tmp: Path, *args: str
) -> tuple[CliResult, dict[str, Any]]:
    r: CliResult = cli(
        "run", *args, "--model", "openai/codex", "--base-url", srv.base_url, "--data-dir", data,
        "--store", tmp / "store.db", "--json", tmp / "out.json",
    )  # fmt: skip
    assert r.code == 0, r.err
    return r, json.loads((tmp / "out.json").read_text())


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_cli_runs_all_27_tasks_with_a_macro_headline(
    cli: Any, bbh_data: Path, reference: Path, tmp_path: Path, api: str
) -> None:
    with running_server(codex(bbh_data)) as srv:
        _, out = run_bbh(cli, srv, bbh_data, tmp_path, "bbh", "--limit", "3", "--api", api)
        bodies = srv.stats.bodies
    assert len(bodies) == 81
    tasks = out["tasks"]
    assert set(tasks) == {"bbh"} | {f"bbh/{t}" for t in BBH.subsets}
    expected = expected_correct(bbh_data, bodies)
    for name, verdicts in expected.items():
        sub = tasks[f"bbh/{name}"]
        assert (sub["n"], sub["correct"]) == (3, sum(verdicts)), name
    head = tasks["bbh"]
    assert head["aggregate"] == "macro" and head["n"] == 81 and head["subsets"] == 27
    subs = [tasks[f"bbh/{t}"]["accuracy"] for t in BBH.subsets]
    assert head["accuracy"] == pytest.approx(sum(subs) / 27)
    assert 0 < head["accuracy"] < 1
    assert out["formats"] == {"bbh": "fewshot-cot"}
    if api == "completions":
        inputs = {o["input"] for t in BBH.subsets for o in published("cot", t)}
        assert all(b["prompt"] in inputs for b in bodies if "(A) The NB" not in b["prompt"])
        assert all(b["stop"] == ["\n\nQ:"] and b["max_tokens"] == 1024 for b in bodies)
    else:
        roles = [[m["role"] for m in b["messages"]] for b in bodies]
        assert all(r == ["user", "assistant"] * 3 + ["user"] for r in roles)


def test_cli_runs_just_the_named_sub_tasks(
    cli: Any, bbh_data: Path, reference: Path, tmp_path: Path
) -> None:
    with running_server(codex(bbh_data)) as srv:
        _, out = run_bbh(cli, srv, bbh_data, tmp_path, "bbh/navigate", "bbh/snarks",
                         "--api", "completions")  # fmt: skip
        bodies = srv.stats.bodies
    tasks = out["tasks"]
    assert set(tasks) == {"bbh", "bbh/navigate", "bbh/snarks"}
    assert (tasks["bbh/navigate"]["n"], tasks["bbh/snarks"]["n"]) == (250, 178)
    # Codex's published CoT accuracies, reached through the whole pipeline.
    assert tasks["bbh/navigate"]["correct"] == 241 and tasks["bbh/snarks"]["correct"] == 106
    expected = expected_correct(bbh_data, bodies)
    assert {k: sum(v) for k, v in expected.items()} == {"navigate": 241, "snarks": 106}
    head = tasks["bbh"]
    assert head["accuracy"] == pytest.approx((241 / 250 + 106 / 178) / 2)
    assert head["micro_accuracy"] == pytest.approx(347 / 428) != head["accuracy"]


def test_unknown_sub_task_is_one_line(cli: Any, tmp_path: Path) -> None:
    r = cli("run", "bbh/navigation", "--model", "openai/x", "--store", tmp_path / "s.db")
    assert r.code == 2 and "bbh has no sub-task 'navigation'" in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    listing = cli("tasks")
    assert "bbh" in TASKS and "27 sub-tasks (bbh/boolean_expressions, ...)" in listing.out
