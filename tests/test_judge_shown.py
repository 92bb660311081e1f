"""The judge's verdicts where samples are looked at: ``cothub show``, the HTML report's grader
panel and the browser view (list filter and drill-down).

One judged run made as a user makes it (``cothub run`` against the loopback stand-in, then
``cothub judge`` against a second stand-in whose verdicts are scripted per question; see
test_judge.py), then each surface is read back over real files and real HTTP.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cothub.judge import PROMPT_VERSION
from cothub.store import open_store
from cothub.testing.openai_server import OpenAIStandIn, running_server
from test_judge import (
    expected,
    judge_reply,
    judge_script,
    judge_verdict,
    kind,
    model_server,  # noqa: F401 (a fixture)
    run_args,
    stored_ids,
)
from test_report_html import report_data

JUDGE = "openai/judge"


@dataclass(frozen=True)
class Judged:
    store: Path
    run_id: str
    ids: list[int]
    """GSM8K item numbers of the run, in stored order."""

    @property
    def unsure(self) -> list[int]:
        """The judged items (unparsed or disagreeing), in stored order."""
        return [i for i in self.ids if kind(i) in ("unparsed", "truncated", "disagree")]


@pytest.fixture
def judged(
    cli: Any,
    model_server: OpenAIStandIn,  # noqa: F811
    data_dir: Path,
    tmp_path: Path,
) -> Judged:
    r = cli(*run_args(model_server, data_dir, tmp_path))
    assert r.code == 0, r.err
    run_id = json.loads((tmp_path / "out.json").read_text())["run_id"]
    store = tmp_path / "store.db"
    with running_server(judge_script(data_dir, [])) as js:
        j = cli("judge", run_id, "--judge", JUDGE, "--judge-base-url", js.base_url,
                "--store", str(store))  # fmt: skip
        assert j.code == 0, j.err
    db = open_store(store, readonly=True)
    try:
        ids = [int(r.sample.id.split("/")[1]) for r in db.records(run_id)]  # in stored order
    finally:
        db.close()
    assert sorted(ids) == sorted(stored_ids(tmp_path))
    return Judged(store, run_id, ids)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def brief(ids: list[int]) -> str:
    """What every surface says of the judge over a whole run, from the scripts' plan."""
    x = expected(ids)
    return (
        f"{x['judged']} items judged, judge accuracy {pct(x['judge_adjusted_accuracy'])} vs rule "
        f"{pct(x['rule_accuracy'])}, agreement {pct(x['agreement'])} (of {x['agreement_n']})"
    )


def reason(i: int) -> str:
    return "disagreement" if kind(i) == "disagree" else "unparsed"


def listed(out: str) -> list[int]:
    """The GSM8K item numbers ``show`` listed (its rule lines read ``gsm8k test/N``)."""
    return [int(n) for n in re.findall(r"gsm8k test/(\d+)", out)]


# ---- show ----------------------------------------------------------------------------------------


def test_show_prints_the_judge_summary_and_each_judged_samples_verdicts(
    cli: Any, judged: Judged
) -> None:
    base = ("show", judged.run_id, "--store", str(judged.store))
    head = cli(*base)
    assert head.code == 0, head.err
    assert f"judge {JUDGE} ({PROMPT_VERSION}) on gsm8k {brief(judged.ids)}" in head.out
    assert "test/" not in head.out  # no samples asked for: the header only

    r = cli(*base, "--judged", "--limit", "1000")
    assert r.code == 0, r.err
    assert listed(r.out) == judged.unsure  # exactly the judged samples, in stored order
    blocks = re.split(r"gsm8k test/", r.out)[1:]
    for i, block in zip(judged.unsure, blocks, strict=True):
        line = (f"judge {JUDGE} ({PROMPT_VERSION}) {judge_verdict(i)} · asked: {reason(i)} · "
                f"reply {judge_reply(i)!r}")  # fmt: skip
        assert line in block, (i, block)
        assert block.count(f"judge {JUDGE} ({PROMPT_VERSION}) ") == 1

    # --judged narrows the other lists: wrong and judged are the unparsed and truncated items
    w = cli(*base, "--judged", "--wrong", "--limit", "1000")
    assert listed(w.out) == [i for i in judged.unsure if kind(i) != "disagree"]
    # a plain list shows the verdicts of the judged samples it lists and no others
    every = cli(*base, "--all", "--limit", "1000")
    assert sorted(listed(every.out)) == sorted(judged.ids)
    assert every.out.count(" · asked: ") == len(judged.unsure)


