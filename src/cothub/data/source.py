"""Where benchmark files come from: a local data directory, else the Hugging Face Hub.

Every loader returns rows plus a provenance string (file sha256 or hub revision) that goes into the
run manifest, so a number can always be traced to the exact bytes it was computed on.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cothub.errors import CothubError

T = TypeVar("T")

DATA_DIR_ENV = "COTHUB_DATA_DIR"


@dataclass(frozen=True, slots=True)
class DataSource:
    """The data directory (laid out like ``shared/data``), or None to use the Hub."""

    root: Path | None

    @classmethod
    def resolve(cls, data_dir: str | Path | None) -> DataSource:
        """``--data-dir``, else ``$COTHUB_DATA_DIR``, else the Hub."""
        chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
        if chosen is None:
            return cls(None)
        root = Path(chosen).expanduser()
        if not root.is_dir():
            raise CothubError(
                f"data directory {root} does not exist; pass --data-dir (or set {DATA_DIR_ENV}) "
                "to a folder laid out like shared/data (gsm8k/test.jsonl, ...)"
            )
        return cls(root)

    def prompt_file(self, choice: str, prompt_dir: str, named: dict[str, str]) -> Path:
        """``--prompt-file``: a named exemplar set under ``prompt_dir``, or a path (also tried
        relative to ``prompt_dir``)."""
        if choice in named:
            found = self.find(f"{prompt_dir}/{named[choice]}")
            if found is None:
                raise CothubError(
                    f"named prompt {choice!r} needs --data-dir with {prompt_dir}/; "
                    "or give a prompt file path"
                )
            return found
        path = Path(choice).expanduser()
        if not path.is_file() and self.root is not None:
            path = self.root / prompt_dir / choice
        if not path.is_file():
            raise CothubError(
                f"--prompt-file {choice!r} is not a file; give a text file of exemplars or one "
                f"of {', '.join(named)}"
            )
        text = read_text(path, "--prompt-file", "give a UTF-8 text file of exemplars")
        if not text.strip():
            raise CothubError(
                f"--prompt-file {path} is empty; give a text file of exemplars or one of "
                f"{', '.join(named)}"
            )
        return path

    def find(self, relative: str) -> Path | None:
        """The local file at ``relative``, if there is a data dir holding it."""
        if self.root is None:
            return None
        path = self.root / relative
        return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class Rows:
    """Raw rows of one split plus where they came from."""

    rows: list[dict[str, Any]]
    source: str
    """File path or ``hf:<repo>/<config>@<revision>``."""
    digest: str
    """sha256 of the file, or the Hub revision."""
    lines: Sequence[int] = ()
    """For a JSONL file: the 1-based line of each row (blank lines are skipped)."""

    def where(self, i: int) -> str:
        """How a message names row ``i``: ``path:line`` for a file, ``source row i`` else."""
        if i < len(self.lines):
            return f"{self.source}:{self.lines[i]}"
        return f"{self.source} row {i}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_text(path: Path, what: str, fix: str) -> str:
    """A UTF-8 text file's contents; unreadable or non-UTF-8 is one clear error."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CothubError(f"{what} {path}: cannot read ({e.strerror or e}); {fix}") from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise CothubError(
            f"{what} {path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); "
            f"re-save it as UTF-8, or {fix}"
        ) from e


_CLEAN_COPY = "fix that line, or pass --data-dir to a folder with a clean copy"


