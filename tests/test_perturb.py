"""Prompt perturbations: each transform table-tested, seeded, and recorded by ``cothub run``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cothub.data.source import DataSource
from cothub.errors import CothubError
from cothub.prompts import Exemplar
from cothub.prompts.perturb import PERTURBATIONS, perturb, perturbed
from cothub.tasks import PromptOptions, resolve_task
from cothub.testing.openai_server import Script, running_server

SHOTS = [
    Exemplar("Q one? (A) x (B) y (C) z", "Step a1.\nStep a2.\nStep a3.", "6"),
    Exemplar("Q two? (A) x (B) y", "Step b1.\nStep b2.", "(B)"),
    Exemplar("Q three?", " One sentence. Two sentence. Three sentence. ", "True"),
    Exemplar("Q four?", "Step d1.\nStep d2.", "6"),
]


def test_every_name_is_registered() -> None:
    assert set(PERTURBATIONS) == {
        "wrong-answers",
        "invalid-rationale",
        "shuffled-steps",
        "no-rationale",
        "irrelevant-rationale",
        "random-labels",
    }


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_seeded_and_pure(name: str) -> None:
    a = perturb(SHOTS, name, seed=3)
    assert a == perturb(SHOTS, name, seed=3)  # the same prompt on every machine
    assert [e.question for e in a] == [e.question for e in SHOTS]  # questions never change
    assert SHOTS[0].rationale == "Step a1.\nStep a2.\nStep a3."  # the input is untouched


def test_wrong_answers_are_all_wrong() -> None:
    for seed in range(20):
        out = perturb(SHOTS, "wrong-answers", seed)
        assert all(o.answer != e.answer for o, e in zip(out, SHOTS, strict=True))
        assert [o.rationale for o in out] == [e.rationale for e in SHOTS]


def test_invalid_rationale_is_another_exemplars() -> None:
    for seed in range(20):
        out = perturb(SHOTS, "invalid-rationale", seed)
        bodies = [e.rationale.strip() for e in SHOTS]
        for i, o in enumerate(out):
            assert o.rationale.strip() in bodies and o.rationale.strip() != bodies[i]
            assert o.answer == SHOTS[i].answer
        assert out[2].rationale.startswith(" ") and out[2].rationale.endswith(" ")  # spacing


def test_shuffled_steps_permute_lines_or_sentences() -> None:
    out = perturb(SHOTS, "shuffled-steps", 0)
    for o, e in zip(out, SHOTS, strict=True):
        assert o.rationale != e.rationale
        assert o.answer == e.answer
    assert sorted(out[0].rationale.split("\n")) == sorted(SHOTS[0].rationale.split("\n"))
    assert sorted(out[2].rationale.split()) == sorted(SHOTS[2].rationale.split())
    assert out[2].rationale.startswith(" ") and out[2].rationale.endswith(" ")


def test_no_and_irrelevant_rationale() -> None:
    none = perturb(SHOTS, "no-rationale", 0)
    assert [o.rationale for o in none] == ["", "", " ", ""]  # one separator kept (BBH layout)
    assert [o.answer for o in none] == [e.answer for e in SHOTS]
    filler = perturb(SHOTS, "irrelevant-rationale", 0)
    assert len(filler[0].rationale.split("\n")) == 3  # as many steps as before
    assert all("Step" not in o.rationale for o in filler)


def test_random_labels_stay_in_the_label_space() -> None:
    seen = set()
    for seed in range(30):
        out = perturb(SHOTS, "random-labels", seed)
        assert out[1].answer in ("(A)", "(B)")  # the options of that question
        assert out[2].answer in {"6", "(B)", "True"}
        seen.add(out[1].answer)
    assert seen == {"(A)", "(B)"}  # drawn at random, the right label included


def test_unknown_name_is_one_line() -> None:
    with pytest.raises(CothubError, match="unknown perturbation 'bogus'; choose one of"):
        perturb(SHOTS, "bogus")
    assert perturbed(SHOTS, None, 0) == (SHOTS, None)


def test_bbh_perturbed_prompt_keeps_its_layout(data_dir: Path) -> None:
    task, subset = resolve_task("bbh/boolean_expressions")
    data = DataSource.resolve(data_dir)
    sample = task.load(data, [subset]).samples[0]
    opts = PromptOptions(style="completions", perturb="no-rationale")
    prompter = task.prompter(data, "fewshot-cot", opts)
    text = prompter.render(sample).text
    assert "A: Let's think step by step.\nSo the answer is" in text  # one line break kept
    assert prompter.perturbation is not None
    assert prompter.perturbation["name"] == "no-rationale"
    plain = task.prompter(data, "fewshot-cot", PromptOptions(style="completions"))
    assert plain.perturbation is None and plain.exemplar_hash != prompter.exemplar_hash


def _manifests(db: Path) -> list[dict[str, Any]]:
    rows = sqlite3.connect(db).execute("SELECT manifest FROM runs").fetchall()
    return [json.loads(r[0]) for r in rows]


def test_run_perturb_is_recorded_only_when_set(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    with running_server(Script(default="The answer is 3.")) as srv:
        base = [
            "run",
            "gsm8k",
            "--model",
            "openai/stand-in",
            "--base-url",
            srv.base_url,
            "--data-dir",
            data_dir,
            "--store",
            tmp_path / "s.db",
            "--limit",
            "3",
        ]
        plain = cli(*base, "--json", tmp_path / "a.json")
        assert plain.code == 0, plain.err
        r = cli(*base, "--perturb", "no-rationale", "--seed", "0", "--json", tmp_path / "b.json")
        assert r.code == 0, r.err
        bad = cli(*base, "--perturb", "bogus")
        assert bad.code == 2 and "unknown perturbation 'bogus'" in bad.err
    ids = [json.loads((tmp_path / f).read_text())["run_id"] for f in ("a.json", "b.json")]
    assert ids[0] != ids[1]
    by_entry = {
        m["tasks"]["gsm8k"].get("perturbation", {}).get("name"): m
        for m in _manifests(tmp_path / "s.db")
    }
    assert set(by_entry) == {None, "no-rationale"}  # a plain run's manifest is as it was
    shots = by_entry["no-rationale"]["tasks"]["gsm8k"]["perturbation"]["exemplars"][""]
    assert len(shots) == 8 and all(s["rationale"] == "" for s in shots)
    prompts = (
        sqlite3.connect(tmp_path / "s.db")
        .execute("SELECT prompt FROM samples WHERE run_id=?", (ids[1],))
        .fetchall()
    )
    assert prompts and all("There are 15 trees originally" not in p[0] for p in prompts)
