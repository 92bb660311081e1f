"""The vllm/ backend without vllm: its pure translation functions, its batching worker and a GSM8K
run through the runner, over stand-ins for ``vllm.LLM``, ``SamplingParams`` and the tokenizer."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import gold_of, gsm8k_items
from cothub.data.source import DataSource
from cothub.errors import BackendError, CothubError
from cothub.extract.reasoning import with_thinking
from cothub.models import make_backend, parse_model
from cothub.models.vllm_offline import (
    INSTALL_HINT,
    Engine,
    VLLMBackend,
    completions_of,
    engine_input,
    reasoning_tokens,
    sampling_kwargs,
)
from cothub.run import RunConfig, Runner, plan
from cothub.store import open_store
from cothub.tasks import PromptOptions
from cothub.types import ApiStyle, Completion, GenerateConfig, Message, Prompt

THINK_END = 99_999
"""The stand-in tokenizer's single id for ``</think>`` (as Qwen3's and DeepSeek-R1's have)."""


class Tokenizer:
    """Characters as token ids, BOS = 1; a template that opens the thinking like DeepSeek-R1's."""

    def __init__(self, template: str | None = "r1") -> None:
        self.chat_template = template

    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool
    ) -> str:
        assert not tokenize and add_generation_prompt
        turns = "".join(f"<|{m['role']}|>{m['content']}" for m in messages)
        return "<s>" + turns + "<|assistant|><think>\n"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if text == "</think>":
            return [THINK_END]
        return ([1] if add_special_tokens else []) + [ord(c) for c in text]

    @staticmethod
    def decode(ids: list[int]) -> str:
        return "".join(chr(i) for i in ids if i != 1)


def output(prompt_ids: list[int], *choices: tuple[str, list[int], str]) -> SimpleNamespace:
    """A ``RequestOutput`` look-alike."""
    outs = [
        SimpleNamespace(index=i, text=text, token_ids=ids, finish_reason=finish)
        for i, (text, ids, finish) in enumerate(choices)
    ]
    return SimpleNamespace(prompt_token_ids=prompt_ids, outputs=list(reversed(outs)))


@dataclass
class FakeLLM:
    """``vllm.LLM`` look-alike: answers each prompt with ``respond(prompt text, params)``."""

    respond: Callable[[str, dict[str, Any]], tuple[str, list[int], str]]
    tokenizer: Tokenizer = field(default_factory=Tokenizer)
    batches: list[int] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)
    fail: Exception | None = None

    def get_tokenizer(self) -> Tokenizer:
        return self.tokenizer

    def generate(
        self, prompts: list[dict[str, Any]], params: list[dict[str, Any]], use_tqdm: bool
    ) -> list[SimpleNamespace]:
        assert use_tqdm is False and len(prompts) == len(params)
        self.batches.append(len(prompts))
        self.threads.add(threading.current_thread().name)
        if self.fail is not None:
            raise self.fail
        return [
            output(p["prompt_token_ids"], self.respond(Tokenizer.decode(p["prompt_token_ids"]), sp))
            for p, sp in zip(prompts, params, strict=True)
        ]


def backend(llm: FakeLLM, style: ApiStyle = "chat", max_len: int | None = None) -> VLLMBackend:
    return VLLMBackend("./m", style, Engine(llm, dict, "0.0-test", max_len))


# ---- pure translation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "stop", "expected"),
    [
        (GenerateConfig(256), (), {"n": 1, "temperature": 0.0, "max_tokens": 256}),
        (
            GenerateConfig(64, temperature=0.7, top_p=0.9, seed=3, n=8),
            ("\n\nQ:",),
            {
                "n": 8,
                "temperature": 0.7,
                "max_tokens": 64,
                "top_p": 0.9,
                "seed": 3,
                "stop": ["\n\nQ:"],
            },
        ),
    ],
)
def test_sampling_params_carry_the_resolved_settings_only(
    config: GenerateConfig, stop: tuple[str, ...], expected: dict[str, Any]
) -> None:
    assert sampling_kwargs(config, stop) == expected


