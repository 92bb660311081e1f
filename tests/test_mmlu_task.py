"""MMLU task: loading, byte-exact prompts, grading every item, and runs through the CLI.

Expected prompts are built here from the CSV rows with the csv module, following Hendrycks'
``format_example``/``gen_prompt`` and the layout of ``mmlu-cot.json``, not with the task's helpers.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cothub
from cothub.data.source import DataSource, Rows
from cothub.errors import CothubError
from cothub.tasks import TASKS, PromptOptions, resolve_task
from cothub.tasks import mmlu as mmlu_module
from cothub.tasks.mmlu import CATEGORIES, MMLU, SUBJECTS
from cothub.testing.openai_server import Choice, OpenAIStandIn, Script, running_server
from cothub.types import Sample

CATEGORY_NAMES = {"STEM", "humanities", "social sciences", "other"}
COT_JSON = "cot-hub-prompts/MMLU/lib_prompt/mmlu-cot.json"


def rows(data: Path, split: str, subject: str) -> list[list[str]]:
    with (data / "mmlu" / split / f"{subject}_{split}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def hendrycks(row: list[str], with_answer: bool) -> str:
    """Hendrycks' ``format_example``: question, ``\\nA. ..`` per option, ``\\nAnswer:``."""
    text = row[0] + "".join(f"\n{k}. {v}" for k, v in zip("ABCD", row[1:5], strict=True))
    return text + "\nAnswer:" + (f" {row[5]}\n\n" if with_answer else "")


def direct_text(data: Path, subject: str, row: list[str], k: int = 5) -> str:
    # format_subject prefixes each word with a space, so the original header has two spaces.
    words = "".join(" " + w for w in subject.split("_"))
    header = f"The following are multiple choice questions (with answers) about {words}.\n\n"
    shots = "".join(hendrycks(r, True) for r in rows(data, "dev", subject)[:k])
    return header + shots + hendrycks(row, False)


def prompter(data: Path, fmt: str, style: str = "completions", budget: int | None = None) -> Any:
    options = PromptOptions(style=style, max_prompt_tokens=budget)  # type: ignore[arg-type]
    return MMLU().prompter(DataSource(data), fmt, options)


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    from conftest import DATA

    if not (DATA / "mmlu" / "test").is_dir():
        pytest.skip(f"MMLU data not found at {DATA}")
    return MMLU().load(DataSource(DATA), []).samples


# ---- loading ---------------------------------------------------------------------------------


def test_loads_all_subjects_with_categories(data_dir: Path, samples: list[Sample]) -> None:
    files = sorted(p.name.removesuffix("_test.csv") for p in (data_dir / "mmlu/test").iterdir())
    assert list(SUBJECTS) == files and len(SUBJECTS) == 57
    assert MMLU().subsets == SUBJECTS and set(CATEGORIES.values()) == CATEGORY_NAMES
    assert len(samples) == 14042 and len({s.id for s in samples}) == 14042
    per_subject = Counter(s.subset for s in samples)
    assert per_subject["professional_law"] == 1534 and per_subject["anatomy"] == 135
    assert sum(len(rows(data_dir, "dev", s)) for s in SUBJECTS) == 285
    categories = Counter(dict(s.tags)["category"] for s in samples)
    # The paper's grouping: 18 STEM, 13 humanities, 12 social-science and 14 other subjects.
    assert Counter(CATEGORIES.values()) == {
        "STEM": 18, "humanities": 13, "social sciences": 12, "other": 14
    }  # fmt: skip
    assert categories == {"STEM": 3018, "humanities": 4705, "social sciences": 3077, "other": 3242}
    assert sum(categories.values()) == 14042
    assert all(dict(s.tags)["category"] == CATEGORIES[s.subset] for s in samples)
    assert {s.gold for s in samples} == set("ABCD")


