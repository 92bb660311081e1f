"""The bad-input suite: every case gets one clear line on stderr, exit code 2, no traceback,
nothing sent to the model server, and a store that is unchanged (no half-created run rows).

Cases run the CLI in-process (``cothub.cli.main``); a few also run as a real subprocess, to
check that nothing but the one line reaches stderr. A case is ``(id, argv, needles, setup)``:
``argv`` may hold ``{url}`` (the loopback server), ``{data}`` (the benchmark data), ``{tmp}``
(the case's scratch folder) and ``{store}``; ``setup(tmp)`` writes the files a case needs.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cothub.testing.openai_server import OpenAIStandIn, Script, running_server

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    needles: tuple[str, ...] = ()
    setup: Setup | None = None
    env: dict[str, str] = field(default_factory=dict)
    seeded_store: bool = False
    """The store holds one finished run before the command (show, compare, ...)."""
    base: bool = True
    """Append --base-url / --data-dir / --store (``run`` cases; later repeats win)."""


# ---- file builders --------------------------------------------------------------------------


def write(rel: str, content: str | bytes) -> Setup:
    def setup(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return setup


def mkdir(rel: str) -> Setup:
    return lambda tmp: (tmp / rel).mkdir(parents=True, exist_ok=True)


def both(*setups: Setup) -> Setup:
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)

    return setup


def gsm8k_rows(*rows: object) -> Setup:
    lines = [json.dumps(r) if not isinstance(r, str) else r for r in rows]
    return write("d/gsm8k/test.jsonl", "\n".join(lines) + "\n")


GOOD = {"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"}
MINI = ("--data-dir", "{tmp}/d", "--format", "zeroshot-cot")
"""A scratch data dir holding only what the case writes (zero-shot: no exemplars needed)."""

MATH_GOOD = {"problem": "1+1?", "level": "Level 1", "type": "Algebra", "solution": "$\\boxed{2}$"}


def math_file(row: object) -> Setup:
    return write("d/MATH/test/algebra/1.json", json.dumps(row))


BBH_TASK = "d/bbh/bbh/navigate.json"


def records(rel: str, rows: list[Any]) -> Setup:
    return write(rel, "\n".join(json.dumps(r) for r in rows) + "\n")


RUN = ("run", "gsm8k", "-m", "openai/x")


def run(*extra: str) -> tuple[str, ...]:
    return (*RUN, "--limit", "2", *extra)


def opt(name: str, value: str, *needles: str) -> Case:
    """A ``cothub run`` option with a bad value; the message names the option."""
    return Case(f"{name}={value!r}", run(name, value), (name, *needles))


IMPORT = (
    "import",
    "gsm8k",
    "{tmp}/r.jsonl",
    "--model-name",
    "m",
    "--data-dir",
    "{data}",
    "--store",
    "{store}",
)


def imp(case_id: str, setup: Setup | None, *needles: str, argv: tuple[str, ...] = IMPORT) -> Case:
    return Case(f"import {case_id}", argv, needles, setup, base=False)


# ---- the cases --------------------------------------------------------------------------------

OPTIONS = [
    opt("--limit", "0"),
    opt("--limit", "-1"),
    opt("--limit", "abc"),
    opt("--limit", "1.5"),
    opt("--limit", ""),
    opt("--seed", "abc"),
    opt("--seed", "1e3"),
    opt("--concurrency", "0"),
    opt("--concurrency", "5000"),
    opt("--concurrency", "many"),
    opt("--max-tokens", "0"),
    opt("--max-tokens", "-5"),
    opt("--max-tokens", "x"),
    opt("--max-tokens", "99999999999999999999999"),
    opt("--temperature", "-1"),
    opt("--temperature", "nan", "finite"),
    opt("--temperature", "inf", "finite"),
    opt("--temperature", "3"),
    opt("--temperature", "warm"),
    opt("--top-p", "1.5"),
    opt("--top-p", "nan", "finite"),
    opt("--top-p", "-0.1"),
    opt("--thinking-budget", "0"),
    opt("--timeout", "0"),
    opt("--timeout", "nan", "finite"),
    opt("--timeout", "inf", "finite"),
    opt("--timeout", "-1"),
    opt("--timeout", "1e400"),
    opt("--max-retries", "-1"),
    opt("--max-retries", "x"),
    opt("--rpm", "0"),
    opt("--rpm", "nan", "finite"),
    opt("--rpm", "-5"),
    opt("--rpm", "inf", "finite"),
    opt("--tpm", "0"),
    opt("--tpm", "nan", "finite"),
    opt("--backoff", "-1"),
    opt("--backoff", "nan", "finite"),
    opt("--backoff", "inf", "finite"),
    opt("--max-cost", "-1"),
    opt("--max-cost", "nan", "finite"),
    opt("--max-cost", "inf", "finite"),
    opt("--max-cost", "abc"),
    opt("--level", "9"),
    opt("--level", "0"),
    opt("--level", "x"),
    opt("--max-context", "0"),
    opt("--max-context", "-3"),
    opt("--api", "grpc"),
    opt("--scoring", "guess"),
    opt("--reasoning-effort", "extreme"),
    Case("--format='fewshot-pot'", run("--format", "fewshot-pot"), ("no format", "fewshot-cot")),
    Case("--format=''", run("--format", ""), ("format",)),
    Case("unknown option", run("--bogus"), ("--bogus",)),
    Case("option without value", run("--limit"), ("--limit",)),
    Case("no model", ("run", "gsm8k"), ("--model",)),
    Case("no task", ("run", "-m", "openai/x", "--store", "{store}"), ("TASKS",), base=False),
]

TASKS = [
    Case("unknown task", ("run", "gsm9k", "-m", "openai/x"), ("gsm9k", "cothub tasks")),
    Case("unknown sub-task", ("run", "gsm8k/foo", "-m", "openai/x"), ("no sub-task",)),
    Case("unknown bbh sub-task", ("run", "bbh/nope", "-m", "openai/x"), ("nope",)),
    Case("unknown mmlu subject", ("run", "mmlu/nope", "-m", "openai/x"), ("nope",)),
    Case("empty task", ("run", "", "-m", "openai/x"), ("task",)),
    Case("blank task", ("run", " \n", "-m", "openai/x"), ("task",)),
    Case("level on gsm8k", run("--level", "3"), ("--level", "gsm8k")),
    Case("tiny max-context", run("--max-context", "5"), ("--max-context",)),
]

STRATEGY = [
    Case(f"strategy {s!r}", run("--strategy", s), ("strateg", *n))
    for s, n in [
        ("nope", ("unknown strategy",)),
        ("", ()),
        ("self-consistency:k=0", ("k",)),
        ("self-consistency:k=-2", ("k",)),
        ("self-consistency:k=abc", ("k",)),
        ("self-consistency:k=8,temperature=nan", ("temperature",)),
        ("self-consistency:k=8,temperature=inf", ("temperature",)),
        ("self-consistency:k=8,temperature=-1", ("temperature",)),
        ("self-consistency:k=8,temperature=warm", ("temperature",)),
        ("self-consistency:k=8,top_p=2", ("top_p",)),
        ("self-consistency:k=8,top_p=nan", ("top_p",)),
        ("self-consistency:bogus=1", ("bogus",)),
        ("self-consistency:k", ("k",)),
        ("self-refine:rounds=-1", ("rounds",)),
        ("self-refine:rounds=nan", ("rounds",)),
        ("complexity:k=4,select=foo", ("select",)),
        ("complexity:k=4,temperature=nan", ("temperature",)),
        ("program:timeout=nan", ("timeout",)),
        ("program:timeout=-1", ("timeout",)),
        ("program:memory_mb=-1", ("memory_mb",)),
        ("least-to-most:max_subquestions=0", ("max_subquestions",)),
    ]
]

MODELS = [
    Case(f"model {m!r}", (*RUN[:2], "-m", m, "--limit", "2"), n)
    for m, n in [
        ("gpt-4o", ("PROVIDER/MODEL",)),
        ("acme/x", ("unknown model provider",)),
        ("openai/", ("model",)),
        ("openai/ ", ("model",)),
        ("openai/\n", ("model",)),
        ("openai/\n\n", ("model",)),
        ("openai/\t", ("model",)),
        ("", ("model",)),
        (" ", ("model",)),
        ("\n", ("model",)),
        ("openai/a\nb", ("model",)),
        ("/x", ("PROVIDER/MODEL",)),
        ("fake/nonsense", ("fake",)),
    ]
]

URLS = [
    Case(f"base-url {u!r}", run("--base-url", u), ("--base-url", *n))
    for u, n in [
        ("http://[::1", ()),
        ("http://[::1]:99999/v1", ("port",)),
        ("http://127.0.0.1:99999/v1", ("port",)),
        ("http://127.0.0.1:abc/v1", ("port",)),
        ("http://127.0.0.1:-1/v1", ("port",)),
        ("127.0.0.1:8000/v1", ()),
        ("localhost", ()),
        ("ftp://example.com/v1", ()),
        ("http://exa mple.com/v1", ()),
        ("", ()),
        ("http://", ()),
        ("http:///v1", ()),
        ("http://127.0.0.1:8000/v1\n", ()),
        ("http://[zz::1]/v1", ()),
    ]
] + [
    Case(
        "OPENAI_BASE_URL bad IPv6",
        run("--data-dir", "{data}", "--store", "{store}"),
        ("OPENAI_BASE_URL",),
        env={"OPENAI_BASE_URL": "http://[::1"},
        base=False,
    ),
    Case(
        "base-url on vllm",
        ("run", "gsm8k", "-m", "vllm/x", "--limit", "2", "--base-url", "http://localhost:1/v1"),
        ("--base-url",),
    ),
]

NON_UTF8 = b"Question: caf\xe9\nA: \xff\xfe\n"

FILES = [
    Case("prompt-file missing", run("--prompt-file", "{tmp}/nope.txt"), ("nope.txt",)),
    Case("prompt-file dir", run("--prompt-file", "{tmp}/p"), ("prompt",), mkdir("p")),
    Case(
        "prompt-file non-UTF-8",
        run("--prompt-file", "{tmp}/p.txt"),
        ("p.txt", "UTF-8"),
        write("p.txt", NON_UTF8),
    ),
    Case("prompt-file empty", run("--prompt-file", "{tmp}/p.txt"), ("p.txt",), write("p.txt", "")),
    Case(
        "prompt-file garbage",
        run("--prompt-file", "{tmp}/p.txt"),
        ("p.txt",),
        write("p.txt", "no exemplars here\n"),
    ),
    Case(
        "prompt-file binary",
        run("--prompt-file", "{tmp}/p.txt"),
        ("p.txt",),
        write("p.txt", bytes(range(256))),
    ),
    Case(
        "math prompt-file non-UTF-8",
        ("run", "math", "-m", "openai/x", "--limit", "2", "--prompt-file", "{tmp}/p.txt"),
        ("p.txt",),
        write("p.txt", NON_UTF8),
    ),
    Case(
        "bbh prompt-file non-UTF-8",
        ("run", "bbh/navigate", "-m", "openai/x", "--limit", "2", "--prompt-file", "{tmp}/p"),
        ("cannot read",),
        write("p/navigate.txt", NON_UTF8),
    ),
    Case("prices missing", run("--prices", "{tmp}/nope.json"), ("nope.json",)),
    Case("prices dir", run("--prices", "{tmp}/p"), ("price",), mkdir("p")),
    Case("prices not JSON", run("--prices", "{tmp}/p.json"), ("p.json",), write("p.json", "{")),
    Case(
        "prices non-UTF-8",
        run("--prices", "{tmp}/p.json"),
        ("p.json",),
        write("p.json", b'{"models": {"\xff": 1}}'),
    ),
    Case("prices a list", run("--prices", "{tmp}/p.json"), ("p.json",), write("p.json", "[]")),
    Case("json in a dir", run("--json", "{tmp}/j"), ("--json",), mkdir("j")),
    Case("json under a file", run("--json", "{tmp}/f/out.json"), ("--json",), write("f", "x")),
    Case("store is a dir", run("--store", "{tmp}/sd"), ("store",), mkdir("sd")),
    Case("store under a file", run("--store", "{tmp}/f/s.db"), ("store",), write("f", "x")),
    Case(
        "store not sqlite",
        run("--store", "{tmp}/bad.db"),
        ("store",),
        write("bad.db", "this is not a database" * 100),
    ),
]

DATA = [
    Case("data-dir missing", run("--data-dir", "{tmp}/nowhere"), ("does not exist", "--data-dir")),
    Case("data-dir is a file", run("--data-dir", "{tmp}/f"), ("--data-dir",), write("f", "x")),
    Case("data-dir without gsm8k", run(*MINI), ("gsm8k", "--data-dir"), mkdir("d")),
    Case(
        "COTHUB_DATA_DIR missing",
        run("--store", "{store}"),
        ("COTHUB_DATA_DIR",),
        env={"COTHUB_DATA_DIR": "/nonexistent/cothub-data"},
        base=False,
    ),
    Case(
        "gsm8k truncated line",
        run(*MINI),
        ("test.jsonl:2", "JSON"),
        gsm8k_rows(GOOD, '{"question": "broken'),
    ),
    Case(
        "gsm8k numeric answer",
        run(*MINI),
        ("test.jsonl:2", "'answer'", "####"),
        gsm8k_rows(GOOD, {"question": "q", "answer": 42}),
    ),
    Case(
        "gsm8k null answer",
        run(*MINI),
        ("test.jsonl:1", "'answer'", "null"),
        gsm8k_rows({"question": "q", "answer": None}, GOOD),
    ),
    Case(
        "gsm8k list answer",
        run(*MINI),
        ("test.jsonl:1", "'answer'"),
        gsm8k_rows({"question": "q", "answer": ["#### 2"]}),
    ),
    Case(
        "gsm8k bool answer",
        run(*MINI),
        ("test.jsonl", "'answer'"),
        gsm8k_rows({"question": "q", "answer": True}),
    ),
    Case(
        "gsm8k answer missing",
        run(*MINI),
        ("test.jsonl:1", "answer"),
        gsm8k_rows({"question": "q"}),
    ),
    Case(
        "gsm8k numeric question",
        run(*MINI),
        ("test.jsonl:1", "'question'"),
        gsm8k_rows({"question": 7, "answer": "#### 2"}),
    ),
    Case(
        "gsm8k null question",
        run(*MINI),
        ("test.jsonl", "'question'"),
        gsm8k_rows({"question": None, "answer": "#### 2"}),
    ),
    Case(
        "gsm8k answer without ####",
        run(*MINI),
        ("test.jsonl:1", "####"),
        gsm8k_rows({"question": "q", "answer": "2"}),
    ),
    Case(
        "gsm8k answer empty number",
        run(*MINI),
        ("test.jsonl:1", "####"),
        gsm8k_rows({"question": "q", "answer": "so #### "}),
    ),
    Case("gsm8k row a list", run(*MINI), ("test.jsonl:1"), gsm8k_rows([1, 2])),
    Case("gsm8k row a number", run(*MINI), ("test.jsonl:1"), gsm8k_rows("17")),
    Case(
        "gsm8k non-UTF-8",
        run(*MINI),
        ("test.jsonl", "UTF-8"),
        write("d/gsm8k/test.jsonl", b'{"question": "caf\xe9", "answer": "#### 1"}\n'),
    ),
    Case(
        "gsm8k lone surrogate",
        run(*MINI),
        ("test.jsonl:1", "'question'", "surrogate"),
        write("d/gsm8k/test.jsonl", '{"question": "caf\\udce9?", "answer": "#### 1"}\n'),
    ),
    Case("gsm8k empty file", run(*MINI), ("test.jsonl",), write("d/gsm8k/test.jsonl", "")),
    Case("gsm8k only newlines", run(*MINI), ("test.jsonl",), write("d/gsm8k/test.jsonl", "\n\n\n")),
    Case("gsm8k file is a dir", run(*MINI), ("test.jsonl",), mkdir("d/gsm8k/test.jsonl")),
    Case(
        "gsm8k train broken (fewshot)",
        run("--data-dir", "{tmp}/d", "--format", "fewshot-cot"),
        ("train.jsonl:1",),
        both(gsm8k_rows(GOOD), write("d/gsm8k/train.jsonl", '{"question": "q", "answer": 5}\n')),
    ),
    Case(
        "math without solution",
        (
            "run",
            "math",
            "-m",
            "openai/x",
            "--limit",
            "2",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-cot",
        ),
        ("1.json", "solution"),
        math_file({k: v for k, v in MATH_GOOD.items() if k != "solution"}),
    ),
    Case(
        "math numeric level",
        ("run", "math", "-m", "openai/x", "--data-dir", "{tmp}/d", "--format", "zeroshot-cot"),
        ("1.json", "level"),
        math_file({**MATH_GOOD, "level": 3}),
    ),
    Case(
        "math bad level",
        ("run", "math", "-m", "openai/x", "--data-dir", "{tmp}/d", "--format", "zeroshot-cot"),
        ("1.json", "level"),
        math_file({**MATH_GOOD, "level": "Level 9"}),
    ),
    Case(
        "math not JSON",
        ("run", "math", "-m", "openai/x", "--data-dir", "{tmp}/d", "--format", "zeroshot-cot"),
        ("1.json", "JSON"),
        write("d/MATH/test/algebra/1.json", "{"),
    ),
    Case(
        "math non-UTF-8",
        ("run", "math", "-m", "openai/x", "--data-dir", "{tmp}/d", "--format", "zeroshot-cot"),
        ("1.json",),
        write("d/MATH/test/algebra/1.json", b'{"problem": "\xff"}'),
    ),
    Case(
        "math no boxed answer",
        ("run", "math", "-m", "openai/x", "--data-dir", "{tmp}/d", "--format", "zeroshot-cot"),
        ("algebra/1", "answer"),
        math_file({**MATH_GOOD, "solution": "it is two"}),
    ),
    Case(
        "mmlu wrong column count",
        (
            "run",
            "mmlu/anatomy",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("anatomy_test.csv:2", "6 columns"),
        write("d/mmlu/test/anatomy_test.csv", "q,a,b,c,d,A\nq,a,b,c,A\n"),
    ),
    Case(
        "mmlu bad answer letter",
        (
            "run",
            "mmlu/anatomy",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("anatomy_test.csv:1",),
        write("d/mmlu/test/anatomy_test.csv", "q,a,b,c,d,E\n"),
    ),
    Case(
        "mmlu non-UTF-8",
        (
            "run",
            "mmlu/anatomy",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("anatomy_test.csv", "UTF-8"),
        write("d/mmlu/test/anatomy_test.csv", b"q\xff,a,b,c,d,A\n"),
    ),
    Case(
        "mmlu missing",
        (
            "run",
            "mmlu/anatomy",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("anatomy_test.csv", "missing"),
        mkdir("d/mmlu"),
    ),
    Case(
        "bbh without examples",
        (
            "run",
            "bbh/navigate",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("navigate.json", "examples"),
        write(BBH_TASK, '{"canary": "x"}'),
    ),
    Case(
        "bbh examples not a list",
        (
            "run",
            "bbh/navigate",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("navigate.json",),
        write(BBH_TASK, '{"examples": {"input": "x"}}'),
    ),
    Case(
        "bbh example without target",
        (
            "run",
            "bbh/navigate",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("navigate.json",),
        write(BBH_TASK, '{"examples": [{"input": "x"}]}'),
    ),
    Case(
        "bbh non-UTF-8",
        (
            "run",
            "bbh/navigate",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("navigate.json",),
        write(BBH_TASK, b'{"examples": [{"input": "\xff", "target": "x"}]}'),
    ),
    Case(
        "bbh missing",
        (
            "run",
            "bbh/navigate",
            "-m",
            "openai/x",
            "--data-dir",
            "{tmp}/d",
            "--format",
            "zeroshot-direct",
        ),
        ("navigate.json", "missing"),
        mkdir("d/bbh"),
    ),
]

CONFLICTS = [
    Case(
        "loglikelihood with a strategy",
        run("--scoring", "loglikelihood", "--strategy", "self-consistency:k=4"),
        ("--strategy", "--scoring"),
    ),
    Case(
        "loglikelihood with chat",
        run("--scoring", "loglikelihood", "--api", "chat"),
        ("--scoring",),
    ),
    Case("thinking budget on openai", run("--thinking-budget", "100"), ("--thinking-budget",)),
    Case(
        "reasoning effort on hf",
        ("run", "gsm8k", "-m", "hf/x", "--reasoning-effort", "low"),
        ("--reasoning-effort",),
    ),
    Case("max-cost on an unpriced model", run("--max-cost", "1"), ("--max-cost",)),
]


IMPORTS = [
    imp("missing file", None, "r.jsonl", "no such file"),
    imp("a directory", mkdir("r.jsonl"), "r.jsonl"),
    imp("not JSON", write("r.jsonl", "not json\n"), "r.jsonl:1", "JSON"),
    imp(
        "not JSON (.json)",
        write("r.json", "{oops"),
        "r.json",
        "JSON",
        argv=tuple(a.replace("r.jsonl", "r.json") for a in IMPORT),
    ),
    imp("non-UTF-8", write("r.jsonl", b'{"completion": "\xff"}\n'), "r.jsonl", "UTF-8"),
    imp("empty file", write("r.jsonl", ""), "r.jsonl", "no records"),
    imp("records not objects", write("r.jsonl", "[1]\n"), "r.jsonl"),
    imp(
        "no completion field",
        records("r.jsonl", [{"question": "q", "text": "x"}]),
        "--completion-field",
    ),
    imp(
        "numeric completion", records("r.jsonl", [{"question": "q", "completion": 3}]), "completion"
    ),
    imp(
        "unknown task",
        records("r.jsonl", [{"question": "q", "completion": "2"}]),
        "gsm9k",
        argv=("import", "gsm9k", *IMPORT[2:]),
    ),
    imp(
        "hub",
        records("r.jsonl", [{"question": "q", "completion": "2"}]),
        "hub",
        argv=("import", "hub", *IMPORT[2:]),
    ),
    imp(
        "mismatched items",
        records("r.jsonl", [{"question": "not a gsm8k question", "completion": "2"}]),
        "no record matched",
    ),
    imp(
        "duplicate records",
        records(
            "r.jsonl", [{"id": "test/0", "completion": "2"}, {"id": "test/0", "completion": "3"}]
        ),
        "duplicates",
    ),
    imp(
        "empty model name",
        records("r.jsonl", [{"id": "test/0", "completion": "2"}]),
        "--model-name",
        argv=tuple("" if a == "m" else a for a in IMPORT),
    ),
    imp(
        "newline model name",
        records("r.jsonl", [{"id": "test/0", "completion": "2"}]),
        "--model-name",
        argv=tuple("\n" if a == "m" else a for a in IMPORT),
    ),
    imp(
        "blank model name",
        records("r.jsonl", [{"id": "test/0", "completion": "2"}]),
        "--model-name",
        argv=tuple(" \t " if a == "m" else a for a in IMPORT),
    ),
    imp(
        "unknown format",
        records("r.jsonl", [{"id": "test/0", "completion": "2"}]),
        "no format",
        argv=(*IMPORT, "--format", "fewshot-pot"),
    ),
    imp(
        "missing data dir",
        records("r.jsonl", [{"id": "test/0", "completion": "2"}]),
        "--data-dir",
        argv=(*IMPORT, "--data-dir", "{tmp}/nowhere"),
    ),
    imp(
        "json under a file",
        both(records("r.jsonl", [{"id": "test/0", "completion": "2"}]), write("f", "x")),
        "--json",
        argv=(*IMPORT, "--json", "{tmp}/f/o.json"),
    ),
    imp("no files", None, "FILES", argv=("import", "gsm8k", "--model-name", "m")),
]

READS = [
    Case(
        "show unknown run",
        ("show", "zzzz", "--store", "{store}"),
        ("no run 'zzzz'",),
        seeded_store=True,
        base=False,
    ),
    Case(
        "show --limit 0",
        ("show", "zzzz", "--limit", "0", "--store", "{store}"),
        ("--limit",),
        seeded_store=True,
        base=False,
    ),
    Case(
        "show no run id", ("show", "--store", "{store}"), ("RUN_ID",), seeded_store=True, base=False
    ),
    Case(
        "compare unknown runs",
        ("compare", "zzzz", "yyyy", "--store", "{store}"),
        ("zzzz",),
        seeded_store=True,
        base=False,
    ),
    Case(
        "compare one run",
        ("compare", "zzzz", "--store", "{store}"),
        ("run",),
        seeded_store=True,
        base=False,
    ),
    Case(
        "compare bad format",
        ("compare", "a", "b", "--format", "xml", "--store", "{store}"),
        ("--format",),
        seeded_store=True,
        base=False,
    ),
    Case(
        "leaderboard bad format",
        ("leaderboard", "--format", "xml", "--store", "{store}"),
        ("--format",),
        seeded_store=True,
        base=False,
    ),
    Case(
        "runs store is a dir", ("runs", "--store", "{tmp}/sd"), ("store",), mkdir("sd"), base=False
    ),
    Case("unknown command", ("frobnicate",), ("frobnicate",), base=False),
]

CASES: list[Case] = [
    *OPTIONS,
    *TASKS,
    *STRATEGY,
    *MODELS,
    *URLS,
    *FILES,
    *DATA,
    *CONFLICTS,
    *IMPORTS,
    *READS,
]


def test_the_suite_has_at_least_100_cases() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStandIn]:
    with running_server(Script(default="The answer is 2.")) as srv:
        yield srv


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one finished fake run (imported: no model, no data beyond GSM8K)."""
    from cothub.cli import main

    tmp = tmp_path_factory.mktemp("seeded")
    (tmp / "d" / "gsm8k").mkdir(parents=True)
    (tmp / "d" / "gsm8k" / "test.jsonl").write_text(json.dumps(GOOD) + "\n")
    main(
        [
            "run",
            "gsm8k",
            "-m",
            "fake/repeat:The answer is 2.",
            "--data-dir",
            str(tmp / "d"),
            "--format",
            "zeroshot-cot",
            "--store",
            str(tmp / "s.db"),
        ]
    )
    assert snapshot(tmp / "s.db") == (1, 1, 1, 0)
    return tmp / "s.db"


