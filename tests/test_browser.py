"""The report file and the running view in a real headless Chromium (Playwright).

Skips, with the reason, where Playwright or a Chromium binary is missing. Chromium comes from the
system (Debian: ``apt-get install -y chromium``), never from ``playwright install``:
``$COTHUB_CHROMIUM`` names the binary, else ``/usr/bin/chromium``. Screenshots are saved under
``$COTHUB_TEST_ARTIFACTS`` (default ``build/test-artifacts/browser``, git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_report_html import (
    HOSTILE_JUDGE,
    HOSTILE_REPLY,
    PAYLOADS,
    SECRET,
    Stores,
    build_stores,
    hostile_store,
    plan,
    published_csv,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
REPO = Path(__file__).resolve().parents[1]


def _chromium() -> str | None:
    for cand in (
        os.environ.get("COTHUB_CHROMIUM"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


CHROMIUM = _chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium binary (apt-get install -y chromium, or set COTHUB_CHROMIUM)",
    ),
]


def artifacts() -> Path:
    d = Path(os.environ.get("COTHUB_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    d = d / "browser"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A page that records console errors, uncaught exceptions and dialogs."""

    def __init__(self, browser: Any) -> None:
        self.ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", dialog)

    def close(self) -> None:
        self.ctx.close()

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        assert self.page.evaluate("typeof window.__pwned") == "undefined"

    def plots_render(self) -> int:
        boxes = self.page.eval_on_selector_all(
            "svg.plot",
            "els => els.map(e => [e.getBoundingClientRect().width, "
            "e.getBoundingClientRect().height, e.querySelectorAll('rect,circle,path').length])",
        )
        assert boxes, "no plot on the page"
        for w, h, marks in boxes:
            assert w > 50 and h > 50 and marks > 1
        return len(boxes)


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()