def test_samples_match_csv_rows_and_provenance_hashes(data_dir: Path) -> None:
    loaded = MMLU().load(DataSource(data_dir), ["world_religions", "anatomy"])
    assert [s.subset for s in loaded.samples] == ["anatomy"] * 135 + ["world_religions"] * 171
    first = loaded.samples[0]
    row = rows(data_dir, "test", "anatomy")[0]
    assert first.id == "anatomy/0" and first.gold == row[5]
    assert first.question == hendrycks(row, False).removesuffix("\nAnswer:")
    assert first.tags == (("category", "other"),)
    assert len(loaded.provenance) == 2
    for path, digest in loaded.provenance.items():
        assert digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_choices_are_the_csv_options_for_every_row(data_dir: Path, samples: list[Sample]) -> None:
    """``Sample.choices`` hold the CSV's option fields (the CoT layout is built from them)."""
    by_id = {s.id: s for s in samples}
    for subject in SUBJECTS:
        for i, row in enumerate(rows(data_dir, "test", subject)):
            sample = by_id[f"{subject}/{i}"]
            assert sample.choices == tuple(row[1:5])
            assert sample.question == hendrycks(row, False).removesuffix("\nAnswer:")


def test_hub_fallback_gives_the_same_samples(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --data-dir, ``cais/mmlu`` rows (question, choices, answer index) give the same."""
    asked: list[tuple[str, str | None, str]] = []

    def fake_hub(repo: str, config: str | None, split: str, required: Any) -> Rows:
        asked.append((repo, config, split))
        hub = [{"question": r[0], "choices": r[1:5], "answer": "ABCD".index(r[5])}
               for r in rows(data_dir, split, str(config))]  # fmt: skip
        return Rows(hub, f"hf:{repo}/{config}/{split}", "rev1")

    monkeypatch.setattr(mmlu_module, "load_hub", fake_hub)
    hub = MMLU().load(DataSource(None), ["anatomy", "virology"])
    local = MMLU().load(DataSource(data_dir), ["anatomy", "virology"])
    assert hub.samples == local.samples
    assert hub.provenance == {
        "hf:cais/mmlu/anatomy/test": "rev1",
        "hf:cais/mmlu/virology/test": "rev1",
    }
    sample = local.samples[0]
    hub_prompt = MMLU().prompter(DataSource(None), "fewshot-direct", PromptOptions("completions"))
    assert hub_prompt.render(sample).text == direct_text(
        data_dir, "anatomy", rows(data_dir, "test", "anatomy")[0]
    )
    assert asked[0] == ("cais/mmlu", "anatomy", "test")


def test_bad_csv_and_missing_file_name_the_place_and_the_fix(tmp_path: Path) -> None:
    test_dir = tmp_path / "mmlu" / "test"
    test_dir.mkdir(parents=True)
    (test_dir / "anatomy_test.csv").write_text(
        'Q1,a,b,c,d,A\n"Q2\nspans, lines",a,b,c,d,B\nQ3,a,b,c,d\n', encoding="utf-8"
    )
    with pytest.raises(CothubError) as bad:
        MMLU().load(DataSource(tmp_path), ["anatomy"])
    message = str(bad.value)
    assert "anatomy_test.csv:3:" in message and "--data-dir" in message and "\n" not in message
    (test_dir / "anatomy_test.csv").write_text("Q1,a,b,c,d,E\n", encoding="utf-8")
    with pytest.raises(CothubError, match=r"anatomy_test\.csv:1: .*answer A-D"):
        MMLU().load(DataSource(tmp_path), ["anatomy"])
    with pytest.raises(CothubError) as missing:
        MMLU().load(DataSource(tmp_path), ["virology"])
    assert "virology_test.csv is missing" in str(missing.value)
    assert "--data-dir" in str(missing.value)


# ---- prompts -------------------------------------------------------------------------------


def test_fewshot_direct_completion_is_the_original_prompt(
    data_dir: Path, samples: list[Sample]
) -> None:
    # A history item: a long passage with commas, quotes and line breaks inside CSV fields.
    subject = "high_school_european_history"
    row = rows(data_dir, "test", subject)[7]
    assert "\n" in row[0] and "," in row[0]
    sample = next(s for s in samples if s.id == f"{subject}/7")
    prompt = prompter(data_dir, "fewshot-direct").render(sample)
    assert prompt.text == direct_text(data_dir, subject, row)
    assert "about  high school european history.\n\n" in prompt.text
    assert prompt.stop == ("\n",) and prompt.n_exemplars == 5 and prompt.style == "completions"


def test_fewshot_cot_completion_extends_the_hub_prompt(
    data_dir: Path, samples: list[Sample]
) -> None:
    cot = json.loads((data_dir / COT_JSON).read_text(encoding="utf-8"))
    render = prompter(data_dir, "fewshot-cot").render
    for subject in ("anatomy", "college_chemistry", "conceptual_physics"):
        row = rows(data_dir, "test", subject)[0]
        prompt = render(next(s for s in samples if s.id == f"{subject}/0"))
        options = " ".join(f"({k}) {v}" for k, v in zip("ABCD", row[1:5], strict=True))
        item = f"\n\nQ: {row[0]}\n{options}\nA: Let's think step by step."
        assert prompt.text.startswith(cot[subject])
        assert prompt.text == cot[subject] + item
        assert prompt.stop == ("\n\nQ:",)
        assert prompt.n_exemplars == (4 if subject == "college_chemistry" else 5)


def test_zero_shot_completions(data_dir: Path, samples: list[Sample]) -> None:
    sample = samples[0]
    row = rows(data_dir, "test", "abstract_algebra")[0]
    direct = prompter(data_dir, "zeroshot-direct").render(sample)
    assert direct.text == direct_text(data_dir, "abstract_algebra", row, k=0)
    assert direct.n_exemplars == 0
    cot = prompter(data_dir, "zeroshot-cot").render(sample).text
    assert cot.startswith("The following are multiple choice questions (with answers) about "
                          "abstract algebra.\n\nQ: " + row[0] + "\n(A) ")  # fmt: skip
    assert cot.endswith("\nA: Let's think step by step.")


def test_chat_prompts_are_exemplar_turns(data_dir: Path, samples: list[Sample]) -> None:
    sample = next(s for s in samples if s.id == "anatomy/3")
    dev = rows(data_dir, "dev", "anatomy")
    msgs = prompter(data_dir, "fewshot-direct", "chat").render(sample).messages
    assert [m.role for m in msgs] == ["user", "assistant"] * 5 + ["user"]
    assert msgs[0].content.startswith("The following are multiple choice questions")
    assert [m.content for m in msgs[1::2]] == [f"Answer: {r[5]}" for r in dev]
    assert msgs[-1].content.startswith(sample.question + "\n") and '"Answer: X"' in msgs[-1].content

    cot = prompter(data_dir, "fewshot-cot", "chat").render(sample)
    replies = [m.content for m in cot.messages[1::2]]
    assert cot.n_exemplars == 5 and all(r.startswith("Let's think step by step.") for r in replies)
    assert all(re.search(r"The answer is \([A-D]\)\.$", r) for r in replies)
    assert "(A) " in cot.messages[-1].content and "The answer is (X)." in cot.messages[-1].content

    zero = prompter(data_dir, "zeroshot-cot", "chat").render(sample).messages
    assert len(zero) == 1 and zero[0].content.startswith("The following are multiple choice")


def test_every_item_renders_in_every_format_and_grades(samples: list[Sample]) -> None:
    from conftest import DATA

    task = MMLU()
    for fmt in task.formats:
        for style in ("completions", "chat"):
            render = prompter(DATA, fmt, style).render
            for s in samples:
                prompt = render(s)
                assert prompt.text or prompt.messages
    for s in samples:
        assert task.grade(s, f"Answer: {s.gold}").correct, s.id
        wrong = "ABCD"[("ABCD".index(s.gold) + 1) % 4]
        assert not task.grade(s, f"Answer: {wrong}").correct, s.id


def test_public_grade_entry_point() -> None:
    assert cothub.grade("mmlu/anatomy", "Answer: B", "B").correct
    assert not cothub.grade("mmlu/anatomy", "Answer: C", "B").correct
    assert cothub.grade("mmlu", "So the answer is (D).", "D", fmt="fewshot-cot").correct
    assert resolve_task("mmlu/anatomy") == (TASKS["mmlu"], "anatomy")
    assert MMLU().max_tokens("fewshot-direct") <= 16 and MMLU().max_tokens("fewshot-cot") == 512


# ---- context fitting -----------------------------------------------------------------------


def test_long_items_keep_fewer_exemplars(data_dir: Path, samples: list[Sample]) -> None:
    law = sorted(
        (s for s in samples if s.subset == "professional_law"), key=lambda s: len(s.question)
    )
    shortest, longest = law[0], law[-1]
    budget = 1384  # tokens, estimated as ceil(characters / 4)
    render = prompter(data_dir, "fewshot-direct", budget=budget).render
    short, long = render(shortest), render(longest)
    assert (short.n_exemplars, long.n_exemplars) == (4, 1)
    for sample, prompt in ((shortest, short), (longest, long)):
        row = rows(data_dir, "test", "professional_law")[int(sample.id.split("/")[1])]
        k = prompt.n_exemplars
        assert prompt.text == direct_text(data_dir, "professional_law", row, k)
        assert math.ceil(len(prompt.text) / 4) <= budget
        bigger = direct_text(data_dir, "professional_law", row, k + 1)
        assert math.ceil(len(bigger) / 4) > budget  # the first exemplar dropped did not fit
    chat = prompter(data_dir, "fewshot-direct", "chat", budget=budget).render(longest)
    assert chat.n_exemplars == 1 and len(chat.messages) == 3
    # CoT exemplars are longer: a larger budget keeps the first k of the hub's prompt verbatim.
    hub = json.loads((data_dir / COT_JSON).read_text(encoding="utf-8"))["professional_law"]
    cot = prompter(data_dir, "fewshot-cot", budget=2000).render
    for sample, k in ((shortest, 4), (longest, 2)):
        prompt = cot(sample)
        assert prompt.n_exemplars == k
        assert prompt.text.startswith("\n\nQ: ".join(hub.split("\n\nQ: ")[: k + 1]) + "\n\nQ: ")
        assert prompt.text.count("\nA: Let's think step by step.") == k + 1
    # No exemplar fits: zero-shot, and the count says so; not even that fits: a one-line error.
    assert prompter(data_dir, "fewshot-direct", budget=200).render(shortest).n_exemplars == 0
    with pytest.raises(CothubError, match="even with no exemplars"):
        prompter(data_dir, "fewshot-direct", budget=200).render(longest)


# ---- end to end over HTTP ------------------------------------------------------------------


def answers_right(question: str) -> bool:
    """The scripted model's skill: right on about two thirds of the items, decided by the text."""
    return zlib.crc32(question.encode()) % 3 != 0


def scripted_mmlu(data: Path) -> Script:
    """Finds the test item in a request (completion or chat) and answers it as planned."""
    items: dict[str, list[tuple[str, str]]] = {}
    for subject in SUBJECTS:
        items[subject.replace("_", " ")] = [
            (hendrycks(r, False).removesuffix("\nAnswer:"), r[5])
            for r in rows(data, "test", subject)
        ]
    about = re.compile(r"with answers\) about  ?([a-z ]+)\.")

    def respond(request: dict[str, Any]) -> list[Choice]:
        chat = "messages" in request
        whole = json.dumps(request["messages"]) if chat else request["prompt"]
        last = request["messages"][-1]["content"] if chat else request["prompt"]
        subject = about.search(whole)
        assert subject is not None
        question, gold = max(
            ((q, g) for q, g in items[subject.group(1)] if q in last), key=lambda qg: len(qg[0])
        )
        letter = gold if answers_right(question) else "ABCD"[("ABCD".index(gold) + 1) % 4]
        # A base model runs on into the next question unless the stop sequence ends it.
        text = f"Answer: {letter}" if chat else f" {letter}\n\nThe following are"
        return [Choice(text)]

    return Script(responder=respond)


@pytest.fixture(scope="module")
def mmlu_server() -> Iterator[OpenAIStandIn]:
    from conftest import DATA

    if not (DATA / "mmlu" / "test").is_dir():
        pytest.skip(f"MMLU data not found at {DATA}")
    with running_server(scripted_mmlu(DATA)) as srv:
        yield srv


def run_args(srv: OpenAIStandIn, data: Path, tmp: Path, task: str, *extra: str) -> list[str]:
    return [
        "run", task, "--model", "openai/stand-in", "--base-url", srv.base_url,
        "--data-dir", str(data), "--store", str(tmp / "store.db"), "--json", str(tmp / "out.json"),
        *extra,
    ]  # fmt: skip


def stored(tmp: Path) -> list[tuple[str, str, str, int, str]]:
    db = sqlite3.connect(tmp / "store.db")
    return db.execute("SELECT item_id, subset, question, correct, prompt FROM samples").fetchall()


def test_cli_run_all_subjects(
    cli: Any, mmlu_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    mmlu_server.stats.reset()
    r = cli(
        *run_args(mmlu_server, data_dir, tmp_path, "mmlu", "--limit", "2", "--api", "completions")
    )
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    tasks = out["tasks"]
    assert sorted(k for k in tasks if k != "mmlu") == [f"mmlu/{s}" for s in SUBJECTS]
    records = stored(tmp_path)
    assert len(records) == 114 and out["usage"]["requests"] == 114
    planned = {item: answers_right(question) for item, _, question, _, _ in records}
    assert {item: bool(c) for item, _, _, c, _ in records} == planned
    assert any(planned.values()) and not all(planned.values())

    head = tasks["mmlu"]
    assert head["aggregate"] == "micro" and head["n"] == 114
    assert head["correct"] == sum(planned.values())
    assert head["accuracy"] == pytest.approx(head["correct"] / 114)
    per_subject = [tasks[f"mmlu/{s}"]["accuracy"] for s in SUBJECTS]
    assert all(tasks[f"mmlu/{s}"]["n"] == 2 for s in SUBJECTS)
    assert head["macro_accuracy"] == pytest.approx(sum(per_subject) / 57)
    by_category = head["by_category"]
    assert set(by_category) == CATEGORY_NAMES
    assert by_category["STEM"]["n"] == 36 and by_category["humanities"]["n"] == 26
    assert sum(v["n"] for v in by_category.values()) == 114
    for name, v in by_category.items():
        right = sum(planned[i] for i, subset, *_ in records if CATEGORIES[subset] == name)
        assert v["correct"] == right

    body = mmlu_server.stats.bodies[0]
    assert body["stop"] == ["\n"] and body["max_tokens"] <= 16
    assert body["prompt"].endswith("\nAnswer:")
    manifest = json.loads(sqlite3.connect(tmp_path / "store.db").execute(
        "SELECT manifest FROM runs").fetchone()[0])["tasks"]["mmlu"]  # fmt: skip
    assert manifest["format"] == "fewshot-direct" and len(manifest["data"]) == 57
    assert len(manifest["exemplars"]["sha256"]) == 64


def test_cli_run_one_subject_chat(
    cli: Any, mmlu_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    r = cli(*run_args(mmlu_server, data_dir, tmp_path, "mmlu/anatomy", "--limit", "5"))
    assert r.code == 0, r.err
    tasks = json.loads((tmp_path / "out.json").read_text())["tasks"]
    assert sorted(tasks) == ["mmlu", "mmlu/anatomy"]
    records = stored(tmp_path)
    assert tasks["mmlu"]["n"] == 5 and {subset for _, subset, *_ in records} == {"anatomy"}
    assert tasks["mmlu"]["correct"] == sum(answers_right(q) for _, _, q, _, _ in records)
    assert tasks["mmlu"]["by_category"]["other"]["n"] == 5
    assert tasks["mmlu"]["macro_accuracy"] == tasks["mmlu"]["accuracy"]
    messages = json.loads(records[0][4])["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 5 + ["user"]


def test_cli_max_context_drops_exemplars_per_item(
    cli: Any, mmlu_server: OpenAIStandIn, data_dir: Path, tmp_path: Path
) -> None:
    args = run_args(mmlu_server, data_dir, tmp_path, "mmlu/professional_law", "--limit", "40",
                    "--api", "completions", "--max-context", "1400")  # fmt: skip
    r = cli(*args)
    assert r.code == 0, r.err
    budget = 1400 - MMLU().max_tokens("fewshot-direct")
    kept = []
    for _, _, question, _, prompt_json in stored(tmp_path):
        text = json.loads(prompt_json)["prompt"]
        assert text.endswith(question + "\nAnswer:") and math.ceil(len(text) / 4) <= budget
        kept.append(len(re.findall(r"\nAnswer: [ABCD]\n\n", text)))
    assert min(kept) >= 1 and max(kept) < 5 and min(kept) < max(kept)


def test_cli_reports_bad_data_on_one_line(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "mmlu" / "test").mkdir(parents=True)
    (tmp_path / "mmlu" / "test" / "anatomy_test.csv").write_text("Q,a,b\n", encoding="utf-8")
    r = cli("run", "mmlu/anatomy", "--model", "openai/x", "--base-url", "http://127.0.0.1:9",
            "--data-dir", str(tmp_path), "--store", str(tmp_path / "s.db"))  # fmt: skip
    assert r.code == 2 and "anatomy_test.csv:1:" in r.err and "--data-dir" in r.err
    assert len(r.err.strip().splitlines()) == 1
    listing = cli("tasks")
    assert "mmlu" in listing.out and "fewshot-direct (default)" in listing.out
