"""The HTML report in real headless Chromium: no network request, every image renders, tables are right.

Needs Debian's `chromium` (apt-get install -y chromium) and the `playwright` Python package; Playwright's
own browser download is never used. A screenshot is kept as an artifact in /tmp/hero-bench-artifacts/ (or
$HERO_BENCH_ARTIFACTS).
"""

from __future__ import annotations

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