def off_loop(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in another thread: Playwright's sync API keeps an event loop running in this
    one, and ``cothub run`` starts its own."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture
def stores(cli: Any, data_dir: Path, tmp_path: Path) -> Stores:
    result: Stores = off_loop(build_stores, cli, data_dir, tmp_path)
    return result


def _report(cli: Any, store: Path, tmp: Path, name: str) -> Path:
    out = tmp / name
    args = ("report", "--store", str(store), "-o", str(out), "--published", str(published_csv(tmp)))
    r = off_loop(cli, *args)
    assert r.code == 0, r.err
    return out


# ---- the report file ---------------------------------------------------------------------------


def test_report_in_chromium(cli: Any, stores: Stores, tmp_path: Path, page: Page) -> None:
    from cothub.store import open_store

    out = _report(cli, stores.path, tmp_path, "report.html")
    pg = page.page
    pg.goto(out.as_uri())
    pg.wait_for_selector("#leaderboard")
    page.clean()
    assert page.plots_render() >= 5
    # the table shows the stored numbers
    db = open_store(stores.path, readonly=True)
    for rid in (stores.a, stores.b, stores.sc):
        head = db.run(rid).summary["gsm8k"]  # type: ignore[index]
        shown = pg.inner_text(f'#leaderboard tr[data-run="{rid}"] td[data-bench="gsm8k"] .acc')
        assert shown == f"{100 * head.accuracy:.1f}"
        ci = pg.inner_text(f'#leaderboard tr[data-run="{rid}"] td[data-bench="gsm8k"] .ci')
        assert f"n={head.n}" in ci and f"{100 * head.ci95[0]:.1f}" in ci
    # published rows are there and marked
    assert "published" in pg.inner_text("#leaderboard tr.published")
    # sorting by the GSM8K column reorders the runs
    col = pg.locator("#leaderboard thead th", has_text="GSM8K")
    col.click()
    up = pg.eval_on_selector_all(
        "#leaderboard tbody.own tr, #leaderboard tbody:first-of-type tr",
        "rs => rs.map(r => r.getAttribute('data-run'))",
    )
    col.click()
    down = pg.eval_on_selector_all(
        "#leaderboard tbody:first-of-type tr", "rs => rs.map(r => r.getAttribute('data-run'))"
    )
    accs = {rid: db.run(rid).summary["gsm8k"].accuracy for rid in down}  # type: ignore[index]
    assert [accs[r] for r in down] == sorted(accs.values(), reverse=True)
    assert set(up[: len(down)]) == set(down)
    pg.screenshot(path=str(artifacts() / "report.png"), full_page=True)
    page.clean()


def test_report_hostile_text_shows_literally(
    cli: Any, tmp_path: Path, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    store = tmp_path / "h.db"
    hostile_store(store)
    out = _report(cli, store, tmp_path, "hostile.html")
    pg = page.page
    pg.goto(out.as_uri())
    pg.wait_for_selector("#leaderboard")
    pg.wait_for_timeout(300)  # an onerror or onload would have fired by now
    page.clean()
    text = pg.inner_text("body")
    for payload in PAYLOADS:
        assert payload in text, payload
    assert "evil<script>window.__pwned=7</script>" in text  # a published row's model name
    assert f"{HOSTILE_JUDGE}: correct" in text  # the judge's verdict in the grader panel
    assert SECRET not in pg.content()
    assert (
        pg.eval_on_selector_all(
            "a[href^='javascript:'], img, [onerror], [onload]", "els => els.length"
        )
        == 0
    )
    pg.screenshot(path=str(artifacts() / "report-hostile.png"), full_page=True)


# ---- the view ----------------------------------------------------------------------------------


@pytest.fixture
def view(stores: Stores) -> Iterator[str]:
    pytest.importorskip("uvicorn", reason="the view extra is not installed")
    from cothub.view import serving

    with serving(stores.path) as url:
        yield url


def _items(stores: Stores) -> list[int]:
    from cothub.store import open_store

    db = open_store(stores.path, readonly=True)
    return [int(r.sample.id.split("/")[1]) for r in db.records(stores.a)]


def test_view_in_chromium(view: str, stores: Stores, page: Page) -> None:
    pg = page.page
    shots = artifacts()
    pg.goto(view + "/")
    assert pg.locator("#runs tbody tr").count() == 3
    page.clean()
    pg.screenshot(path=str(shots / "view-runs.png"), full_page=True)
    # a run's summary with the report's plots
    pg.click(f'#runs a[href="/runs/{stores.a}"]')
    pg.wait_for_selector("#leaderboard")
    assert page.plots_render() >= 3
    page.clean()
    pg.screenshot(path=str(shots / "view-run.png"), full_page=True)
    # the sample browser and its filters
    pg.goto(f"{view}/runs/{stores.a}/samples")
    assert pg.locator("#samples tbody tr").count() == 40
    pg.select_option("select[name=outcome]", "wrong")
    pg.check("input[name=truncated]")
    pg.click("#filters button[type=submit]")
    pg.wait_for_url("**truncated=1**")
    items = _items(stores)
    want = [i for i in items if plan("stand-in", i) == "truncated"]
    assert pg.locator("#samples tbody tr").count() == len(want)
    pg.uncheck("input[name=truncated]")
    pg.fill("input[name=q]", "cannot solve")
    pg.click("#filters button[type=submit]")
    pg.wait_for_url("**q=cannot**")
    want = [i for i in items if plan("stand-in", i) == "unparsed"]
    assert pg.locator("#samples tbody tr").count() == len(want)
    page.clean()
    pg.screenshot(path=str(shots / "view-samples.png"), full_page=True)
    # drill-down: the thinking opens, the extracted span is highlighted, the permalink works
    pg.goto(f"{view}/runs/{stores.sc}/samples?outcome=correct")
    pg.click("#samples tbody tr:first-child td:nth-child(2) a")
    pg.wait_for_selector("#completion")
    pg.click("details.thinking > summary")
    assert "thinking about item" in pg.inner_text("details.thinking pre")
    assert pg.locator("#completion mark.span").count() == 1
    assert pg.locator("#votes tbody tr").count() >= 1
    link = pg.get_attribute("#permalink", "href")
    assert link
    pg.screenshot(path=str(shots / "view-sample.png"), full_page=True)
    pg.goto(view + link)
    assert pg.locator("#completion").count() == 1
    page.clean()


def test_view_two_run_comparison_in_chromium(view: str, stores: Stores, page: Page) -> None:
    pg = page.page
    items = _items(stores)
    a_only = [i for i in items if plan("stand-in", i) == "right" != plan("stand-in-b", i)]
    b_only = [i for i in items if plan("stand-in-b", i) == "right" != plan("stand-in", i)]
    pg.goto(view + "/")
    pg.select_option("select[name=a]", stores.a)
    pg.select_option("select[name=b]", stores.b)
    pg.click("form[action='/compare'] button")
    pg.wait_for_selector("#pairs")
    assert pg.locator("#pairs tbody tr").count() == len(a_only)
    assert pg.inner_text("#tab-a_right_b_wrong .count") == str(len(a_only))
    pg.click("#tab-b_right_a_wrong")
    pg.wait_for_url("**which=b_right_a_wrong**")
    assert pg.locator("#pairs tbody tr").count() == len(b_only)
    got = sorted(
        int(x.split("/")[1])
        for x in pg.eval_on_selector_all(
            "#pairs tbody tr", "rs => rs.map(r => r.getAttribute('data-item'))"
        )
    )
    assert got == sorted(b_only)
    page.clean()
    pg.screenshot(path=str(shots_dir() / "view-compare.png"), full_page=True)
    pg.click("#pairs tbody tr:first-child td:nth-child(2) a")
    pg.wait_for_selector("#side-a")
    assert pg.locator("#side-a del").count() >= 1 and pg.locator("#side-b ins").count() >= 1
    page.clean()
    pg.screenshot(path=str(shots_dir() / "view-compare-item.png"), full_page=True)


def shots_dir() -> Path:
    return artifacts()


def test_view_hostile_text_shows_literally(
    tmp_path: Path, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvicorn", reason="the view extra is not installed")
    from cothub.view import serving

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    store = tmp_path / "h.db"
    rid = hostile_store(store)
    pg = page.page
    with serving(store) as url:
        for path in ("/", f"/runs/{rid}", f"/runs/{rid}/samples"):
            pg.goto(url + path)
            pg.wait_for_timeout(200)
            page.clean()
            assert SECRET not in pg.content()
        pg.click("#samples tbody tr:first-child td:nth-child(2) a")
        pg.wait_for_selector("#completion")
        pg.click("details.thinking > summary")
        pg.wait_for_timeout(200)
        page.clean()
        text = pg.inner_text("body")
        for payload in PAYLOADS:
            assert payload in text, payload
        assert (
            pg.eval_on_selector_all(
                "a[href^='javascript:'], img, [onerror], [onload]", "els => els.length"
            )
            == 0
        )
        assert SECRET not in pg.content()
        pg.screenshot(path=str(artifacts() / "view-hostile.png"), full_page=True)
        # the judged item's drill-down: the judge's name and reply show literally
        pg.goto(f"{url}/runs/{rid}/samples?judge=judged")
        pg.click("#samples tbody tr:first-child td:nth-child(2) a")
        pg.wait_for_selector("#judgements")
        pg.wait_for_timeout(200)
        page.clean()
        text = pg.inner_text("#judgements")
        assert HOSTILE_JUDGE in text and HOSTILE_REPLY in text
