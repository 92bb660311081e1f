"""vLLM's offline engine in this process: ``vllm/<Hub repo id or local folder>``, for GPU machines.

    pip install -e ".[vllm]"          # in the source folder, on a machine with a CUDA GPU
    cothub run gsm8k --model vllm/Qwen/Qwen2.5-7B-Instruct --concurrency 2048
    cothub run gsm8k --model vllm/./my-base-model --api completions

Why it looks the way it does:

* **Batching.** The runner keeps ``--concurrency`` calls in flight; one worker gathers every
  pending call into one ``LLM.generate`` (each request with its own ``SamplingParams``), runs it
  in a thread and resolves each caller. vLLM schedules a batch by itself, so the larger the batch
  the better: pass a ``--concurrency`` of at least the number of items (it bounds the batch).
* **Prompts as token ids.** Chat prompts are rendered with the tokenizer's chat template and
  tokenized without special tokens (the template already holds the BOS text; letting vLLM
  tokenize the string again would add a second BOS); completion prompts are tokenized as a
  server would (with BOS). Both go to ``LLM.generate``, so one engine call serves both.
* **Templates that open the thinking.** Some chat templates (DeepSeek-R1's, Qwen3's) end the
  prompt with ``<think>``: the reply then holds only ``</think>``, and a reply that never closed
  it would look like a plain answer. That opening tail of the prompt is prepended to each
  completion's text, so the stored text is the whole assistant turn and an unclosed block is
  seen as one (no answer, counted as truncated).
* **Only the run's settings.** ``SamplingParams`` get the resolved temperature, top_p, token
  limit, seed, n and stops and nothing else (vLLM's own defaults otherwise, which are neutral:
  no top-k, no repetition penalty). ``generation_config.json`` sampling defaults are not read
  (``generation_config="vllm"``) for the same reason.
* **Counts.** Prompt tokens are ``len(prompt_token_ids)``, completion tokens ``len(token_ids)``;
  reasoning tokens are the tokens up to ``</think>`` where the tokenizer has it as one token
  (all of them when the block never closed), else 0: never estimated.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cothub.errors import BackendError, CothubError
from cothub.extract.reasoning import inline_thinking, open_thinking_tail, unclosed_thinking
from cothub.models.batching import Gatherer
from cothub.models.checkpoint import fingerprint, one_line
from cothub.types import ApiStyle, Completion, FinishReason, GenerateConfig, Prompt

INSTALL_HINT = 'pip install -e ".[vllm]" (in the cothub source folder) on a GPU machine'
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "abort": "error"}
_THINK_END = "</think>"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Engine:
    """What the backend uses of vLLM: tests pass stand-ins, so neither vllm nor a GPU is needed."""

    llm: Any
    """A ``vllm.LLM``: ``generate(prompts, sampling_params, use_tqdm=...)``, ``get_tokenizer()``."""
    sampling_params: Callable[..., Any]
    """``vllm.SamplingParams``."""
    version: str
    """The vllm version (part of the cache key: kernels and schedulers change outputs)."""
    max_model_len: int | None = None
    """The context the engine was built with; longer prompts are refused before the batch runs."""


@dataclass(frozen=True, slots=True)
class EngineInput:
    """One prompt as the engine takes it, and the thinking tail its template left open."""

    request: dict[str, Any]
    """``{"prompt_token_ids": [...]}`` for ``LLM.generate``."""
    opened: str
    """``<think>\\n`` when the rendered prompt ends inside a thinking block, else ""."""


def sampling_kwargs(config: GenerateConfig, stop: Sequence[str]) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments: the resolved settings and nothing else."""
    out: dict[str, Any] = {
        "n": config.n,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
    }
    if config.top_p is not None:
        out["top_p"] = config.top_p
    if config.seed is not None:
        out["seed"] = config.seed
    if stop:
        out["stop"] = list(stop)  # cut before the stop string, as OpenAI-style servers do
    return out


def engine_input(prompt: Prompt, tokenizer: Any) -> EngineInput:
    """Render and tokenize one prompt (chat: the tokenizer's template; text: as is, with BOS)."""
    if prompt.style == "chat":
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        rendered = str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )
        ids = tokenizer.encode(rendered, add_special_tokens=False)
    else:
        rendered = prompt.text
        ids = tokenizer.encode(rendered)
    return EngineInput({"prompt_token_ids": list(ids)}, open_thinking_tail(rendered))


def completions_of(
    output: Any, opened: str, think_end: int | None, latency: float
) -> list[Completion]:
    """A ``RequestOutput`` -> completions in choice order; the request's prompt tokens are
    carried by the first, so sums over choices stay exact."""
    prompt_tokens = len(getattr(output, "prompt_token_ids", None) or [])
    choices = sorted(output.outputs, key=lambda o: getattr(o, "index", 0) or 0)
    out = []
    for i, choice in enumerate(choices):
        text = opened + str(choice.text or "")
        ids = list(choice.token_ids or [])
        out.append(
            Completion(
                text=text,
                finish_reason=_FINISH.get(str(choice.finish_reason), "other"),
                prompt_tokens=prompt_tokens if i == 0 else 0,
                completion_tokens=len(ids),
                reasoning_tokens=reasoning_tokens(ids, text, think_end),
                latency_s=latency,
            )
        )
    return out


