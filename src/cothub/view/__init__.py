"""``cothub view``: a local web app over a store (Starlette on uvicorn, 127.0.0.1 by default).

Pages: the run list; a run's summary with the report's plots; a sample browser with filters,
search and a drill-down per sample (its URL is the permalink); a comparison of two runs on the
items both graded, with a word-level diff of the two completions. Every page is server-rendered
HTML with every stored text escaped, served with a Content-Security-Policy that allows only the
app's own stylesheet and sort script. Needs the ``view`` extra: ``pip install 'cothub[view]'``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cothub.errors import CothubError

INSTALL_HINT = "the browser view needs Starlette and uvicorn: pip install 'cothub[view]'"


def _need() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CothubError(INSTALL_HINT) from None


def serve(
    store: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    prices: Path | None = None,
    published: Path | None = None,
) -> None:
    """Serve until interrupted."""
    _need()
    import uvicorn

    from cothub.view.app import create_app

    uvicorn.run(create_app(store, prices, published), host=host, port=port, log_level="warning")


@contextlib.contextmanager
def serving(
    store: Path, port: int = 0, prices: Path | None = None, warm: bool = True
) -> Iterator[str]:
    """Run the view in a thread on 127.0.0.1 (``port`` 0: a free one); yields its base URL."""
    _need()
    import uvicorn

    from cothub.view.app import create_app

    config = uvicorn.Config(
        create_app(store, prices, warm=warm),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise CothubError("the view did not start")
        time.sleep(0.02)
    servers: Any = server.servers
    bound = servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(10)