def snapshot(store: Path) -> tuple[int, ...] | None:
    """Row counts of the store, and of runs left unfinished; None when there is no store."""
    if not store.is_file():
        return None
    db = sqlite3.connect(store)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "runs" not in tables:
            return (0,)
        counts = tuple(
            db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "samples", "completions")
            if t in tables
        )
        running = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
        return (*counts, running)
    finally:
        db.close()


def expand(args: tuple[str, ...], values: dict[str, str]) -> list[str]:
    out = []
    for a in args:
        for k, v in values.items():
            a = a.replace("{" + k + "}", v)
        out.append(a)
    return out


@dataclass
class Prepared:
    argv: list[str]
    store: Path
    env: dict[str, str]


@pytest.fixture
def prepare(
    server: OpenAIStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: Any
) -> Callable[[Case], Prepared]:
    def go(case: Case) -> Prepared:
        store = tmp_path / "s.db"
        if case.seeded_store:
            shutil.copy(request.getfixturevalue("seeded"), store)
        data = os.environ.get("COTHUB_DATA_DIR") or ""
        if "{data}" in " ".join(case.argv) or case.base:
            data = str(request.getfixturevalue("data_dir"))
        values = {"url": server.base_url, "data": data, "tmp": str(tmp_path), "store": str(store)}
        if case.setup is not None:
            case.setup(tmp_path)
        argv = expand(case.argv, values)
        if case.base:
            # Options after the case's own would win; so the base goes first, after the task.
            n = 2 if argv and argv[0] in ("run", "import") else 1
            base = ("--base-url", "{url}", "--data-dir", "{data}", "--store", "{store}")
            if argv[0] == "run":  # a request sent by mistake fails fast, not after retries
                base += ("--max-retries", "0", "--timeout", "5")
            argv[n:n] = expand(base, values)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing reaches the Hub by accident
        monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
        for k, v in case.env.items():
            monkeypatch.setenv(k, v)
        return Prepared(argv, store, dict(case.env))

    return go