def test_show_judged_on_a_run_nobody_judged_lists_nothing(
    cli: Any,
    model_server: OpenAIStandIn,  # noqa: F811
    data_dir: Path,
    tmp_path: Path,
) -> None:
    r = cli(*run_args(model_server, data_dir, tmp_path))
    run_id = json.loads((tmp_path / "out.json").read_text())["run_id"]
    s = cli("show", run_id, "--store", str(tmp_path / "store.db"), "--judged")
    assert s.code == 0, s.err
    assert listed(s.out) == [] and "judge " not in s.out
    assert r.code == 0


# ---- the report and the view ---------------------------------------------------------------------


def test_report_grader_panel_and_view_show_the_judges_verdicts(
    cli: Any, judged: Judged, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    r = cli("report", judged.run_id, "--store", str(judged.store), "-o", str(out))
    assert r.code == 0, r.err
    html = out.read_text()
    panel = html.split('<section id="grader">', 1)[1].split("</section>", 1)[0]
    line = f"judge {JUDGE} ({PROMPT_VERSION}): {brief(judged.ids)}"
    assert f'<p class="judge-line">{line}</p>' in panel
    # each disagreement and each judged unparsed item, with the judge's verdict
    dis = [i for i in judged.unsure if kind(i) == "disagree"]
    no_answer = [i for i in judged.unsure if kind(i) != "disagree"]
    for cls, items in (("disagreements", dis), ("judged-unparsed", no_answer)):
        table = panel.split(f'<table class="sortable {cls}">', 1)[1].split("</table>", 1)[0]
        rows = re.findall(r"<tr><td>gsm8k</td><td>test/(\d+)</td>.*?"
                          r'<td class="judge">([^<]*)</td></tr>', table)  # fmt: skip
        want = [(i, f"{JUDGE}: {judge_verdict(i)}") for i in items]
        assert [(int(n), v) for n, v in rows] == want and want
    (data,) = report_data(html)["runs"]
    (summary,) = data["judges"]
    assert summary == {"judge": JUDGE, "prompt_version": PROMPT_VERSION, **expected(judged.ids)}

    pytest.importorskip("uvicorn", reason="the view extra is not installed")
    from cothub.view import serving
    from test_view import get, rows_of

    with serving(judged.store) as url:
        code, _, page = get(f"{url}/runs/{judged.run_id}")
        assert code == 200 and f'<p class="judge-line">{line}</p>' in page

        def shown(which: str) -> list[int]:
            code, _, page = get(f"{url}/runs/{judged.run_id}/samples?judge={which}")
            assert code == 200
            return [int(x.split("/")[1]) for x in rows_of(page, "sample")]

        assert len(judged.unsure) <= 50  # one page
        assert shown("judged") == judged.unsure
        assert shown("judge-correct") == [i for i in judged.unsure if judge_verdict(i) == "correct"]
        says_wrong = [i for i in judged.unsure if judge_verdict(i) in ("incorrect", "no-answer")]
        assert shown("judge-wrong") == says_wrong and says_wrong
        _, _, page = get(f"{url}/runs/{judged.run_id}/samples?judge=judged&outcome=correct")
        assert [int(x.split("/")[1]) for x in rows_of(page, "sample")] == dis  # filters combine
        assert f'<span class="badge judge">judge: {judge_verdict(dis[0])}</span>' in page

        i = dis[0]
        _, _, page = get(f"{url}/runs/{judged.run_id}/sample?task=gsm8k&item={quote(f'test/{i}')}")
        (row,) = re.findall(r'<tr class="judgement">(.*?)</tr>', page)
        assert f"<td>{JUDGE}</td><td>{PROMPT_VERSION}</td><td>disagreement</td>" in row
        assert f"<b>{judge_verdict(i)}</b>" in row and f"<pre>{judge_reply(i)}</pre>" in row
        plain = next(n for n in judged.ids if n not in judged.unsure)
        _, _, page = get(f"{url}/runs/{judged.run_id}/sample?task=gsm8k&item=test/{plain}")
        assert 'id="completion"' in page and 'id="judgements"' not in page
