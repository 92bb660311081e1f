"""Where benchmark files come from: a local data directory, else the Hugging Face Hub.

Every loader returns rows plus a provenance string (file sha256 or hub revision) that goes into the
run manifest, so a number can always be traced to the exact bytes it was computed on.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
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
                f"prompt file {choice!r} not found; give a path or one of {', '.join(named)}"
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_jsonl(path: Path, required: Sequence[str]) -> Rows:
    """Read a JSONL file, naming the line of the first malformed record."""
    rows: list[dict[str, Any]] = []
    raw = path.read_bytes()
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise CothubError(
                f"{path}:{lineno}: not valid JSON ({e.msg}); replace the file with a clean copy"
            ) from e
        if not isinstance(row, dict) or any(k not in row for k in required):
            raise CothubError(
                f"{path}:{lineno}: expected an object with fields {', '.join(required)}; "
                "replace the file with a clean copy"
            )
        rows.append(row)
    if not rows:
        raise CothubError(f"{path} holds no records; replace it with a clean copy")
    return Rows(rows, str(path), hashlib.sha256(raw).hexdigest())


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CothubError(f"{path}: cannot read JSON ({e}); replace it with a clean copy") from e


def load_hub(repo: str, config: str | None, split: str, required: Sequence[str]) -> Rows:
    """Rows of a Hub dataset split (cached by ``datasets``); one clear line when offline."""
    try:
        import datasets

        ds = datasets.load_dataset(repo, config, split=split)
    except ImportError as e:  # pragma: no cover - datasets is a dependency
        raise CothubError(f"loading {repo} from the Hub needs `datasets`: {e}") from e
    except Exception as e:
        raise CothubError(
            f"cannot load {repo} ({config or 'default'}/{split}) from the Hugging Face Hub "
            f"({type(e).__name__}); pass --data-dir DIR (or set {DATA_DIR_ENV}) to a local copy"
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