def test_chat_prompts_are_rendered_by_the_template_and_tokenized_without_a_second_bos() -> None:
    chat = Prompt("chat", messages=(Message("system", "Be brief."), Message("user", "2+2?")))
    inp = engine_input(chat, Tokenizer())
    rendered = "<s><|system|>Be brief.<|user|>2+2?<|assistant|><think>\n"
    assert inp.request == {"prompt_token_ids": [ord(c) for c in rendered]}  # no BOS id added
    assert inp.opened == "<think>\n"
    text = engine_input(Prompt("completions", text="Q: 2+2?\nA:"), Tokenizer())
    assert text.request == {"prompt_token_ids": [1] + [ord(c) for c in "Q: 2+2?\nA:"]}
    assert text.opened == ""


def test_request_outputs_become_completions_in_choice_order() -> None:
    out = output(
        [1, 2, 3],
        ("so 4</think>The answer is 4.", [5, 6, THINK_END, 7, 8], "stop"),
        ("hmm, 5 or", [5, 6, 7], "length"),
    )
    first, second = completions_of(out, "<think>\n", THINK_END, 0.5)
    assert first == Completion(
        text="<think>\nso 4</think>The answer is 4.",
        finish_reason="stop",
        prompt_tokens=3,
        completion_tokens=5,
        reasoning_tokens=3,
        latency_s=0.5,
    )
    assert second.text == "<think>\nhmm, 5 or" and second.finish_reason == "length"
    assert second.reasoning_tokens == 3  # never closed
    # The thinking is copied apart once, as the run receives the reply (not by the backend).
    assert (
        with_thinking(first).reasoning == "so 4" and with_thinking(second).reasoning == "hmm, 5 or"
    )
    assert second.prompt_tokens == 0  # the request's prompt is counted once
    (plain,) = completions_of(output([1], ("4", [9], "abort")), "", THINK_END, 0.1)
    assert plain.reasoning is None and plain.finish_reason == "error"


@pytest.mark.parametrize(
    ("ids", "text", "think_end", "expected"),
    [
        ([5, THINK_END, 6], "<think>a</think>b", THINK_END, 2),
        ([5, THINK_END, 6, THINK_END, 7], "<think>a</think>b</think>c", THINK_END, 4),
        ([5, 6], "<think>a", THINK_END, 2),
        ([5, 6], "no thinking", THINK_END, 0),
        ([5, THINK_END, 6], "<think>a</think>b", None, 0),  # no single token: not estimated
    ],
)
def test_reasoning_tokens_are_counted_exactly_or_not_at_all(
    ids: list[int], text: str, think_end: int | None, expected: int
) -> None:
    assert reasoning_tokens(ids, text, think_end) == expected


# ---- loading ----------------------------------------------------------------------------------


def test_missing_vllm_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, cli: Any, data_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed, even where it is
    hint = r'pip install -e "\.\[vllm\]" \(in the cothub source folder\) on a GPU machine'
    with pytest.raises(CothubError, match=hint):
        make_backend(parse_model("vllm/Qwen/Qwen3-0.6B"), "chat", None)
    r = cli(
        "run", "gsm8k", "--model", "vllm/Qwen/Qwen3-0.6B", "--data-dir", data_dir,
        "--store", tmp_path / "s.db", "--limit", "2",
    )  # fmt: skip
    assert (
        r.code == 2
        and r.err.strip() == f"cothub: error: vllm/ models need the vllm package: {INSTALL_HINT}"
    )


def test_base_url_and_missing_chat_template_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(CothubError, match="--base-url does not apply to vllm/"):
        make_backend(parse_model("vllm/m"), "chat", "http://localhost:8000/v1")
    llm = FakeLLM(lambda p, sp: ("", [], "stop"), tokenizer=Tokenizer(template=None))
    with pytest.raises(CothubError, match="--api completions"):
        backend(llm)
    assert backend(llm, "completions").identity == {
        "provider": "vllm",
        "model": "./m",
        "revision": "hub",
        "vllm": "0.0-test",
        "api": "completions",
    }


