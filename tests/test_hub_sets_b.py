"""MuSR, C-Eval and CMMLU: Hub-only loaders, exercised through the real ``load_hub`` on small
fixtures written here in each dataset's Hub schema (``datasets.load_dataset`` is replaced by one
that serves them), their prompts and graders, and the one-line offline message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cothub.data import source
from cothub.data.source import DataSource
from cothub.tasks import TASKS, PromptOptions
from cothub.tasks.ceval import chinese_mc_answer
from cothub.tasks.musr import INSTRUCTION, SYSTEM, musr_answer
from cothub.testing.openai_server import Choice, Script, running_server

MUSR_ROW = {
    "narrative": "In the manor, Ana had the key and a motive; Mack had neither.",
    "question": "Who is the most likely murderer?",
    "choices": "['Mack', 'Ana']",
    "answer_index": 1,
    "answer_choice": "Ana",
}
CEVAL_ROW = {
    "id": 0,
    "question": "1+1=?",
    "A": "1",
    "B": "2",
    "C": "3",
    "D": "4",
    "answer": "B",
    "explanation": "1加1等于2。",
}
CMMLU_ROW = {
    "Question": "中国的首都是？",
    "A": "上海",
    "B": "广州",
    "C": "北京",
    "D": "深圳",
    "Answer": "C",
}


def _serve(rows: dict[tuple[str, str | None, str], list[dict[str, Any]]]) -> Any:
    import datasets

    def load_dataset(repo: str, config: str | None = None, split: str = "") -> Any:
        key = (repo, config, split)
        if key not in rows:
            raise FileNotFoundError(f"no fixture for {key}")
        return datasets.Dataset.from_list(rows[key])

    return load_dataset


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str | None, str], list[dict[str, Any]]]:
    """Fixture rows by (repo, config, split), served as the Hub would."""
    datasets = pytest.importorskip("datasets")
    rows: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {}
    for domain in ("murder_mysteries", "object_placements", "team_allocation"):
        rows[("TAUR-Lab/MuSR", None, domain)] = [MUSR_ROW, {**MUSR_ROW, "answer_index": 0}]
    for subject in TASKS["ceval"].subsets:
        rows[("ceval/ceval-exam", subject, "val")] = [CEVAL_ROW, {**CEVAL_ROW, "answer": "D"}]
        rows[("ceval/ceval-exam", subject, "dev")] = [CEVAL_ROW] * 5
    for subject in TASKS["cmmlu"].subsets:
        rows[("haonan-li/cmmlu", subject, "test")] = [CMMLU_ROW]
        rows[("haonan-li/cmmlu", subject, "dev")] = [CMMLU_ROW] * 5
    monkeypatch.setattr(datasets, "load_dataset", _serve(rows))
    monkeypatch.setattr(source, "_REACHABLE", True)
    return rows


def test_musr_loads_renders_and_grades(hub: Any) -> None:
    task = TASKS["musr"]
    data = DataSource(None)
    loaded = task.load(data, ["murder_mysteries"])
    s = loaded.samples[0]
    assert (s.id, s.gold, s.choices, s.subset) == ("murder_mysteries/0", "2", ("Mack", "Ana"),
                                                   "murder_mysteries")  # fmt: skip
    assert list(loaded.provenance) == ["hf:TAUR-Lab/MuSR/default/murder_mysteries"]
    assert len(task.load(data, []).samples) == 6
    chat = task.prompter(data, "", PromptOptions(style="chat")).render(s)
    assert chat.messages[0].content == SYSTEM
    user = chat.messages[1].content
    assert user.startswith(MUSR_ROW["narrative"] + "\n\n" + MUSR_ROW["question"])
    assert "Pick one of the following choices:\n1 - Mack\n2 - Ana\n\n" in user
    assert user.endswith(INSTRUCTION)
    assert task.grade(s, "Ana had the key.\nANSWER: 2 - Ana").correct
    assert task.grade(s, "ANSWER: Ana").correct
    assert not task.grade(s, "ANSWER: 1").correct
    assert task.grade(s, "I cannot tell.").answer is None
    # another form than the ANSWER: line: the benchmark's rule decides, the grade is flagged
    stated = task.grade(s, "Ana had the key and a motive.\nThe murderer is Ana.")
    assert (stated.correct, stated.answer, stated.disagreement) == (False, None, True)
    assert not task.grade(s, "The answer is Mack.").disagreement  # wrong either way


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("ANSWER: 2", "2", "choice-number"),
        ("first ANSWER: 1, then\nANSWER: (2) Ana", "2", "choice-number"),
        ("ANSWER: ana", "2", "choice-text"),
        ("ANSWER: Mack or Ana", None, "unparsed"),
        ("the answer is Ana", None, "no-answer-line"),
    ],
)
def test_musr_answer_cases(text: str, answer: str | None, method: str) -> None:
    assert musr_answer(text, ["Mack", "Ana"]) == (answer, method)


def test_ceval_val_split_with_dev_exemplars(hub: Any) -> None:
    task = TASKS["ceval"]
    data = DataSource(None)
    samples = task.load(data, ["computer_network"]).samples
    assert [s.gold for s in samples] == ["B", "D"]
    assert dict(samples[0].tags) == {"category": "STEM"}
    text = task.prompter(data, "fewshot-direct", PromptOptions(style="completions"))
    prompt = text.render(samples[0])
    head = "以下是中国关于计算机网络考试的单项选择题，请选出其中的正确答案。\n\n"
    item = "1+1=?\nA. 1\nB. 2\nC. 3\nD. 4\n答案："
    assert prompt.text == head + f"{item}B\n\n" * 5 + item and prompt.n_exemplars == 5
    cot = task.prompter(data, "fewshot-cot", PromptOptions(style="chat")).render(samples[0])
    assert cot.messages[1].content == "让我们一步一步思考，\n1加1等于2。\n所以答案是B。"
    assert task.grade(samples[0], "B").correct
    assert task.grade(samples[0], "所以答案是B。", "fewshot-cot").correct
    assert not task.grade(samples[1], "答案：B").correct
    assert len(task.load(data, []).samples) == 104  # 52 subjects x 2 fixture rows


def test_cmmlu_test_split_and_prompt(hub: Any) -> None:
    task = TASKS["cmmlu"]
    data = DataSource(None)
    s = task.load(data, ["chinese_history"]).samples[0]
    assert (s.gold, s.choices) == ("C", ("上海", "广州", "北京", "深圳"))
    prompt = task.prompter(data, "", PromptOptions(style="completions")).render(s)
    item = "题目：中国的首都是？\nA. 上海\nB. 广州\nC. 北京\nD. 深圳\n答案是："
    assert (
        prompt.text
        == "以下是关于中国历史的单项选择题，请直接给出正确答案的选项。\n\n"
        + (f"{item}C\n\n" * 5)
        + item
    )
    assert task.grade(s, "C").correct and not task.grade(s, "A").correct
    assert len(task.load(data, []).samples) == 67
    with pytest.raises(Exception, match="has no format 'fewshot-cot'"):
        task.prompt_format("fewshot-cot")


@pytest.mark.parametrize(
    ("text", "cot", "answer"),
    [
        ("B", False, "B"),
        ("答案：C", False, "C"),
        ("  D. 4", False, "D"),
        ("我认为……所以答案是A。", True, "A"),
        ("答案是B，不，答案是C", True, "C"),
        ("The answer is (D).", True, "D"),
        ("不知道", True, None),
        ("不知道", False, None),
    ],
)
def test_chinese_answer_cases(text: str, cot: bool, answer: str | None) -> None:
    assert chinese_mc_answer(text, cot)[0] == answer


def test_ceval_end_to_end_over_http(hub: Any, cli: Any, tmp_path: Path) -> None:
    def respond(request: dict[str, Any]) -> list[Choice]:
        return [Choice("B")]

    with running_server(Script(responder=respond)) as srv:
        r = cli("run", "ceval/computer_network", "ceval/logic", "--model", "openai/stand-in",
                "--base-url", srv.base_url, "--store", tmp_path / "s.db",
                "--json", tmp_path / "out.json")  # fmt: skip
    assert r.code == 0, r.err
    tasks = json.loads((tmp_path / "out.json").read_text())["tasks"]
    assert tasks["ceval"]["n"] == 4 and tasks["ceval"]["correct"] == 2
    assert set(tasks["ceval"]["by_category"]) == {"STEM", "Humanities"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("task", ["musr", "ceval/logic", "cmmlu/arts"])
def test_offline_is_one_clear_line(tmp_path: Path, task: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COTHUB_DATA_DIR"}
    env.update(
        HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
        HF_HOME=str(tmp_path / "hf"),
        COTHUB_STORE=str(tmp_path / "s.db"),
    )
    r = subprocess.run(
        [sys.executable, "-m", "cothub", "run", task, "--model", "openai/x",
         "--base-url", f"http://127.0.0.1:{_closed_port()}/v1"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "not reachable" in lines[0] and "Traceback" not in r.stderr
