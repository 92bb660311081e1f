"""The ``hf/`` backend on tiny models built here (random weights, a tokenizer trained on synthetic
sentences): batching, stops, sampling, chat templates, log-likelihoods, and end-to-end runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from cothub.errors import BackendError, CothubError  # noqa: E402
from cothub.models.hf import HFBackend  # noqa: E402
from cothub.types import Completion, GenerateConfig, Message, Prompt  # noqa: E402

PLANTED = "Question: which option is right ? Answer: B . the end"
ASK = "Question: which option is right ?"
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "far",
    "mat",
    "away",
    "how",
    "many",
    "apples",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
GREEDY = GenerateConfig(max_tokens=10)


@dataclass(frozen=True)
class Models:
    random: Path
    """A Llama with random weights; its tokenizer has a chat template."""
    trained: Path
    """A GPT-2 trained to continue ``ASK`` with `` Answer: B . the end`` and EOS; no chat
    template."""


def _tokenizer(chat: bool) -> Any:
    rng = random.Random(0)
    corpus = [" ".join(rng.choices(WORDS, k=rng.randint(3, 12))) for _ in range(300)]
    corpus += [PLANTED] * 20 + [f"Answer: {k}" for k in "ABCD"] * 5
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<eos>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>"
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def _gpt2(vocab: int) -> Any:
    """Learned absolute positions: padding must come with the right position ids."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=vocab, n_positions=4096, n_embd=32, n_layer=2, n_head=4, eos_token_id=1
    )
    return transformers.GPT2LMHeadModel(config)


def _llama(vocab: int) -> Any:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    return transformers.LlamaForCausalLM(config)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return build_models(tmp_path_factory.mktemp("hf"))


def build_models(root: Path) -> Models:
    """The two tiny models, saved under ``root`` (test_ray's local-model actors load them too)."""
    tok = _tokenizer(chat=True)
    _llama(len(tok)).save_pretrained(root / "random")
    tok.save_pretrained(root / "random")

    tok = _tokenizer(chat=False)
    model = _gpt2(len(tok))
    ids = torch.tensor([tok(PLANTED)["input_ids"] + [tok.eos_token_id]])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(root / "trained")
    tok.save_pretrained(root / "trained")
    return Models(root / "random", root / "trained")


def text(t: str, *stop: str) -> Prompt:
    return Prompt("completions", text=t, stop=stop)


PROMPTS = [
    text("the"),
    text("the cat sat on the mat and the dog ran far away"),
    text("how many apples"),
    text("she has a cat"),
    text("question what is the answer ? answer"),
    text("a dog"),
    text("mat mat mat on the far away dog sat how many"),
    text("apples"),
]


def together(backend: HFBackend, prompts: list[Prompt], config: GenerateConfig) -> Any:
    async def go() -> list[list[Completion]]:
        return await asyncio.gather(*(backend.generate(p, config) for p in prompts))

    return asyncio.run(go())


def one_by_one(backend: HFBackend, prompts: list[Prompt], config: GenerateConfig) -> Any:
    async def go() -> list[list[Completion]]:
        return [await backend.generate(p, config) for p in prompts]

    return asyncio.run(go())


@pytest.mark.parametrize("which", ["random", "trained"])
def test_batches_equal_one_by_one(models: Models, which: str) -> None:
    backend = HFBackend(str(getattr(models, which)), "completions", max_batch=8)
    alone = one_by_one(backend, PROMPTS, GREEDY)
    batched = together(backend, PROMPTS, GREEDY)
    assert backend.batches == [1] * 8 + [8]  # eight calls gathered into one model call
    # Left padding with an attention mask, float32: the same tokens, not just close ones.
    assert [timeless(c[0]) for c in batched] == [timeless(c[0]) for c in alone]
    assert all(c[0].prompt_tokens > 0 and c[0].completion_tokens > 0 for c in batched)

    backend.max_batch = 3  # 8 pending calls, at most 3 rows a call
    again = together(backend, PROMPTS, GREEDY)
    assert backend.batches[9:] == [3, 3, 2]
    assert [c[0].text for c in again] == [c[0].text for c in alone]


