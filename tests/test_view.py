"""``cothub view`` over HTTP (no browser here; test_browser.py drives Chromium): pages, filters,
drill-down, permalinks, the two-run comparison, headers, escaping and secrets."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from test_report_html import SECRET, Stores, build_stores, hostile_store, plan

pytest.importorskip("starlette", reason="the view extra (starlette, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the view extra (starlette, uvicorn) is not installed")


def get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


@pytest.fixture
def stores(cli: Any, data_dir: Path, tmp_path: Path) -> Stores:
    return build_stores(cli, data_dir, tmp_path)


@pytest.fixture
def view(stores: Stores) -> Iterator[str]:
    from cothub.view import serving

    with serving(stores.path) as url:
        yield url


def rows_of(html: str, cls: str) -> list[str]:
    return re.findall(rf'<tr class="{cls}" data-item="([^"]+)"', html)


def test_run_list_and_summary(view: str, stores: Stores) -> None:
    code, headers, html = get(view + "/")
    assert code == 200
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    for rid in (stores.a, stores.b, stores.sc):
        assert f'href="/runs/{rid}"' in html
    code, _, html = get(f"{view}/runs/{stores.a}")
    assert code == 200
    assert 'data-plot="accuracy-ci"' in html and 'data-plot="lengths-' in html
    assert "prompts sha256" in html


def test_filters_search_and_paging(view: str, stores: Stores) -> None:
    base = f"{view}/runs/{stores.a}/samples"
    _, _, html = get(base)
    assert "40 samples" in html and len(rows_of(html, "sample")) == 40
    items = _items(stores)
    expect = {
        k: [i for i in items if plan("stand-in", i) == k]
        for k in ("right", "wrong", "unparsed", "truncated")
    }
    _, _, html = get(base + "?outcome=wrong")
    got = rows_of(html, "sample")
    assert len(got) == 40 - len(expect["right"])
    _, _, html = get(base + "?truncated=1")
    assert sorted(int(x.split("/")[1]) for x in rows_of(html, "sample")) == sorted(
        [int(i) for i in _ids(stores, "truncated")]
    )
    _, _, html = get(base + "?unparsed=1")
    assert len(rows_of(html, "sample")) == len(expect["unparsed"]) + len(expect["truncated"])
    _, _, html = get(base + "?outcome=correct&task=gsm8k&check=numeric")
    assert "samples" in html
    _, _, html = get(base + "?" + urlencode({"q": "cannot solve"}))
    assert len(rows_of(html, "sample")) == len(expect["unparsed"])
    _, _, html = get(base + "?q=x%25y")  # LIKE wildcards are searched for literally
    assert len(rows_of(html, "sample")) == 0


def _items(stores: Stores) -> list[int]:
    """The GSM8K item numbers the runs evaluated (a seeded --limit subset)."""
    from cothub.store import open_store

    return sorted(
        int(r.sample.id.split("/")[1])
        for r in open_store(stores.path, readonly=True).records(stores.a)
    )


def _ids(stores: Stores, kind: str) -> list[str]:
    """Item numbers of run A's samples that were truncated."""
    from cothub.store import open_store

    db = open_store(stores.path, readonly=True)
    assert kind == "truncated"
    return [
        r.sample.id.split("/")[1]
        for r in db.records(stores.a)
        if r.completion.finish_reason == "length"
    ]


def test_drill_down_and_permalink(view: str, stores: Stores) -> None:
    from cothub.store import open_store

    rec = next(iter(open_store(stores.path, readonly=True).records(stores.sc)))
    url = f"{view}/runs/{stores.sc}/sample?task=gsm8k&item={quote(rec.sample.id, safe='')}"
    code, _, html = get(url)
    assert code == 200
    assert "few-shot turns" in html and "thinking (" in html
    assert 'id="votes"' in html and "strategy steps (4)" in html
    assert 'id="permalink"' in html and "finish reason" in html and "latency" in html
    if rec.grade.span:
        assert '<mark class="span">' in html
    assert get(f"{view}/runs/{stores.sc}/sample?task=gsm8k&item=nope")[0] == 404
    assert get(f"{view}/runs/zzzz")[0] == 404


def test_comparison_both_directions_and_diff(view: str, stores: Stores) -> None:
    items = _items(stores)
    a_only = [
        i for i in items if plan("stand-in", i) == "right" and plan("stand-in-b", i) != "right"
    ]
    b_only = [
        i for i in items if plan("stand-in-b", i) == "right" and plan("stand-in", i) != "right"
    ]
    assert a_only and b_only
    q = f"{view}/compare?a={stores.a}&b={stores.b}"
    _, _, html = get(q)
    assert sorted(int(x.split("/")[1]) for x in rows_of(html, "pair")) == a_only
    _, _, html = get(q + "&which=b_right_a_wrong")
    assert sorted(int(x.split("/")[1]) for x in rows_of(html, "pair")) == b_only
    item = f"test/{a_only[0]}"
    code, _, html = get(f"{view}/compare/item?a={stores.a}&b={stores.b}&task=gsm8k&item={item}")
    assert code == 200
    assert "<del>" in html and "<ins>" in html


def test_hostile_text_is_escaped_and_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cothub.view import serving

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    store = tmp_path / "h.db"
    rid = hostile_store(store)
    with serving(store) as url:
        pages = [get(url + "/"), get(f"{url}/runs/{rid}"), get(f"{url}/runs/{rid}/samples")]
        item = quote("item1</script><script>window.__pwned=4</script>", safe="")
        task = quote("task<script>window.__pwned=9</script>", safe="")
        pages.append(get(f"{url}/runs/{rid}/sample?task={task}&item={item}"))
        item2 = quote("item2</script><script>window.__pwned=4</script>", safe="")
        pages.append(get(f"{url}/runs/{rid}/sample?task={task}&item={item2}"))
        pages.append(get(f"{url}/runs/{rid}/samples?judge=judged"))
    for code, _, html in pages:
        assert code == 200
        assert SECRET not in html
        assert len(re.findall(r"<script", html)) == 1  # only the app's own /static/sort.js
        assert "<img" not in html and "<svg onload" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in pages[3][2]
    # the judge's reply on the drill-down of the judged item, escaped
    judged = pages[4][2]
    assert 'id="judgements"' in judged and "<pre>VERDICT: correct &lt;script&gt;" in judged
    assert len(rows_of(pages[5][2], "sample")) == 1  # the judge filter: item 2 only


def test_view_command_refuses_a_missing_store_and_help_stays_light(
    cli: Any, tmp_path: Path
) -> None:
    import subprocess
    import sys

    r = cli("view", "--store", str(tmp_path / "none.db"))
    assert r.code != 0 and "no store" in r.err
    code = (
        "import sys, cothub.cli; "
        "print([m for m in ('starlette', 'uvicorn', 'playwright', 'cothub.view') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # the web framework is imported only by `cothub view`
