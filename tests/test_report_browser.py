"""The HTML report in real headless Chromium: no network request, every image renders, tables are right.

Needs Debian's `chromium` (apt-get install -y chromium) and the `playwright` Python package; Playwright's
own browser download is never used. A screenshot is kept as an artifact in /tmp/hero-bench-artifacts/ (or
$HERO_BENCH_ARTIFACTS).
"""

from __future__ import annotations

import re

from hero_bench.reports import build_report
from hero_bench.reports.fixtures import beta_sweep_runs, demo_runs
from tests.browser import artifacts_dir as _artifacts


def test_report_renders_offline_in_chromium(browser, tmp_path):
    root = demo_runs(tmp_path / "runs")
    sweep = beta_sweep_runs(tmp_path / "sweep")
    report = build_report([root, *sweep], tmp_path / "report", "html")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri(), wait_until="load")
    external = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert external == [], f"the report made network requests: {external}"
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.naturalHeight, e.alt])")
    # one sample grid per method label (3 hero betas, hero-binary, d3po, sd-pretrained), plus the curves, the
    # beta sweep and (when the toy CLIP is installed) the secondary-metrics plots: final epoch and over feedback
    grids = [alt for _, _, alt in images if "sampled images succeed" in alt]
    assert len(grids) == 6
    assert len(images) - len(grids) in (2, 4)
    assert all(w > 0 and h > 0 for w, h, _ in images), images
    methods = page.eval_on_selector_all("#summary-table tbody th", "els => els.map(e => e.textContent)")
    assert sorted(methods) == sorted(["hero β=0", "hero β=0.5", "hero β=1", "hero-binary", "d3po", "sd-pretrained"])
    runs = page.eval_on_selector_all("#runs-table tbody tr", "els => els.length")
    assert runs == 4 * 3 + 2 * 2
    assert "hero-bench run --task toy-blue-circle --method d3po --seed 2" in page.inner_text("#runs-table")
    assert page.locator("#ablation-table").count() == 1
    shot = _artifacts() / "report_screenshot.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_the_first_screen_leads_with_the_answer(browser, tmp_path):
    """At 1280x800, before any scrolling: a sentence per task, the ranking with intervals and HERO's ratios;
    what was run is at the end."""
    from hero_bench.metrics.suite import MetricSuite

    tasks = ("toy-black-cat", "toy-blue-circle", "toy-hand", "toy-mountain", "toy-narcissus", "toy-safety")
    root = demo_runs(tmp_path / "runs", tasks=tasks)
    report = build_report([root], tmp_path / "report", "html", suite=MetricSuite())
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(report.as_uri(), wait_until="load")
    seen = page.evaluate(  # what lies wholly within the first 800 pixels, as a reader sees it
        """() => {
            const shown = e => e.getBoundingClientRect().bottom <= window.innerHeight;
            return {
                sentences: [...document.querySelectorAll('#answer li')].filter(shown).map(e => e.innerText),
                rows: [...document.querySelectorAll('#answer-table tr')].filter(shown)
                      .map(r => [...r.children].map(c => c.innerText)),
            };
        }"""
    )
    sentences = seen["sentences"]
    assert [s.split(":")[0] for s in sentences] == list(tasks), sentences  # all six, in order
    clause = r"(beats \S+ by \+[\d.]+ \(|are within noise \([+-][\d.]+, )(paired )?95% CI [+-][\d.]+ to [+-]"
    for s in sentences:
        assert re.search(clause, s), s  # "paired" where the report paired the two (same seeds)
    header, *rows = seen["rows"]
    assert header[:3] == ["task", "1st", "2nd"] and "HERO's feedback efficiency" in header[-1]
    assert [r[0] for r in rows] == list(tasks)  # every task's ranking row is on the first screen
    for r in rows:
        assert all(re.search(r" \d\.\d\d\s\[\d\.\d\d,\s\d\.\d\d\]$", cell) for cell in r[1:5]), r
        assert re.search(r"^d3po: ([≥≤]?[\d.]+x\s\[[\d.]+,\s[\d.]+\]|none)", r[-1]), r
    sections = page.eval_on_selector_all("section", "els => els.map(e => e.id)")
    assert sections[0] == "answer" and sections[-1] == "runs"
    assert "oracle simulated; judge simulated" in page.inner_text("#what-was-run")
    page.screenshot(path=str(_artifacts() / "report_first_screen.png"))
    page.close()