def reasoning_tokens(ids: Sequence[int], text: str, think_end: int | None) -> int:
    """Generated tokens that were thinking: through the last ``</think>`` token, all of them when
    the block never closed, 0 when there is no thinking or no way to count it exactly."""
    if think_end is None or inline_thinking(text) is None:
        return 0
    if unclosed_thinking(text):
        return len(ids)
    for back, token in enumerate(reversed(ids)):
        if token == think_end:
            return len(ids) - back
    return 0  # closed in the prompt, or spelled over several tokens: not countable exactly


def load_engine(name: str) -> Engine:
    """Import vllm and build the engine for ``name``; every failure is one line."""
    try:
        import vllm
    except ImportError as e:
        raise CothubError(f"vllm/ models need the vllm package: {INSTALL_HINT}") from e
    local = Path(name).expanduser()
    where = str(local) if local.exists() else name
    try:
        # generation_config="vllm": the checkpoint's sampling defaults must not leak in.
        llm = vllm.LLM(model=where, generation_config="vllm")
    except Exception as e:
        raise CothubError(f"cannot load vllm/{name}: {one_line(e)}") from e
    config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    max_len = getattr(config, "max_model_len", None)
    return Engine(llm, vllm.SamplingParams, str(vllm.__version__), max_len)


@dataclass(eq=False, slots=True)
class _Job:
    prompt: Prompt
    config: GenerateConfig
    future: asyncio.Future[list[Completion]]


class VLLMBackend:
    """A model loaded into vLLM once, serving batched calls."""

    def __init__(self, name: str, style: ApiStyle, engine: Engine | None = None) -> None:
        self._name = name
        self._style: ApiStyle = style
        self._engine = engine if engine is not None else load_engine(name)
        self._tokenizer = self._engine.llm.get_tokenizer()
        if style == "chat" and not getattr(self._tokenizer, "chat_template", None):
            raise CothubError(
                f"vllm/{name}: the tokenizer has no chat template (a base model?); "
                "add --api completions to send one text prompt"
            )
        end = self._tokenizer.encode(_THINK_END, add_special_tokens=False)
        self._think_end: int | None = end[0] if len(end) == 1 else None
        local = Path(name).expanduser()
        self._identity: dict[str, object] = {
            "provider": "vllm",
            "model": name,
            "revision": fingerprint(local) if local.is_dir() else "hub",
            "vllm": self._engine.version,
            "api": style,
        }
        self.batches: list[int] = []
        """Requests of every engine call so far (how well concurrent calls were gathered)."""
        self._jobs: Gatherer[_Job] = Gatherer(
            lambda pending: list(pending), self._call, self._recover
        )

    @property
    def identity(self) -> dict[str, object]:
        return self._identity

    @property
    def style(self) -> ApiStyle:
        return self._style

    async def aclose(self) -> None:
        """Stop the worker; the engine is freed with the backend (a next model needs the GPU)."""
        self._jobs.close()
        gc.collect()

    async def generate(self, prompt: Prompt, config: GenerateConfig) -> list[Completion]:
        job = _Job(prompt, config, asyncio.get_running_loop().create_future())
        self._jobs.submit([job])
        return await job.future

    async def _call(self, jobs: list[_Job]) -> list[list[Completion]]:
        return await _in_daemon_thread(functools.partial(self._run, jobs))

    def _recover(self, e: Exception, jobs: list[_Job]) -> BaseException:
        return e if isinstance(e, BackendError) else self._failure(e)

    def _failure(self, e: Exception) -> BackendError:
        return BackendError(f"vllm/{self._name} failed: {type(e).__name__}: {one_line(e)}")

    def _run(self, jobs: list[_Job]) -> list[list[Completion]]:
        """One engine call for a batch (in a worker thread); outputs come back in input order."""
        inputs = [engine_input(j.prompt, self._tokenizer) for j in jobs]
        limit = self._engine.max_model_len
        for j, inp in zip(jobs, inputs, strict=True):
            need = len(inp.request["prompt_token_ids"]) + j.config.max_tokens
            if limit is not None and need > limit:
                raise BackendError(
                    f"a prompt plus {j.config.max_tokens} new tokens needs {need} tokens, more "
                    f"than vllm/{self._name}'s context of {limit}; pass --max-context {limit}"
                )
        params = [
            self._engine.sampling_params(**sampling_kwargs(j.config, j.prompt.stop)) for j in jobs
        ]
        self.batches.append(len(jobs))
        start = time.perf_counter()
        outputs = self._engine.llm.generate([inp.request for inp in inputs], params, use_tqdm=False)
        latency = time.perf_counter() - start
        if len(outputs) != len(jobs):
            raise BackendError(f"vllm returned {len(outputs)} outputs for {len(jobs)} prompts")
        return [
            completions_of(out, inp.opened, self._think_end, latency)
            for out, inp in zip(outputs, inputs, strict=True)
        ]


async def _in_daemon_thread(fn: Callable[[], _T]) -> _T:
    """Run blocking ``fn`` in a daemon thread: unlike ``asyncio.to_thread`` (whose executor is
    joined at exit), a Ctrl-C does not wait minutes for the GPU batch in flight to finish."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()

    def settle(apply: Callable[[], None]) -> None:
        if not done.done():  # the awaiting worker may have been cancelled meanwhile
            apply()

    def target() -> None:
        try:
            outcome = functools.partial(done.set_result, fn())
        except BaseException as e:  # handed to the awaiting coroutine
            outcome = functools.partial(done.set_exception, e)
        with contextlib.suppress(RuntimeError):  # the loop closed while we ran: nobody waits
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=target, name="vllm-batch", daemon=True).start()
    return await done