# ---- the batching worker ----------------------------------------------------------------------


def gather(b: VLLMBackend, prompts: list[Prompt], config: GenerateConfig) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return await asyncio.gather(
                *(b.generate(p, config) for p in prompts), return_exceptions=True
            )
        finally:
            await b.aclose()

    return asyncio.run(go())


def user_turn(rendered: str) -> str:
    return rendered.rsplit("<|user|>", 1)[1].split("<|assistant|>")[0]


def ask(i: int) -> Prompt:
    return Prompt("chat", messages=(Message("user", f"Q{i}"),))


def test_concurrent_calls_share_one_engine_call_off_the_event_loop() -> None:
    llm = FakeLLM(lambda text, sp: (f"{user_turn(text)}</think>A", [4, THINK_END, 5], "stop"))
    b = backend(llm)
    results = gather(b, [ask(i) for i in range(10, 22)], GenerateConfig(32))
    assert llm.batches == [12] and llm.threads == {"vllm-batch"}
    assert [r[0].text for r in results] == [f"<think>\nQ{i}</think>A" for i in range(10, 22)]
    assert all(r[0].reasoning_tokens == 2 for r in results)


def test_engine_failure_reaches_every_waiting_caller_as_one_line() -> None:
    llm = FakeLLM(lambda text, sp: ("", [], "stop"), fail=RuntimeError("CUDA error:\nillegal"))
    results = gather(backend(llm), [ask(i) for i in range(3)], GenerateConfig(32))
    assert all(isinstance(r, BackendError) for r in results)
    assert str(results[0]) == "vllm/./m failed: RuntimeError: CUDA error: illegal"


def test_a_prompt_longer_than_the_context_is_refused_before_the_engine_runs() -> None:
    llm = FakeLLM(lambda text, sp: ("", [], "stop"))
    (error,) = gather(backend(llm, max_len=64), [ask(1)], GenerateConfig(32))
    assert isinstance(error, BackendError) and "pass --max-context 64" in str(error)
    assert llm.batches == []


# ---- a GSM8K run through the runner -----------------------------------------------------------


def test_gsm8k_run_grades_after_the_thinking_and_counts_unclosed_thinking(
    data_dir: Path, tmp_path: Path
) -> None:
    items = gsm8k_items(data_dir)
    golds = {it["question"].split("\n")[0]: gold_of(it).replace(",", "") for it in items}
    kinds: list[str] = []
    seen: list[dict[str, Any]] = []

    def respond(text: str, params: dict[str, Any]) -> tuple[str, list[int], str]:
        seen.append(params)
        question = user_turn(text).split("\n")[0]
        gold = golds[question]
        kind = ("right", "gold-in-thinking", "unclosed")[len(kinds) % 3]
        kinds.append(kind)
        if kind == "right":
            return (f"Adding up.</think>The answer is {gold}.", [5, THINK_END, 6], "stop")
        if kind == "gold-in-thinking":
            return (f"Maybe {gold}.</think>The answer is {int(gold) + 1}.", [5, THINK_END], "stop")
        return (f"It is {gold}, or", [5, 6, 7], "length")

    llm = FakeLLM(respond)
    config = RunConfig(
        tasks=("gsm8k",),
        format="zeroshot-cot",
        options=PromptOptions(style="chat"),
        limit=12,
        seed=0,
        max_tokens=None,
        temperature=0.0,
    )
    plans = plan(config, DataSource.resolve(data_dir), "chat")
    store = open_store(tmp_path / "store.db")
    try:
        result = asyncio.run(Runner(backend(llm), store, config).run(plans))
    finally:
        store.close()
    assert llm.batches == [12]
    assert seen == [{"n": 1, "temperature": 0.0, "max_tokens": 512}] * 12
    summary = result.summaries["gsm8k"]
    assert (summary.correct, summary.unparsed, summary.truncated) == (4, 4, 4)
    assert summary.extraction is not None and summary.extraction.unclosed_thinking == 4
    assert result.usage.reasoning_tokens == 4 * 2 + 4 * 2 + 4 * 3