def check(code: int, out: str, err: str, needles: tuple[str, ...]) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cothub: error: "), lines[0]
    low = lines[0].lower()
    for n in needles:
        assert n.lower() in low, (n, lines[0])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case,
    prepare: Callable[[Case], Prepared],
    server: OpenAIStandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cothub.cli import main

    p = prepare(case)
    before = snapshot(p.store)
    sent = server.stats.total
    capsys.readouterr()
    try:
        main(p.argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    captured = capsys.readouterr()
    check(code, captured.out, captured.err, case.needles)
    assert server.stats.total == sent, "a request was sent for a bad input"
    after = snapshot(p.store)
    if before is None:
        assert after is None or after[0] == 0, f"the store changed: {after}"
    else:
        assert after == before, f"the store changed: {before} -> {after}"


# ---- a few as real processes: nothing but the one line reaches stderr ------------------------

SUBPROCESS = [
    "base-url 'http://[::1'",
    "gsm8k null answer",
    "import not JSON",
    "prompt-file non-UTF-8",
    "strategy 'self-consistency:k=8,temperature=nan'",
    "model 'openai/\\n'",
]


@pytest.mark.parametrize("case_id", SUBPROCESS)
def test_bad_input_in_a_process(case_id: str, prepare: Callable[[Case], Prepared]) -> None:
    case = next(c for c in CASES if c.id == case_id)
    p = prepare(case)
    env = {**os.environ, **p.env, "PYTHONWARNINGS": "default"}
    code = "import sys; from cothub.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run(
        [sys.executable, "-c", code, *p.argv], capture_output=True, text=True, env=env, timeout=60
    )
    check(r.returncode, r.stdout, r.stderr, case.needles)
