"""``cothub report --study RESULT.json``: a Studies section with one inline-SVG plot per study
(every analysis), well-formed, escaped, under the report's strict CSP."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from cothub.study.analysis import (
    Censoring,
    Curve,
    CurvePoint,
    Delta,
    ModelSize,
    Point,
    StudyResult,
)

EVIL = '<script>window.__pwned=1</script>"><svg onload="x">'


def _point(model: str, cell: str, task: str, acc: float, **kw: Any) -> Point:
    n = 40
    return Point(model, cell, task, n, round(acc * n), acc, (acc - 0.1, acc + 0.1), 0, **kw)


def _censored(lower: float, upper: float, truncation_rate: float) -> Censoring:
    return Censoring(40, truncation_rate, None, (0.0, 1.0), lower, upper, 100.0)


def _delta(contrast: str, task: str, delta: float, significant: bool) -> Delta:
    b = max(0, round(40 * delta))
    return Delta(
        contrast,
        "cot",
        f"openai/{EVIL}",
        task,
        40,
        0.5 + delta,
        0.5,
        delta,
        b,
        0,
        0.001,
        0.004,
        significant,
    )


def studies() -> dict[str, dict[str, object]]:
    m = f"openai/{EVIL}"
    formats = StudyResult(
        "formats",
        f"formats {EVIL}",
        "paired",
        (_point(m, "fewshot-cot", "gsm8k", 0.8), _point(m, "fewshot-direct", "gsm8k", 0.3)),
        (
            _delta(f"CoT gain {EVIL}", "gsm8k", 0.5, True),
            _delta("few-shot gain", "gsm8k", 0.0, False),
        ),
        summary=(f"CoT helps on gsm8k {EVIL}",),
    )
    perturb = StudyResult(
        "perturb",
        "exemplars transformed",
        "paired",
        (_point(m, "unperturbed", "gsm8k", 0.9),),
        (_delta("no-rationale", "gsm8k", -0.6, True),),
    )
    curve = Curve(
        m,
        "T=0.7",
        "gsm8k",
        tuple(
            CurvePoint(k, 0.5 + 0.05 * k, (0.4, 0.9), 0.5 + 0.1 * k, (0.4, 1.0), 100.0 * k)
            for k in (1, 2, 3, 4)
        ),
    )
    consistency = StudyResult("consistency", "maj@k", "consistency", (), curves=(curve,))
    budget = StudyResult(
        "budget",
        "thinking budget",
        "budget",
        (
            _point(m, "effort=low", "gsm8k", 0.5, censoring=_censored(0.4, 0.7, 0.3)),
            _point(m, "effort=high", "gsm8k", 0.8, censoring=_censored(0.8, 0.8, 0.0)),
        ),
    )
    scaling = StudyResult(
        "scaling",
        "size",
        "scaling",
        (
            _point("openai/small-1b", "default", "gsm8k", 0.2, size=ModelSize(1.0)),
            _point("openai/big-70b", "default", "gsm8k", 0.8, size=ModelSize(70.0)),
            _point(m, "default", "gsm8k", 0.5, size=ModelSize(None)),
        ),
    )
    code = StudyResult(
        "code-reasoning",
        "HumanEval vs reasoning",
        "code-reasoning",
        tuple(
            _point(f"openai/{name}", "default", task, acc)
            for name, h, g in (("a-70b", 0.8, 0.9), ("b-8b", 0.5, 0.6), (EVIL, 0.1, 0.2))
            for task, acc in (("humaneval", h), ("gsm8k", g))
        ),
        published=(
            {
                "model": f"hub {EVIL}",
                "published_as": "x",
                "task": "humaneval",
                "accuracy": 0.67,
                "source": "s",
            },
            {
                "model": f"hub {EVIL}",
                "published_as": "x",
                "task": "gsm8k",
                "accuracy": 0.92,
                "source": "s",
            },
        ),
        correlations=(
            {
                "x": "humaneval",
                "y": "reasoning (mean)",
                "scope": "own",
                "n": 3,
                "rho": 1.0,
                "p": 0.33,
                "p_method": "exact",
                "ci95": [1.0, 1.0],
                "models": [],
            },
        ),
    )
    return {s.name: s.as_json() for s in (formats, perturb, consistency, budget, scaling, code)}


def _svgs(html: str, section: str) -> list[str]:
    body = html.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<svg\b.*?</svg>", body, flags=re.S)


def test_report_draws_every_study_escaped_and_well_formed(cli: Any, tmp_path: Path) -> None:
    files = []
    for name, data in studies().items():
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps(data))
        files += ["--study", str(f)]
    out = tmp_path / "r.html"
    r = cli("report", "--store", str(tmp_path / "s.db"), "-o", str(out), *files)
    assert r.code == 0, r.err
    assert "6 studies" in r.out
    html = out.read_text()
    assert '<section id="studies">' in html
    svgs = _svgs(html, "studies")
    plotted = {m.group(1) for s in svgs if (m := re.search(r'data-plot="([^"]+)"', s))}
    assert plotted == {
        "study-deltas",
        "study-curves",
        "study-points",
        "study-scaling",
        "study-code-reasoning",
    }
    for svg in svgs:
        ET.fromstring(svg)  # well-formed: no label broke out of its element
        assert len(re.findall(r"<(circle|path|line)\b", svg)) > 2  # something is drawn
    assert "<script>window" not in html and 'onload="x"' not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    # the numbers drawn are the study's: the CoT gain, the hub row, the size axis
    assert "+50.0" in html and "67.0%" in html and "(log scale)" in html
    assert "Spearman own: rho +1.00" in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1)


def test_report_refuses_a_file_that_is_not_a_study(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"run_id": "r1"}')
    r = cli(
        "report",
        "--store",
        str(tmp_path / "s.db"),
        "-o",
        str(tmp_path / "r.html"),
        "--study",
        str(bad),
    )
    assert r.code != 0 and "not a study result" in r.err
    bad.write_text("{")
    r = cli(
        "report",
        "--store",
        str(tmp_path / "s.db"),
        "-o",
        str(tmp_path / "r.html"),
        "--study",
        str(bad),
    )
    assert r.code != 0 and "is not JSON" in r.err


@pytest.mark.parametrize(
    "analysis", ["paired", "consistency", "budget", "scaling", "code-reasoning"]
)
def test_an_empty_study_renders_a_note_not_a_crash(analysis: str) -> None:
    from cothub.report.html import study_section

    html = study_section([{"study": "x", "analysis": analysis, "points": [], "deltas": "junk"}])
    assert html.startswith('<section id="studies">')
