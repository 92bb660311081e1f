"""MMLU-Pro: loading the authors' zip, the 5-shot CoT prompt byte for byte, the authors'
extraction and seeded guess, summaries, a run over HTTP, and GPT-4o's published 72.55."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, SHARED
from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.tasks import PromptOptions, resolve_task
from cothub.tasks.mmlu_pro import (
    CATEGORIES,
    INITIAL_PROMPT,
    MMLUPro,
    extract_letter,
    seeded_guess,
)
from cothub.testing.openai_server import Choice, Script, running_server
from cothub.types import Sample

ZIP = DATA / "mmlu-pro" / "local_data" / "local_250825.zip"
GPT4O = SHARED / "reference" / "mmlu-pro-gpt-4o-outputs" / "eval_results" / "gpt4o"


def need_data() -> DataSource:
    if not ZIP.is_file():
        pytest.skip(f"MMLU-Pro not found at {ZIP}")
    return DataSource(DATA)


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return MMLUPro().load(need_data(), []).samples


def raw(split: str) -> list[dict[str, Any]]:
    name = {"test": "mmlu_pro_test_data.json", "validation": "mmlu_pro_val_data.json"}[split]
    with zipfile.ZipFile(ZIP) as z:
        return list(json.loads(z.read(f"local_250825/{name}")))


def test_12032_questions_in_14_categories(samples: list[Sample]) -> None:
    assert len(samples) == 12032 and len({s.id for s in samples}) == 12032
    counts = Counter(s.subset for s in samples)
    assert counts["math"] == 1351 and counts["computer_science"] == 410 and len(counts) == 14
    assert Counter(len(s.choices) for s in samples)[10] == 9981
    assert Counter(dict(s.tags)["source"] for s in samples) == {
        "ori_mmlu": 6810, "stemez": 4083, "theoremQA": 598, "scibench": 541
    }  # fmt: skip
    assert all(s.gold in "ABCDEFGHIJ"[: len(s.choices)] for s in samples)


def test_initial_prompt_constant_is_the_file() -> None:
    path = DATA / "mmlu-pro" / "cot_prompt_lib" / "initial_prompt.txt"
    if not path.is_file():
        pytest.skip("initial_prompt.txt not found")
    assert path.read_text(encoding="utf-8") == INITIAL_PROMPT


def authors_prompt(val: list[dict[str, Any]], curr: dict[str, Any], k: int) -> str:
    """``generate_cot_prompt`` of evaluate_from_local.py, rewritten here from its text."""

    def fmt(ex: dict[str, Any], including_answer: bool) -> str:
        p = "Question:\n" + ex["question"] + "\n" + "Options:\n"
        opts = [o for o in ex["options"] if o != "N/A"]
        for i, opt in enumerate(opts):
            p += "{}. {}\n".format("ABCDEFGHIJ"[i], opt)
        if including_answer:
            cot = ex["cot_content"].replace(
                "A: Let's think step by step.", "Answer: Let's think step by step."
            )
            return p + cot + "\n\n"
        return p + "Answer: Let's think step by step."

    prompt = INITIAL_PROMPT.replace("{$}", curr["category"]) + "\n"
    for ex in [v for v in val if v["category"] == curr["category"]][:k]:
        prompt += fmt(ex, True)
    return prompt + fmt(curr, False)


def test_every_prompt_is_the_authors_byte_for_byte(samples: list[Sample]) -> None:
    data = need_data()
    val, test = raw("validation"), raw("test")
    prompter = MMLUPro().prompter(data, "", PromptOptions(style="completions"))
    for s, row in zip(samples, test, strict=True):
        prompt = prompter.render(s)
        assert prompt.text == authors_prompt(val, row, 5), s.id
        assert prompt.stop == ("Question:",) and prompt.n_exemplars == 5
    chat = MMLUPro().prompter(data, "", PromptOptions(style="chat")).render(samples[0])
    assert [m.role for m in chat.messages] == ["user"]
    assert chat.messages[0].content == authors_prompt(val, test[0], 5)


def test_context_fitting_drops_exemplars_from_the_end(samples: list[Sample]) -> None:
    data, s = need_data(), samples[0]
    full = MMLUPro().prompter(data, "", PromptOptions(style="completions")).render(s)
    budget = len(full.text) // 4 - 200
    fitted = (
        MMLUPro()
        .prompter(data, "", PromptOptions(style="completions", max_prompt_tokens=budget))
        .render(s)
    )
    k = fitted.n_exemplars
    assert k < 5 and fitted.text == authors_prompt(raw("validation"), raw("test")[0], k)


def test_zero_shot_and_direct_formats(samples: list[Sample]) -> None:
    data, s = need_data(), samples[0]
    zero = MMLUPro().prompter(data, "zeroshot-cot", PromptOptions(style="completions")).render(s)
    assert zero.text == authors_prompt([], raw("test")[0], 0)
    direct = MMLUPro().prompter(data, "fewshot-direct", PromptOptions(style="completions"))
    text = direct.render(s).text
    assert text.startswith(
        "The following are multiple choice questions (with answers) about business.\n\nQuestion:\n"
    )
    assert text.endswith("\nAnswer:") and text.count("\nAnswer: ") == 5
    assert MMLUPro().choices(s, "fewshot-direct") == [
        f" {k}" for k in "ABCDEFGHIJ"[: len(s.choices)]
    ]
    assert MMLUPro().choices(s, "fewshot-cot") is None


# ---- extraction: the authors' regexes and their fallbacks -----------------------------------

EXTRACTION = [
    # (text, rule, letter, method)
    ("... so the answer is (C).", "local", "C", "answer-is"),
    ("The answer is D", "local", "D", "answer-is"),
    ("the answer is (B). Wait, the answer is (E).", "local", "B", "answer-is"),  # the first
    ("The answer is **B. Turgor pressure**.", "first", None, "none"),  # the May-2024 rule
    ("The answer is **B. Turgor pressure**.", "local", "B", "last-letter"),
    ("Answer: G\nbecause ...", "local", "G", "answer-colon"),
    ("answer: A then Answer: C", "local", "C", "answer-colon"),  # greedy: the last on a line
    ("It must be E, mitochondria, Golgi", "local", "G", "last-letter"),  # any capital A-J
    ("It must be E, mitochondria, Golgi", "api", "E", "last-letter"),  # standalone only
    ("no letters here", "local", None, "none"),
    ("answer is (a)", "local", None, "none"),  # lower case is no letter to them
    ("Answer is (a)", "local", "A", "last-letter"),  # ... but the "A" of "Answer" is
    ("Answer is (a)", "api", None, "none"),
]


@pytest.mark.parametrize(("text", "rule", "letter", "method"), EXTRACTION)
def test_extraction_table(text: str, rule: str, letter: str | None, method: str) -> None:
    found, how, span = extract_letter(text, rule)
    assert (found, how) == (letter, method)
    if found is not None:
        assert span is not None and text[span[0] : span[1]] == found


def test_seeded_guess_is_the_authors() -> None:
    import random

    for n in range(1, 11):
        random.seed(12345)
        assert seeded_guess(n) == random.randint(0, n - 1)
    assert [seeded_guess(n) for n in (10, 8, 7, 4, 3, 2, 1)] == [6, 6, 3, 3, 1, 1, 0]


def test_grading_with_and_without_the_guess() -> None:
    s = Sample("1", "q", "G", "math", (("src", "x"),), tuple("abcdefghij"))
    g = MMLUPro().grade(s, "I cannot tell")  # no capital A-J at all... except "I"
    assert g.answer == "I" and not g.correct
    g = MMLUPro().grade(s, "no idea")
    assert (g.correct, g.answer, g.method, g.check) == (True, None, "seeded-guess", "guess=G")
    off, _ = resolve_task("mmlu-pro:guess=off")
    assert off.grade(s, "no idea").correct is False
    assert MMLUPro().grade(s, "the answer is (J)").check == "letter"
    short = Sample("2", "q", "A", "math", (), ("x", "y"))
    assert MMLUPro().grade(short, "the answer is (J)").check == "letter-out-of-range"
    with pytest.raises(CothubError, match="extract='x' is not one of local, api, first"):
        resolve_task("mmlu-pro:extract=x")


def test_run_over_http_with_per_category_results(cli: Any, tmp_path: Path) -> None:
    need_data()
    golds = {s.question: s.gold for s in MMLUPro().load(DataSource(DATA), ["history"]).samples}

    def respond(request: dict[str, Any]) -> list[Choice]:
        text = request["messages"][-1]["content"]
        question = text.rsplit("Question:\n", 1)[1].split("\nOptions:\n")[0]
        return [Choice(f"Let's think. The answer is ({golds[question]}).")]

    with running_server(Script(responder=respond)) as srv:
        r = cli("run", "mmlu-pro/history", "--limit", "7", "--model", "openai/stand-in",
                "--base-url", srv.base_url, "--data-dir", str(DATA),
                "--store", str(tmp_path / "s.db"),
                "--json", str(tmp_path / "out.json"))  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())["tasks"]
    assert (out["mmlu-pro"]["n"], out["mmlu-pro"]["correct"]) == (7, 7)
    assert out["mmlu-pro/history"]["n"] == 7 and "by_source" in out["mmlu-pro"]


# ---- GPT-4o, all 12,032, May-2024 outputs -----------------------------------------------------

SUMMARY = {  # category -> corr, from the authors' *_summary.json files
    "biology": 622, "business": 620, "chemistry": 837, "computer science": 321,
    "economics": 682, "engineering": 533, "health": 590, "history": 267, "law": 562,
    "math": 1028, "other": 716, "philosophy": 350, "physics": 970, "psychology": 632,
}  # fmt: skip


def gpt4o_import(cli: Any, tmp: Path, task: str, *extra: str) -> dict[str, Any]:
    files = sorted(GPT4O.glob("*_result.json"))
    if len(files) != 14:
        pytest.skip(f"GPT-4o outputs not found at {GPT4O}")
    r = cli("import", task, *map(str, files), "--id-field", "question_id",
            "--model-name", "gpt-4o", "--data-dir", str(need_data().root), *extra,
            "--store", str(tmp / "s.db"), "--json", str(tmp / "out.json"))  # fmt: skip
    assert r.code == 0, r.err
    assert "matched 12,032 of 12,032 records to items (id 12,032)" in r.err
    return dict(json.loads((tmp / "out.json").read_text())["tasks"])


def test_gpt4o_reproduces_72_55_and_every_category(cli: Any, tmp_path: Path) -> None:
    own = ("--gold-field", "answer", "--choices-field", "options")
    tasks = gpt4o_import(cli, tmp_path, "mmlu-pro:extract=first", *own)
    head = tasks["mmlu-pro"]
    assert (head["correct"], head["n"]) == (8730, 12032)
    assert int(head["accuracy"] * 10000) / 100 == 72.55  # the README truncates: 72.5565
    for category, corr in SUMMARY.items():
        assert tasks[f"mmlu-pro/{category.replace(' ', '_')}"]["correct"] == corr, category
    assert head["methods"]["seeded-guess"] == 571 and head["unparsed"] == 571
    db = sqlite3.connect(tmp_path / "s.db")
    man = json.loads(db.execute("SELECT manifest FROM runs").fetchone()[0])
    assert man["import"]["gold"] == {"field": "answer", "differs_from_dataset": 206}
    assert man["tasks"]["mmlu-pro"]["params"] == {"extract": "first"}


def test_gpt4o_under_the_current_rules_and_the_current_gold(cli: Any, tmp_path: Path) -> None:
    """The same outputs under the authors' current chain (73.78) and against the 2025 gold."""
    own = ("--gold-field", "answer", "--choices-field", "options")
    assert gpt4o_import(cli, tmp_path / "a", "mmlu-pro", *own)["mmlu-pro"]["correct"] == 8877
    snapshot = gpt4o_import(cli, tmp_path / "b", "mmlu-pro:extract=first")["mmlu-pro"]
    assert snapshot["correct"] == 8670


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


def test_categories_are_the_datasets() -> None:
    rows = raw("validation") if ZIP.is_file() else []
    if not rows:
        pytest.skip("MMLU-Pro not found")
    assert sorted({r["category"] for r in rows}) == list(CATEGORIES)
    assert Counter(r["category"] for r in rows) == dict.fromkeys(CATEGORIES, 5)