def read_jsonl(path: Path, required: Sequence[str]) -> Rows:
    """Read a JSONL file, naming the line of the first malformed record.

    Lines are split on ``\\n`` only (a JSON string may hold U+2028 and friends), and each must be
    UTF-8: a replaced byte would silently change a question.
    """
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CothubError(
            f"cannot read {path} ({e.strerror or e}); pass --data-dir to a folder with a clean copy"
        ) from e
    for lineno, data in enumerate(raw.split(b"\n"), 1):
        try:
            line = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CothubError(
                f"{path}:{lineno}: not UTF-8 text (byte 0x{data[e.start]:02x} at column "
                f"{e.start + 1}); {_CLEAN_COPY}"
            ) from e
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CothubError(
                f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}); {_CLEAN_COPY}"
            ) from e
        if not isinstance(row, dict):
            raise CothubError(
                f"{path}:{lineno}: expected a JSON object with fields {', '.join(required)}, "
                f"got {_kind(row)}; {_CLEAN_COPY}"
            )
        if "\\u" in line and (field := _lone_surrogate(row)) is not None:
            raise CothubError(
                f"{path}:{lineno}: field {field!r} holds a lone surrogate escape (\\ud800-"
                f"\\udfff alone is not text); {_CLEAN_COPY}"
            )
        missing = [k for k in required if k not in row]
        if missing:
            raise CothubError(
                f"{path}:{lineno}: no field {missing[0]!r} (the record has "
                f"{', '.join(map(repr, row)) or 'no fields'}); {_CLEAN_COPY}"
            )
        rows.append(row)
        lines.append(lineno)
    if not rows:
        raise CothubError(f"{path} holds no records; pass --data-dir to a folder with a clean copy")
    return Rows(rows, str(path), hashlib.sha256(raw).hexdigest(), lines)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(row: dict[str, Any]) -> str | None:
    """The first field whose text (at any depth) holds a lone surrogate, which no UTF-8 store
    or terminal can take; None when there is none."""
    for key, value in row.items():
        stack = [value]
        while stack:
            v = stack.pop()
            if isinstance(v, str) and _SURROGATE.search(v):
                return str(key)
            if isinstance(v, dict):
                stack += v.values()
            elif isinstance(v, list):
                stack += v
    return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def shown(value: object) -> str:
    """A field's bad value for a message: its kind, and the value when short."""
    text = json.dumps(value, ensure_ascii=True)
    kind = _kind(value)
    return kind if len(text) > 40 or kind in ("null", "an object", "a list") else f"{kind} {text}"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CothubError(f"{path}: cannot read JSON ({e}); replace it with a clean copy") from e


_NO_DATA = (
    f"pass --data-dir DIR (or set {DATA_DIR_ENV}) to a local copy (in cothub's development "
    "layout: --data-dir ../shared/data)"
)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face Hub (``$HF_ENDPOINT``, else huggingface.co) answers a TCP
    connect within ``timeout_s``; asked once per process. Offline, ``datasets`` would retry each
    file for half a minute before failing."""
    global _REACHABLE
    if _REACHABLE is None:
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        port = parts.port or (80 if parts.scheme == "http" else 443)
        try:
            socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
            _REACHABLE = True
        except OSError:
            _REACHABLE = False
    return _REACHABLE


_REACHABLE: bool | None = None


def go_offline() -> None:
    """Make ``datasets`` read only its local cache (a copy downloaded earlier still loads)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import sys

    for name in ("datasets.config", "huggingface_hub.constants"):
        module = sys.modules.get(name)  # read at import: already imported, set it there too
        for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "is_offline_mode"):
            if module is not None and isinstance(getattr(module, flag, None), bool):
                setattr(module, flag, True)


def load_hub(repo: str, config: str | None, split: str, required: Sequence[str]) -> Rows:
    """Rows of a Hub dataset split (cached by ``datasets``); one clear line when offline, at
    once: with the Hub unreachable only the local cache is read (no retries)."""
    offline = not hub_reachable()
    if offline:
        go_offline()
    try:
        import datasets

        ds = datasets.load_dataset(repo, config, split=split)
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise CothubError(f"loading {repo} from the Hub needs `datasets`: {e}") from e
    except Exception as e:
        if offline:
            raise CothubError(
                f"no benchmark data: the Hugging Face Hub is not reachable (offline?) and "
                f"{repo} ({config or 'default'}/{split}) is not in the local cache; {_NO_DATA}"
            ) from e
        raise CothubError(
            f"cannot load {repo} ({config or 'default'}/{split}) from the Hugging Face Hub "
            f"({type(e).__name__}); {_NO_DATA}"
        ) from e
    rows = [dict(r) for r in ds]
    missing = [k for k in required if rows and k not in rows[0]]
    if missing:
        raise CothubError(f"{repo}/{split} lacks fields {missing}; pass --data-dir to a local copy")
    revision = str(getattr(ds, "_fingerprint", "") or "unknown")
    return Rows(rows, f"hf:{repo}/{config or 'default'}/{split}", revision)


def seeded_subset(items: Sequence[T], ids: Sequence[str], limit: int | None, seed: int) -> list[T]:
    """The first ``limit`` items in a seeded order, returned in dataset order.

    Ranking by a hash of (seed, id) makes the subset stable: ``--limit 50`` is contained in
    ``--limit 100`` for the same seed, and it does not depend on the file's row order.
    """
    if limit is None or limit >= len(items):
        return list(items)
    ranked = sorted(
        range(len(items)), key=lambda i: hashlib.sha256(f"{seed}:{ids[i]}".encode()).digest()
    )
    keep = sorted(ranked[:limit])
    return [items[i] for i in keep]


def seeded_choice(items: Sequence[T], k: int, seed: int) -> list[T]:
    """``k`` items drawn without replacement by a seeded RNG (few-shot exemplars)."""
    return random.Random(seed).sample(list(items), k)