def test_decoding_reuses_the_key_value_cache(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = HFBackend(str(models.random), "completions")
    widths: list[int] = []
    forward = backend.model.forward

    def recording(*args: Any, **kw: Any) -> Any:
        widths.append(kw["input_ids"].shape[1])
        return forward(*args, **kw)

    monkeypatch.setattr(backend.model, "forward", recording)
    [[c]] = one_by_one(backend, [PROMPTS[1]], GenerateConfig(max_tokens=6))
    # The prompt once, then one new token per step (not the whole sequence again).
    assert widths == [c.prompt_tokens] + [1] * (c.completion_tokens - 1)


def timeless(c: Completion) -> Completion:
    return dataclasses.replace(c, latency_s=0.0)


def test_stop_strings_eos_and_length(models: Models) -> None:
    backend = HFBackend(str(models.trained), "completions")
    tok = backend.tokenizer
    planted = PLANTED[len(ASK) :]
    [[full]] = one_by_one(backend, [text(ASK)], GenerateConfig(max_tokens=30))
    assert full.text == planted and full.finish_reason == "stop"  # EOS, not counted in text
    n_planted = len(tok(PLANTED)["input_ids"]) - len(tok(ASK)["input_ids"])
    assert full.completion_tokens == n_planted + 1  # EOS counts as generated

    cut, other = together(
        backend, [text(ASK, " the end", "never"), text(ASK)], GenerateConfig(max_tokens=30)
    )
    assert cut[0].text == planted[: planted.index(" the end")] == " Answer: B ."
    assert cut[0].finish_reason == "stop"
    assert cut[0].completion_tokens < full.completion_tokens
    assert timeless(other[0]) == timeless(full)  # its batch neighbour stopped, not it

    [[short]] = one_by_one(backend, [text(ASK, "the end")], GenerateConfig(max_tokens=3))
    assert short.finish_reason == "length" and short.completion_tokens == 3
    assert planted.startswith(short.text) and len(short.text) < len(planted)


def reference_loglikelihood(model: Any, tok: Any, context: str, continuation: str) -> float:
    whole = tok(context + continuation)["input_ids"]
    n = len(whole) - len(tok(context)["input_ids"])
    with torch.no_grad():
        logprobs = model(input_ids=torch.tensor([whole])).logits[0].log_softmax(-1)
    return float(sum(logprobs[i - 1, whole[i]] for i in range(len(whole) - n, len(whole))))


def test_loglikelihood_ranks_the_planted_option_and_matches_the_logits(models: Models) -> None:
    backend = HFBackend(str(models.trained), "completions")
    context = ASK + " Answer:"
    pairs = [(context, f" {k}") for k in "ABCD"]
    pairs += [("the cat", " sat on the mat"), ("a", " dog ran far away")]  # other lengths
    scores = asyncio.run(backend.loglikelihood(pairs))
    assert max(range(4), key=lambda i: scores[i]) == 1
    assert scores[1] > scores[0] + 3  # not a near tie
    model = transformers.AutoModelForCausalLM.from_pretrained(str(models.trained))
    expected = [reference_loglikelihood(model, backend.tokenizer, c, o) for c, o in pairs]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert backend.batches == [3]  # one padded call; the one-token options share a row


def test_sampling_n_seeds_and_batch_neighbours(models: Models) -> None:
    backend = HFBackend(str(models.random), "completions")
    sampled = GenerateConfig(max_tokens=8, temperature=1.0, seed=7, n=4)
    [[*four]] = one_by_one(backend, PROMPTS[:1], sampled)
    assert len(four) == 4 and len({c.text for c in four}) > 1
    assert [c.prompt_tokens > 0 for c in four] == [True, False, False, False]
    [again] = one_by_one(backend, PROMPTS[:1], sampled)
    assert [c.text for c in again] == [c.text for c in four]  # same seed, same samples
    # In a batch with other prompts, a prompt's samples stay the same.
    batched = together(backend, PROMPTS[:3], sampled)
    assert [c.text for c in batched[0]] == [c.text for c in four]
    other = GenerateConfig(max_tokens=8, temperature=1.0, seed=8, n=4)
    [reseeded] = one_by_one(backend, PROMPTS[:1], other)
    assert [c.text for c in reseeded] != [c.text for c in four]

    [copies] = one_by_one(backend, PROMPTS[:1], GenerateConfig(max_tokens=8, n=3))
    assert len(copies) == 3 and len({c.text for c in copies}) == 1  # greedy: one decode
    assert [c.completion_tokens > 0 for c in copies] == [True, False, False]


def test_chat_template_for_chat_prompts_only(models: Models) -> None:
    chat = HFBackend(str(models.random), "chat")
    tok = chat.tokenizer
    messages = (Message("user", "how many apples"), Message("assistant", "a cat"))
    messages += (Message("user", "she has"),)
    [[reply]] = one_by_one(chat, [Prompt("chat", messages=messages)], GREEDY)
    rendered = "<|user|>how many apples\n<|assistant|>a cat\n<|user|>she has\n<|assistant|>"
    assert reply.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])

    plain = HFBackend(str(models.random), "completions")
    [[raw]] = one_by_one(plain, [text("how many apples")], GREEDY)
    assert raw.prompt_tokens == len(tok("how many apples")["input_ids"])

    with pytest.raises(CothubError, match="--api completions"):
        HFBackend(str(models.trained), "chat")  # a base model: no template


