"""``hf/`` models as a new user meets them, through the real CLI on tiny models built here:
``--model-arg`` load settings (recorded, in the cache key only when set, remote code refused
unless asked), requests counted and paced where they are sent, and a context error whose advice
works when followed (prompt length counted with the model's tokenizer)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from conftest import said  # noqa: E402
from cothub.models.hf import HFBackend  # noqa: E402
from test_hf import _llama, _tokenizer  # noqa: E402


def _save(folder: Path, context: int = 4096) -> Path:
    tok = _tokenizer(chat=True)
    model = _llama(len(tok))
    model.config.max_position_embeddings = context
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(tmp_path_factory.mktemp("tiny") / "model")


def manifest(db: Path) -> dict[str, Any]:
    row = sqlite3.connect(db).execute("SELECT manifest FROM runs").fetchone()
    return dict(json.loads(row[0]))


def test_model_args_are_recorded_and_keyed_only_when_set(
    cli: Any, tiny: Path, data_dir: Path, tmp_path: Path
) -> None:
    common = [
        "run", "gsm8k", "--model", f"hf/{tiny}", "--limit", 2, "--max-tokens", 2,
        "--format", "zeroshot-cot", "--data-dir", data_dir,
    ]  # fmt: skip
    plain = cli(*common, "--store", tmp_path / "a.db", "--json", tmp_path / "a.json")
    assert plain.code == 0, plain.err
    assert "load" not in manifest(tmp_path / "a.db")["model"]  # unset: the identity as before

    half = cli(
        *common, "--store", tmp_path / "b.db", "--json", tmp_path / "b.json",
        "--model-arg", "dtype=float16", "--model-arg", "device=cpu",
    )  # fmt: skip
    assert half.code == 0, half.err
    model = manifest(tmp_path / "b.db")["model"]
    assert model["load"] == {"dtype": "float16", "device": "cpu"}
    assert model["dtype"] == "float16"
    run_a = json.loads((tmp_path / "a.json").read_text())["run_id"]
    run_b = json.loads((tmp_path / "b.json").read_text())["run_id"]
    assert run_a != run_b  # set: part of the run id and the cache key


@pytest.mark.parametrize(
    "arg, needle",
    [
        ("dtype=float8", "use one of auto, float32, float16, bfloat16"),
        ("devices=cpu", "hf/ models take revision, dtype, device, peft, trust_remote_code"),
        ("trust_remote_code=maybe", "use true or false"),
        ("dtype", "is not KEY=VALUE"),
    ],
)
def test_bad_model_args_are_one_line_before_loading(
    cli: Any, tiny: Path, data_dir: Path, tmp_path: Path, arg: str, needle: str
) -> None:
    r = cli(
        "run", "gsm8k", "--model", f"hf/{tiny}", "--model-arg", arg, "--data-dir", data_dir,
        "--store", tmp_path / "s.db", "--limit", 1,
    )  # fmt: skip
    assert r.code == 2 and r.err.count("\n") == 1 and needle in r.err, r.err


def test_model_arg_is_refused_for_other_providers(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    r = cli(
        "run", "gsm8k", "--model", "fake/repeat:7", "--model-arg", "dtype=float16",
        "--data-dir", data_dir, "--store", tmp_path / "s.db", "--limit", 1,
    )  # fmt: skip
    assert r.code == 2 and "--model-arg applies to hf/ models only" in r.err


CUSTOM = """
from transformers import LlamaConfig, LlamaForCausalLM


class TinyConfig(LlamaConfig):
    model_type = "tiny-custom"


class TinyModel(LlamaForCausalLM):
    config_class = TinyConfig
"""


def test_remote_code_is_refused_unless_asked(cli: Any, tmp_path: Path, data_dir: Path) -> None:
    folder = _save(tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "tiny-custom"
    config["auto_map"] = {
        "AutoConfig": "custom.TinyConfig",
        "AutoModelForCausalLM": "custom.TinyModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "custom.py").write_text(CUSTOM)
    common = [
        "run", "gsm8k", "--model", f"hf/{folder}", "--limit", 1, "--max-tokens", 2,
        "--format", "zeroshot-cot", "--data-dir", data_dir, "--store", tmp_path / "s.db",
    ]  # fmt: skip
    r = cli(*common)
    assert r.code == 2 and "--model-arg trust_remote_code=true" in r.err, r.err
    ok = cli(*common, "--model-arg", "trust_remote_code=true")
    assert ok.code == 0, ok.err
    assert manifest(tmp_path / "s.db")["model"]["load"] == {"trust_remote_code": True}


def test_hf_requests_are_counted_and_paced_as_sent(
    cli: Any, tiny: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model is called where a request is sent: as often as ``usage`` says, and no faster
    than ``--rpm``."""
    calls: list[float] = []
    generate = HFBackend.generate

    async def noted(self: HFBackend, prompt: Any, config: Any) -> Any:
        calls.append(time.monotonic())
        return await generate(self, prompt, config)

    monkeypatch.setattr(HFBackend, "generate", noted)
    rpm = 1200.0
    r = cli(
        "run", "gsm8k", "--model", f"hf/{tiny}", "--limit", 8, "--max-tokens", 2,
        "--format", "zeroshot-cot", "--data-dir", data_dir, "--store", tmp_path / "s.db",
        "--json", tmp_path / "r.json", "--rpm", rpm,
    )  # fmt: skip
    assert r.code == 0, r.err
    usage = json.loads((tmp_path / "r.json").read_text())["usage"]
    assert usage["requests"] == len(calls) == 8
    rate = (len(calls) - 1) / (calls[-1] - calls[0]) * 60
    assert rpm * 0.3 <= rate <= rpm * 1.15, rate


