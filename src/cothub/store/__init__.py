"""Where runs, samples and cached completions live."""

from __future__ import annotations

import os
from pathlib import Path

from cothub.store.sqlite import (
    Claim,
    Failure,
    RunRow,
    SampleFilter,
    SampleUsage,
    Store,
    clean_completion,
    clean_text,
)

__all__ = [
    "Claim",
    "Failure",
    "RunRow",
    "SampleFilter",
    "SampleUsage",
    "Store",
    "clean_completion",
    "clean_text",
    "default_store_path",
    "open_store",
]


def default_store_path() -> Path:
    """``$COTHUB_STORE``, else ``cothub.db`` in the user's data directory.

    One store per user (not per working directory) so that the completion cache is shared by every
    run: the same request is never paid for twice, wherever the command was typed.
    """
    env = os.environ.get("COTHUB_STORE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("cothub") / "cothub.db"


def open_store(path: Path | None, readonly: bool = False) -> Store:
    """``readonly`` for reading commands: works on read-only media, never changes the file."""
    return Store(path if path is not None else default_store_path(), readonly=readonly)