def test_cuda_out_of_memory_halves_the_batch(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = HFBackend(str(models.random), "completions")
    expected = [c[0].text for c in one_by_one(backend, PROMPTS[:6], GREEDY)]
    generate = backend.model.generate

    def small_only(**kw: Any) -> Any:
        if kw["input_ids"].shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return generate(**kw)

    monkeypatch.setattr(backend.model, "generate", small_only)
    backend.batches.clear()
    got = together(backend, PROMPTS[:6], GREEDY)
    assert [c[0].text for c in got] == expected
    assert backend.batches[:2] == [6, 3] and backend.max_batch == 1

    def never(**kw: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(backend.model, "generate", never)
    with pytest.raises(BackendError, match="ran out of GPU memory on one prompt"):
        one_by_one(backend, PROMPTS[:1], GREEDY)


# ---- through the CLI -------------------------------------------------------------------------


def test_mmlu_by_loglikelihood_end_to_end(
    cli: Any, models: Models, data_dir: Path, tmp_path: Path
) -> None:
    args = [
        "run", "mmlu/abstract_algebra", "--model", f"hf/{models.trained}",
        "--scoring", "loglikelihood", "--limit", "5", "--data-dir", str(data_dir),
        "--store", str(tmp_path / "s.db"), "--json", str(tmp_path / "out.json"),
    ]  # fmt: skip
    r = cli(*args)
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["tasks"]["mmlu"]["n"] == 5 and out["usage"]["requests"] == 5
    rows = (
        sqlite3.connect(tmp_path / "s.db")
        .execute("SELECT completion, steps, answer, gold, correct, prompt FROM samples")
        .fetchall()
    )
    assert len(rows) == 5
    for completion, steps, answer, gold, correct, prompt in rows:
        scored = json.loads(steps)
        assert [s["option"] for s in scored] == [" A", " B", " C", " D"]
        best = max(scored, key=lambda s: s["loglikelihood"])
        assert completion == best["option"] == " B"  # what the model was trained to say
        assert answer == "B" and bool(correct) == (gold == "B")
        assert json.loads(prompt)["prompt"].endswith("\nAnswer:")  # Hendrycks' layout

    again = cli(*args)
    assert again.code == 0, again.err
    out2 = json.loads((tmp_path / "out.json").read_text())
    assert out2["usage"]["requests"] == 0 and out2["usage"]["cached"] == 5
    assert out2["tasks"] == out["tasks"]


def test_gsm8k_generation_end_to_end(
    cli: Any, models: Models, data_dir: Path, tmp_path: Path
) -> None:
    r = cli(
        "run", "gsm8k", "--model", f"hf/{models.random}", "--limit", "3", "--max-tokens", "8",
        "--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"),
        "--json", str(tmp_path / "out.json"),
    )  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["tasks"]["gsm8k"]["n"] == 3 and out["usage"]["requests"] == 3
    rows = (
        sqlite3.connect(tmp_path / "s.db")
        .execute("SELECT prompt_tokens, completion_tokens, finish_reason FROM samples")
        .fetchall()
    )
    assert len(rows) == 3
    for prompt_tokens, completion_tokens, finish_reason in rows:
        assert prompt_tokens > 100 and 0 < completion_tokens <= 8
        assert finish_reason in ("stop", "length")


def test_load_failures_are_one_line(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    common = ["--data-dir", str(data_dir), "--store", str(tmp_path / "s.db"), "--limit", "1"]
    cases = [
        (f"hf/{tmp_path}/missing", "does not exist"),
        (f"hf/{data_dir}", "holds no config.json"),
        ("hf/no-such-org/no-such-model", "--model hf/DIR"),
    ]
    for model, needle in cases:
        r = cli("run", "gsm8k", "--model", model, *common)
        assert r.code == 2 and r.err.count("\n") == 1 and needle in r.err, r.err
