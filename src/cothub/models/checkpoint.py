"""What the in-process backends (``hf/``, ``vllm/``) share about local checkpoints."""

from __future__ import annotations

import hashlib
from pathlib import Path


def fingerprint(folder: Path) -> str:
    """A content hash of a local checkpoint, so a re-trained model in the same folder misses the
    cache: every file's name and size, small files whole, large ones (weights) by their first
    and last MiB."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        size = path.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with path.open("rb") as f:
            if size <= 4 << 20:
                h.update(f.read())
            else:
                h.update(f.read(1 << 20))
                f.seek(-(1 << 20), 2)
                h.update(f.read())
    return "sha256:" + h.hexdigest()[:16]


def one_line(e: BaseException) -> str:
    """An exception's message squeezed onto one line, for the CLI's one-line errors."""
    return " ".join(str(e).split())[:300]
