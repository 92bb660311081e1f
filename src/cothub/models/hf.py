"""Local inference with Hugging Face ``transformers``: ``hf/<Hub repo id or local folder>``.

    pip install -e ".[hf]"
    cothub run gsm8k --model hf/Qwen/Qwen2.5-0.5B-Instruct                 # chat template
    cothub run gsm8k --model hf/./my-checkpoint --api completions           # a base model
    cothub run mmlu --model hf/meta-llama/Llama-3.1-8B --scoring loglikelihood

Why it looks the way it does:

* **Batching.** The runner keeps ``--concurrency`` calls in flight; one worker gathers the pending
  calls that share a generation config into a batch (longest prompts first, left-padded), runs
  ``model.generate`` in a thread and resolves each caller. A batch holds at most 32 rows (a row is
  one sequence: a prompt times its ``n`` samples); on CUDA out-of-memory the limit halves and the
  batch is retried.
* **Only the run's settings.** The checkpoint's ``generation_config.json`` sampling defaults
  (temperature, top-k, repetition penalty, ...) are dropped at load, keeping only its EOS/BOS ids:
  what the run manifest records is what decodes.
* **Stops** are checked on the decoded new text of each row after every token (the text is cut
  before the stop string, as OpenAI-style servers do); EOS or a stop string is ``stop``, the token
  limit ``length``. Token counts come from the tokenizer (EOS included, padding not).
* **Sampling** draws every row's tokens from its own ``torch.Generator`` seeded by (run seed,
  prompt tokens, sample index), so the random stream of a prompt's samples does not depend on
  which prompts share its batch, nor on ``--concurrency``. Greedy decoding (temperature 0) returns
  ``n`` copies of one decode.
* **Reproducibility limits.** Padding changes the arithmetic a little: in float32 (the tests) a
  prompt gets the same tokens alone and batched; in bfloat16 the logits move by ~1e-2, enough to
  flip near ties, so batched and one-by-one outputs (greedy or sampled) can differ, as they do on
  any batching server. The same command on the same hardware, dtype and library versions is
  reproducible only as far as batches form alike; the completion cache keeps what a run saw.
* **Log-likelihood** (``--scoring loglikelihood``): the continuation's tokens are those of
  ``tokenize(context + continuation)`` after ``len(tokenize(context))``, as lm-evaluation-harness
  counts them; rows are left-padded with explicit position ids and only the last logits kept, and
  options of one token (`` A`` .. `` D``) share one row.

``--model-arg KEY=VALUE`` sets ``revision``, ``dtype``, ``device``, a ``peft`` adapter and
``trust_remote_code`` (off unless asked: models that need their own Python code are refused,
with a hint); set ones are part of the backend's identity, unset ones leave it as it was.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import inspect
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cothub.errors import BackendError, CothubError
from cothub.extract.reasoning import open_thinking_tail
from cothub.models.batching import Gatherer
from cothub.models.checkpoint import fingerprint, one_line
from cothub.types import ApiStyle, Completion, FinishReason, GenerateConfig, Prompt

MAX_BATCH = 32
"""Rows per model call before any out-of-memory halving."""
_CONTEXT_TOKENS = 4
"""Tokens decoded before a span so that its first token reads as it does in context
(SentencePiece drops the leading space of a sequence's first word)."""
_INSTALL = 'pip install -e ".[hf]" (after `pip install torch` for your platform)'


@dataclass(eq=False, slots=True)
class _Job:
    """One row group waiting for the model: a prompt to continue, or a pair to score."""

    key: object
    """Jobs with equal keys may share a model call (same kind, same generation config)."""
    ids: list[int]
    rows: int
    future: asyncio.Future[Any]
    config: GenerateConfig | None = None
    stop: tuple[str, ...] = ()
    continuation: int = 0
    """Scoring: how many of the last ``ids`` are the continuation."""
    prefix: str = ""
    """Generation: text the chat template already wrote into the reply (an open ``<think>``)."""


_DTYPES = ("auto", "float32", "float16", "bfloat16")
_TRUE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How an ``hf/`` model is loaded (``--model-arg KEY=VALUE``); unset fields keep the
    defaults (the Hub's main revision, the checkpoint's dtype, the GPU if there is one, no
    adapter, no remote code). Recorded in the backend's identity only when set, so runs without
    them keep their cache keys."""

    revision: str | None = None
    dtype: str | None = None
    device: str | None = None
    peft: str | None = None
    """A PEFT adapter (a local folder or a Hub repo id) applied on top of the model."""
    trust_remote_code: bool = False
    """Run the model repository's own Python code; off unless asked for."""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for key in ("revision", "dtype", "device", "peft"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.trust_remote_code:
            out["trust_remote_code"] = True
        return out


MODEL_ARGS = ("revision", "dtype", "device", "peft", "trust_remote_code")


def load_options(args: dict[str, str]) -> LoadOptions:
    """``--model-arg`` pairs, checked: unknown keys and bad values are one line."""
    example = "e.g. --model-arg dtype=bfloat16"
    for key in args:
        if key not in MODEL_ARGS:
            raise CothubError(
                f"--model-arg {key}: hf/ models take {', '.join(MODEL_ARGS)}; {example}"
            )
    dtype = args.get("dtype")
    if dtype is not None and dtype not in _DTYPES:
        raise CothubError(f"--model-arg dtype={dtype}: use one of {', '.join(_DTYPES)}")
    device = args.get("device")
    if device is not None and not (
        device in ("cpu", "cuda", "mps") or (device.startswith("cuda:") and device[5:].isdigit())
    ):
        raise CothubError(f"--model-arg device={device}: use cpu, cuda, cuda:N or mps")
    trust = args.get("trust_remote_code", "false").lower()
    if trust not in _TRUE:
        raise CothubError(f"--model-arg trust_remote_code={trust}: use true or false")
    for key in ("revision", "peft"):
        if key in args and not args[key].strip():
            raise CothubError(f"--model-arg {key}= is empty; give a value or leave it out")
    return LoadOptions(
        revision=args.get("revision"),
        dtype=dtype,
        device=device,
        peft=args.get("peft"),
        trust_remote_code=_TRUE[trust],
    )


def preflight(name: str, args: dict[str, str] | None = None) -> LoadOptions:
    """What loading ``hf/NAME`` would refuse, found without loading it: the packages, a local
    folder, the ``--model-arg`` values and an adapter folder."""
    from cothub.api import installed

    options = load_options(args or {})
    for package in ("torch", "transformers"):
        if not installed(package):
            raise CothubError(f"hf/ models need torch and transformers: {_INSTALL}")
    if _check_folder(name) is None:
        _check_hub(name, options.revision)
    if options.peft is not None:
        if not installed("peft"):
            raise CothubError("--model-arg peft=... needs the peft package: pip install peft")
        if (
            _looks_local(options.peft)
            and not (Path(options.peft).expanduser() / "adapter_config.json").is_file()
        ):
            raise CothubError(
                f"--model-arg peft={options.peft}: no adapter_config.json there; give a folder "
                "saved by peft's save_pretrained, or a Hub repo id"
            )
    return options


class HFBackend:
    """A causal language model and its tokenizer, loaded once, serving batched calls."""

    def __init__(
        self,
        name: str,
        style: ApiStyle,
        max_batch: int = MAX_BATCH,
        options: LoadOptions | None = None,
    ) -> None:
        self._name = name
        self._style: ApiStyle = style
        options = options or LoadOptions()
        self.model, self.tokenizer, revision = _load(name, options)
        import torch

        self._torch = torch
        self._device = self.model.device
        if style == "chat" and not getattr(self.tokenizer, "chat_template", None):
            raise CothubError(
                f"hf/{name}: the tokenizer has no chat template (a base model?); "
                "add --api completions to send one text prompt"
            )
        generation = self.model.generation_config
        eos = {generation.eos_token_id, self.tokenizer.eos_token_id}
        self._eos = sorted(
            {i for e in eos if e is not None for i in ([e] if isinstance(e, int) else e)}
        )
        pad = self.tokenizer.pad_token_id
        self._pad: int = pad if pad is not None else (self._eos[0] if self._eos else 0)
        from transformers import GenerationConfig

        self.model.generation_config = GenerationConfig(
            bos_token_id=generation.bos_token_id,
            eos_token_id=self._eos,
            pad_token_id=self._pad,
            use_cache=True,  # decoding reuses the key/value cache (tested)
        )
        self._context: int | None = getattr(self.model.config, "max_position_embeddings", None)
        forward = inspect.signature(self.model.forward).parameters
        self._forward_args = {a for a in ("position_ids", "logits_to_keep") if a in forward}
        self._identity: dict[str, object] = {
            "provider": "hf",
            "model": name,
            "revision": revision,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "api": style,
        }
        if options.as_json():  # only when set: runs without them keep their cache keys
            self._identity["load"] = options.as_json()
        self.max_batch = max_batch
        """Current rows per call: starts at the configured maximum, halves on CUDA OOM."""
        self.batches: list[int] = []
        """Rows of every model call so far (how well concurrent calls were gathered)."""
        self._tok_lock = threading.Lock()  # the loop encodes while the model thread decodes
        self._jobs: Gatherer[_Job] = Gatherer(self._take, self._call, self._recover)

    @property
    def identity(self) -> dict[str, object]:
        return self._identity

    @property
    def style(self) -> ApiStyle:
        return self._style

    async def aclose(self) -> None:
        """Stop the worker and free the weights (the next ``--model`` of a command needs the
        memory)."""
        self._jobs.close()
        self.model = None
        gc.collect()
        if self._device.type == "cuda":
            self._torch.cuda.empty_cache()

    # ---- the public calls ----------------------------------------------------------------------

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        ids, prefix = self._prompt_ids(prompt)
        self._check_fits(len(ids) + config.max_tokens, f"{config.max_tokens} new tokens")
        rows = config.n if config.temperature > 0 else 1
        job = _Job(
            ("generate", config), ids, rows, self._future(), config, prompt.stop, prefix=prefix
        )
        result: list[Completion] = await self._submit([job])[0]
        return result

    async def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """Per (context, continuation): the sum of the continuation tokens' log-probabilities."""
        jobs = []
        for context, continuation in requests:
            head = self._encode(context, special=True)
            ids = self._encode(context + continuation, special=True)
            # At least one token, should the tokenizer merge the continuation into the context.
            n = max(1, len(ids) - len(head))
            self._check_fits(len(ids), "the scored option")
            jobs.append(_Job(("score",), ids, 1, self._future(), continuation=n))
        scores = await asyncio.gather(*self._submit(jobs))
        return [float(s) for s in scores]

    # ---- tokens ------------------------------------------------------------------------------

    def _encode(self, text: str, special: bool) -> list[int]:
        with self._tok_lock:
            ids: list[int] = self.tokenizer(text, add_special_tokens=special)["input_ids"]
        return ids

    def _decode_after(self, ids: Sequence[int], start: int) -> str:
        """The text of ``ids[start:]`` as it reads after ``ids[:start]``."""
        lead = list(ids[max(0, start - _CONTEXT_TOKENS) : start])
        with self._tok_lock:
            head: str = self.tokenizer.decode(lead, skip_special_tokens=True)
            full: str = self.tokenizer.decode(lead + list(ids[start:]), skip_special_tokens=True)
            if full.startswith(head):
                return full[len(head) :]
            alone: str = self.tokenizer.decode(list(ids[start:]), skip_special_tokens=True)
            return alone

    def _prompt_ids(self, prompt: Prompt) -> tuple[list[int], str]:
        """The prompt's tokens, and the start of the reply that a chat template writes itself."""
        if prompt.style != "chat":
            return self._encode(prompt.text, special=True), ""
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        try:
            with self._tok_lock:
                text = self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
        except Exception as e:  # jinja raises for turns a template does not accept
            raise BackendError(
                f"the chat template of hf/{self._name} rejected the prompt ({one_line(e)}); "
                "try --api completions"
            ) from e
        # The template writes BOS (and every other special token) itself.
        return self._encode(str(text), special=False), open_thinking_tail(str(text))

    def count_tokens(self, prompt: Prompt) -> int:
        """The prompt's length in this model's tokens, as :meth:`generate` would send it (chat
        template and special tokens included): what ``--max-context`` fits prompts by."""
        return len(self._prompt_ids(prompt)[0])

    def _check_fits(self, tokens: int, what: str) -> None:
        if self._context is not None and tokens > self._context:
            raise BackendError(
                f"a prompt with {what} needs {tokens} tokens, more than hf/{self._name}'s context "
                f"of {self._context}; pass --max-context {self._context} to fit few-shot prompts"
            )

    # ---- the batching worker -------------------------------------------------------------------

    def _future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def _submit(self, jobs: list[_Job]) -> list[asyncio.Future[Any]]:
        self._jobs.submit(jobs)
        return [j.future for j in jobs]

    def _take(self, pending: list[_Job]) -> list[_Job]:
        """Pending jobs that can share a call with the oldest one, longest first (so an
        out-of-memory shows up in the first batch), up to ``max_batch`` rows."""
        key = pending[0].key
        same = sorted((j for j in pending if j.key == key), key=lambda j: -len(j.ids))
        batch: list[_Job] = []
        rows = 0
        inputs: set[tuple[int, ...]] = set()  # scoring: options of one token share a row
        for job in same:
            shared = job.config is None and tuple(job.ids[:-1]) in inputs
            cost = 0 if shared else job.rows
            if batch and rows + cost > self.max_batch:
                break
            batch.append(job)
            rows += cost
            if job.config is None:
                inputs.add(tuple(job.ids[:-1]))
        return batch

    async def _call(self, jobs: list[_Job]) -> list[Any]:
        return await asyncio.to_thread(self._run, jobs)

    def _recover(self, e: Exception, jobs: list[_Job]) -> BaseException | None:
        """Out of GPU memory with more than one row: halve the batch and try again."""
        if isinstance(e, self._torch.cuda.OutOfMemoryError) and len(jobs) > 1:
            self._torch.cuda.empty_cache()
            self.max_batch = max(1, sum(j.rows for j in jobs) // 2)
            return None
        return self._failure(e, jobs)

    def _failure(self, e: Exception, jobs: list[_Job]) -> BackendError:
        if isinstance(e, self._torch.cuda.OutOfMemoryError):
            return BackendError(
                f"hf/{self._name} ran out of GPU memory on one prompt of {len(jobs[0].ids)} "
                f"tokens ({jobs[0].rows} rows); lower --max-tokens or the number of samples, or "
                "use a smaller model"
            )
        return BackendError(f"hf/{self._name} failed: {type(e).__name__}: {one_line(e)}")

    def _run(self, jobs: list[_Job]) -> list[Any]:
        """One model call for a batch of jobs (in a worker thread)."""
        with self._torch.inference_mode():
            if jobs[0].config is None:
                return self._score(jobs)
            return self._generate(jobs)

    def _left_padded(self, rows: list[list[int]]) -> tuple[Any, Any]:
        width = max(len(r) for r in rows)
        ids = [[self._pad] * (width - len(r)) + r for r in rows]
        mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
        torch = self._torch
        return (
            torch.tensor(ids, dtype=torch.long, device=self._device),
            torch.tensor(mask, dtype=torch.long, device=self._device),
        )

    def _generate(self, jobs: list[_Job]) -> list[list[Completion]]:
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        config = jobs[0].config
        assert config is not None
        rows = [(job, k) for job in jobs for k in range(job.rows)]
        self.batches.append(len(rows))
        input_ids, mask = self._left_padded([job.ids for job, _ in rows])
        start = input_ids.shape[1]
        watch = _Watch(self, start, [job.stop for job, _ in rows], self._eos)
        processors = []
        if config.temperature > 0:
            seeds = [_row_seed(config.seed, job.ids, k) for job, k in rows]
            processors.append(_Sampler(self._torch, seeds, config.temperature, config.top_p))
        began = time.perf_counter()
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            # Greedy decoding of the sampler's one-hot scores (see _Sampler).
            generation_config=GenerationConfig(
                max_new_tokens=config.max_tokens, do_sample=False, num_beams=1, use_cache=True
            ),
            logits_processor=LogitsProcessorList(processors),
            stopping_criteria=StoppingCriteriaList([watch]),
        )
        latency = time.perf_counter() - began
        sequences = out.tolist()
        made: dict[int, list[Completion]] = {}
        for r, (job, _) in enumerate(rows):
            text, reason, used = self._finish(sequences[r], start, watch.ended.get(r), job.stop)
            text = job.prefix + text
            first = id(job) not in made
            made.setdefault(id(job), []).append(
                Completion(
                    text=text,
                    finish_reason=reason,
                    prompt_tokens=len(job.ids) if first else 0,
                    completion_tokens=used,
                    latency_s=latency,
                )
            )
        out_jobs = []
        for job in jobs:
            got = made[id(job)]
            n = job.config.n if job.config is not None else 1
            # Greedy: one decode stands for all n (copies cost no tokens).
            copy = Completion(
                got[0].text, got[0].finish_reason, got[0].reasoning, latency_s=latency
            )
            got += [copy] * (n - len(got))
            out_jobs.append(got)
        return out_jobs

    def _finish(
        self, row: list[int], start: int, ended: tuple[int, str] | None, stop: tuple[str, ...]
    ) -> tuple[str, FinishReason, int]:
        """(text cut before the first stop string, finish reason, tokens generated)."""
        used, why = ended if ended is not None else (len(row) - start, "length")
        body = row[: start + used - (1 if why == "eos" else 0)]
        text = self._decode_after(body, start)
        cuts = [at for at in (text.find(s) for s in stop) if at >= 0]
        if cuts:
            text, why = text[: min(cuts)], "stop"
        return text, "length" if why == "length" else "stop", used

    def _score(self, jobs: list[_Job]) -> list[float]:
        # The model reads all but the last token; the last ``keep`` positions predict the
        # continuations (left padding puts every row's end in the same column). Options of one
        # token (`` A`` .. `` D``) share their input: one row reads it for all of them.
        rows: dict[tuple[int, ...], int] = {}
        for j in jobs:
            rows.setdefault(tuple(j.ids[:-1]), len(rows))
        self.batches.append(len(rows))
        input_ids, mask = self._left_padded([list(r) for r in rows])
        keep = max(j.continuation for j in jobs)
        kwargs: dict[str, Any] = {"attention_mask": mask, "use_cache": False}
        if "position_ids" in self._forward_args:
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        if "logits_to_keep" in self._forward_args:
            kwargs["logits_to_keep"] = keep
        logits = self.model(input_ids=input_ids, **kwargs).logits[:, -keep:, :]
        logprobs = logits.float().log_softmax(-1)
        out = []
        for job in jobs:
            n, r = job.continuation, rows[tuple(job.ids[:-1])]
            targets = self._torch.tensor(job.ids[-n:], device=logprobs.device)
            picked = logprobs[r, keep - n :, :].gather(-1, targets[:, None])
            out.append(float(picked.sum()))
        return out


class _Watch:
    """Stopping criterion: ends a row on EOS or when a stop string shows in its new text, and
    remembers where (``ended[row] = (tokens generated, "eos" | "stop")``)."""

    def __init__(
        self, backend: HFBackend, start: int, stops: list[tuple[str, ...]], eos: list[int]
    ) -> None:
        self._backend = backend
        self._start = start
        self._stops = stops
        # A stop string of c characters spans at most c tokens; a few more for byte pieces.
        self._window = [max((len(s) for s in ss), default=0) + 8 for ss in stops]
        self._eos = set(eos)
        self.ended: dict[int, tuple[int, str]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> _Watch:
        return self  # some transformers versions copy criteria; the record must stay shared

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        length = input_ids.shape[1]
        new = length - self._start
        # One device-to-host copy per step for all rows: a copy per row (a GPU sync each) made
        # a batch of 32 several times slower per step than plain generate on a GPU.
        first = max(0, self._start - _CONTEXT_TOKENS, length - max(self._window) - _CONTEXT_TOKENS)
        recent = input_ids[:, first:length].tolist()
        done = []
        for r, row in enumerate(recent):
            if r not in self.ended:
                if row[-1] in self._eos:
                    self.ended[r] = (new, "eos")
                elif self._stops[r] and self._stopped(row, first, r, length):
                    self.ended[r] = (new, "stop")
            done.append(r in self.ended)
        return self._backend._torch.tensor(done, dtype=self._backend._torch.bool).to(
            input_ids.device
        )

    def _stopped(self, row: list[int], first: int, r: int, length: int) -> bool:
        """Whether row ``r``'s new text ends in a stop string; ``row`` holds its tokens from
        position ``first`` to ``length``."""
        begin = max(self._start, length - self._window[r])
        lead = max(0, begin - _CONTEXT_TOKENS)
        tail = self._backend._decode_after(row[lead - first :], begin - lead)
        return any(s in tail for s in self._stops[r])


class _Sampler:
    """Temperature / top-p sampling with one generator per row, as a logits processor whose
    output is one-hot, so that greedy ``generate`` takes exactly the sampled token.

    ``generate``'s own sampling draws all rows from one global generator, which would make a
    prompt's samples depend on its batch neighbours."""

    def __init__(
        self, torch: Any, seeds: list[int], temperature: float, top_p: float | None
    ) -> None:
        self._torch = torch
        self._seeds = seeds
        self._temperature = temperature
        self._top_p = top_p
        self._generators: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self._torch
        if not self._generators:
            self._generators = [
                torch.Generator(device=scores.device).manual_seed(s) for s in self._seeds
            ]
        logits = scores.float() / self._temperature
        if self._top_p is not None and self._top_p < 1:
            ordered, order = logits.sort(-1, descending=True)
            probs = ordered.softmax(-1)
            # Keep the smallest head whose mass reaches top_p (the first token always).
            outside = probs.cumsum(-1) - probs >= self._top_p
            ordered = ordered.masked_fill(outside, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered)
        probs = logits.softmax(-1)
        picks = torch.cat(
            [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self._generators)]
        )
        onehot = torch.full_like(scores, float("-inf"))
        return onehot.scatter(-1, picks[:, None], 0.0)


def _row_seed(seed: int | None, ids: list[int], k: int) -> int:
    if seed is None:
        return secrets.randbits(63)
    digest = hashlib.sha256(f"{seed}|{k}|{ids}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _looks_local(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or Path(name).exists()


def _check_hub(name: str, revision: str | None) -> None:
    """A Hub model with the Hub unreachable: read from the local cache only (no retries), and
    if it is not there either, say so at once."""
    from cothub.data.source import go_offline, hub_reachable

    if hub_reachable():
        return
    go_offline()
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json", revision=revision)
    except Exception:  # a repo id the hub library refuses: loading names the reason
        return
    if not isinstance(cached, str):
        raise CothubError(
            f"hf/{name}: the Hugging Face Hub is not reachable (offline?) and the model is not "
            f"in the local cache; download it where the Hub is reachable (`hf download {name} "
            "--local-dir DIR`) and pass --model hf/DIR"
        )


def _check_folder(name: str) -> Path | None:
    """The local folder ``name`` names (which must hold a saved model), or None for a Hub id."""
    if not _looks_local(name):
        return None
    source = Path(name).expanduser()
    if not (source / "config.json").is_file():
        what = "does not exist" if not source.exists() else "holds no config.json"
        raise CothubError(
            f"hf model folder {name!r} {what}; give a folder saved with save_pretrained "
            "(config.json, weights, tokenizer) or a Hub repo id, e.g. hf/Qwen/Qwen2.5-0.5B"
        )
    return source


def _load(name: str, options: LoadOptions) -> tuple[Any, Any, str]:
    """(model, tokenizer, revision) from a local folder or the Hub, errors as one line."""
    try:
        import torch
        import transformers
    except ImportError as e:
        raise CothubError(f"hf/ models need torch and transformers: {_INSTALL}") from e
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    source = _check_folder(name)
    if source is None:
        _check_hub(name, options.revision)
    where = str(source) if source is not None else name
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    trust = options.trust_remote_code
    hub: dict[str, Any] = {"revision": options.revision} if options.revision else {}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            where, trust_remote_code=trust, **hub
        )
        model = transformers.AutoModelForCausalLM.from_pretrained(
            where, dtype=options.dtype or "auto", trust_remote_code=trust, **hub
        )
        if options.peft is not None:
            from peft import PeftModel  # type: ignore[import-not-found, unused-ignore]

            model = PeftModel.from_pretrained(model, options.peft)
    except Exception as e:
        reason = one_line(e)
        remote = "trust_remote_code" in str(e) or "contains custom code" in str(e)
        if remote and not trust:
            raise CothubError(
                f"hf/{name} needs its own Python code (trust_remote_code), which cothub runs "
                "only when asked: add --model-arg trust_remote_code=true if you trust it"
            ) from e
        if source is not None:
            raise CothubError(f"cannot load hf model from {where} ({reason})") from e
        raise CothubError(
            f"cannot load {name!r} from the Hugging Face Hub ({reason}); download it where the "
            f"Hub is reachable (`hf download {name} --local-dir DIR`) and pass --model hf/DIR"
        ) from e
    model.to(device)
    model.eval()
    revision = fingerprint(source) if source is not None else _hub_revision(model)
    if options.peft is not None and _looks_local(options.peft):  # the adapter's weights count
        revision += "+" + fingerprint(Path(options.peft).expanduser())
    return model, tokenizer, revision


def _hub_revision(model: Any) -> str:
    commit = getattr(model.config, "_commit_hash", None)
    return str(commit) if commit else "unknown"