def test_peft_adapter_is_applied_and_recorded(
    cli: Any, tiny: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--model-arg peft=DIR``: the adapter wraps the loaded model (peft's own loader, stood in
    for here: peft is an optional install) and its files are part of the model's revision."""
    import importlib.machinery
    import sys
    import types

    applied: list[str] = []

    class PeftModel:
        @staticmethod
        def from_pretrained(model: Any, adapter: str) -> Any:
            applied.append(adapter)
            return model

    fake = types.ModuleType("peft")
    fake.__spec__ = importlib.machinery.ModuleSpec("peft", None)
    fake.PeftModel = PeftModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "peft", fake)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    common = [
        "run", "gsm8k", "--model", f"hf/{tiny}", "--limit", 1, "--max-tokens", 2,
        "--format", "zeroshot-cot", "--data-dir", data_dir, "--store", tmp_path / "s.db",
        "--model-arg", f"peft={adapter}",
    ]  # fmt: skip
    r = cli(*common)
    assert r.code == 2 and "no adapter_config.json there" in r.err and not applied
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    r = cli(*common)
    assert r.code == 0, r.err
    assert applied == [str(adapter)]
    model = manifest(tmp_path / "s.db")["model"]
    assert model["load"] == {"peft": str(adapter)} and "+" in model["revision"]


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model with a context of 512 tokens; its small vocabulary spends ~1.2 characters a
    token, so a characters / 4 estimate is three times too low."""
    return _save(tmp_path_factory.mktemp("short") / "model", context=512)


@pytest.mark.parametrize(
    "task, extra",
    [
        ("mmlu/abstract_algebra", ["--scoring", "loglikelihood"]),
        ("gsm8k", ["--max-tokens", "16"]),
    ],
)
def test_context_advice_works_when_followed(
    cli: Any, short: Path, data_dir: Path, tmp_path: Path, task: str, extra: list[str]
) -> None:
    """Before: prompt length was estimated as characters / 4, so the advice ``--max-context
    512`` kept prompts that do not fit and the run failed again the same way. Now a local
    model's prompts are counted with its tokenizer; the test follows the advice."""
    import re

    common = [
        "run", task, "--model", f"hf/{short}", "--limit", 3, "--data-dir", data_dir,
        "--store", tmp_path / "s.db", "--json", tmp_path / "r.json", *extra,
    ]  # fmt: skip
    r = cli(*common)
    assert r.code == 2 and len(said(r.err)) == 1, r.err  # besides the run's start line
    advice = re.search(r"pass (--max-context \d+)", r.err)
    assert advice is not None, r.err
    flag, value = advice.group(1).split()
    followed = cli(*common, flag, value)
    assert followed.code == 0, followed.err
    assert json.loads((tmp_path / "r.json").read_text())["tasks"][task.split("/")[0]]["n"] == 3
    tokenizer = transformers.AutoTokenizer.from_pretrained(short)
    rows = sqlite3.connect(tmp_path / "s.db").execute("SELECT prompt FROM samples").fetchall()
    for (prompt,) in rows:
        stored = json.loads(prompt)
        kept = stored.get("n_exemplars")
        assert kept is not None and kept < (5 if task.startswith("mmlu") else 8)
        if "prompt" in stored:
            assert len(tokenizer(stored["prompt"])["input_ids"]) <= int(value)


def test_hub_model_offline_is_one_line_at_once(data_dir: Path, tmp_path: Path) -> None:
    """Before: the README's first command, offline, retried for a minute before failing."""
    import os
    import socket
    import subprocess
    import sys

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    env = {
        **os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed}", "HF_HOME": str(tmp_path),
        "COTHUB_STORE": str(tmp_path / "s.db"),
    }  # fmt: skip
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "cothub", "run", "gsm8k", "--model",
         "hf/Qwen/Qwen2.5-0.5B-Instruct", "--limit", "50", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "not reachable" in r.stderr and "--model hf/DIR" in r.stderr
    assert time.monotonic() - started < 15
