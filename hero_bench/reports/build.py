"""`build_report`: run folders in, a paper-style comparison out (HTML or Markdown, plus PNG/SVG and CSV).

Everything shown is computed from the run folders' files, and the report states which commands, seeds,
oracles and judges produced them, so a reader can check or reproduce any number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from hero_bench.errors import HeroBenchError
from hero_bench.metrics import curves
from hero_bench.metrics.suite import METRICS, MetricSuite
from hero_bench.reports import plots, tables
from hero_bench.reports.answer import answer_section, budget_phrase, ranking_long, sentence_pairs, standings
from hero_bench.reports.comparability import mixes
from hero_bench.reports.content import Figure, Report, Section, Table
from hero_bench.reports.diagnostics import diagnostics_section
from hero_bench.reports.gains import gain_phrase, own_gains
from hero_bench.reports.paired import paired_section, report_differences
from hero_bench.reports.provenance import provenance, runs_section
from hero_bench.reports.runs import RunSet, load_runs
from hero_bench.reports.samples import matches_record, sample_grid, sample_picks, sample_pools, write_record
from hero_bench.reports.scored import ScoredBatches
from hero_bench.source_date import built_at

SECONDARY = ["diversity", "clip_score", "blip_score", "imagereward"]


def _is_toy_model(model: object) -> bool:
    return model in (None, "", "toy") or "tiny-sd" in str(model)


def default_suite(runs: RunSet, clip: Path | None, blip: Path | None, imagereward: Path | None) -> MetricSuite:
    """The given models; without --clip, the toy CLIP when every run used the toy model."""
    if clip is None:
        models = {str(r.config.get("model")) for r in runs.runs if not _is_toy_model(r.config.get("model"))}
        if models:
            suite = MetricSuite.from_folders(None, blip, imagereward)
            suite.unavailable["clip"] = (f"runs use {', '.join(sorted(models))}; the toy CLIP does not fit them "
                                         "(pass --clip with a CLIPModel folder)")
            return suite
        return MetricSuite.for_toy_world(blip=blip, imagereward=imagereward)
    return MetricSuite.from_folders(clip, blip, imagereward)


def _secondary_rows(runs: RunSet, score: ScoredBatches) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """One row per run: secondary metrics of its final-epoch images (results.csv columns take precedence)."""
    rows: list[dict] = []
    missing: dict[str, str] = {}
    notes: dict[str, str] = {}
    for run in runs.runs:
        task, method, seed = run.key
        fin = run.results.loc[run.results["epoch"].idxmax()]
        row = {"task": task, "method": fin["label"], "seed": seed, "epoch": int(fin["epoch"])}
        logged = {m: float(fin[m]) for m in SECONDARY if m in fin.index and pd.notna(fin[m])}
        epochs = run.eval_epochs()
        res = score(run, epochs[-1]) if epochs and len(logged) < len(SECONDARY) else None
        if res is not None:
            for m in SECONDARY:
                if m in res.values and m not in logged:
                    logged[m] = res.values[m]
                elif m in res.missing:
                    missing.setdefault(m, res.missing[m])
            notes.update(res.notes)
        elif len(logged) < len(SECONDARY):
            for m in SECONDARY:
                if m not in logged:
                    missing.setdefault(m, score.missing_reason(m, run.path / "eval"))
        rows.append({**row, **logged})
    df = pd.DataFrame(rows)
    for m in SECONDARY:
        if m in df and df[m].notna().any():
            missing.pop(m, None)
    return df, missing, notes


def _epoch_metric_rows(runs: RunSet, score: ScoredBatches) -> pd.DataFrame:
    """One row per (run, evaluated epoch): the secondary metrics of that epoch's evaluation images, so that
    a report shows how diversity and alignment move while a method learns, not only where it ends."""
    rows: list[dict] = []
    for run in runs.runs:
        task, _, seed = run.key
        results = run.results.set_index("epoch")
        label = str(run.results["label"].iloc[0])
        for folder in run.eval_epochs():
            epoch = int(folder.name.split("_")[-1])
            res = score(run, folder) if epoch in results.index else None
            if res is None:
                continue
            rows.append({"task": task, "method": label, "seed": seed, "epoch": epoch,
                         "feedback_used": float(results.loc[epoch, "feedback_used"]),
                         "uses_feedback": bool(results.loc[epoch, "uses_feedback"]),
                         **{m: res.values[m] for m in SECONDARY if m in res.values}})
    return pd.DataFrame(rows)


def _short(folder: Path, roots: Sequence[str | Path]) -> str:
    """A run folder relative to the root it was found under (task/method/seed), for a sentence."""
    for root in (Path(r).resolve() for r in roots):
        if folder.is_relative_to(root):
            return folder.relative_to(root).as_posix() or folder.name
    return str(folder)


def build_report(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    fmt: Literal["html", "md"] = "html",
    *,
    target: float = curves.DEFAULT_TARGET,
    clip: str | Path | None = None,
    blip: str | Path | None = None,
    imagereward: str | Path | None = None,
    suite: MetricSuite | None = None,
    samples: int = 16,
    seed: int = 0,
    command: str | None = None,
) -> Path:
    """Write the report for the runs under `run_dirs` into `out`; returns the report file's path.

    `target` is the success rate for feedback-to-target and the efficiency ratios; `clip`, `blip`,
    `imagereward` are local model folders for the secondary metrics (or pass a ready `suite`).
    """
    if fmt not in ("html", "md"):
        raise HeroBenchError(f"unknown report format {fmt!r}; valid formats: html, md")
    if not 0 < target <= 1:
        raise HeroBenchError(f"target success must be in (0, 1], got {target}")
    built = built_at()  # also checks SOURCE_DATE_EPOCH, which matplotlib reads for the plots' metadata
    runs = load_runs(run_dirs)  # first: nothing to report leaves no empty report folder behind
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    df = runs.results
    command = command or ("hero-bench report " + " ".join(map(str, run_dirs)) + f" --out {out} --format {fmt}")
    suite = suite or default_suite(runs, *(Path(p) if p else None for p in (clip, blip, imagereward)))
    colours = plots.palette(list(df["label"].unique()))
    prov = provenance(runs)
    report = Report("hero-bench report", out)

    # --- summary (Table 2)
    summary = tables.summary_long(df)
    summary.to_csv(out / "tables" / "summary.csv", index=False)
    sec = Section("summary", "Task success (final epoch, mean ± std over seeds)")
    sec.paragraphs.append("Success rate judged on the final epoch's evaluation images, as in the paper's Table 2. "
                          "Rows are methods, columns tasks.")
    if runs.in_progress:
        names = ", ".join(_short(f, run_dirs) for f in runs.in_progress)
        sec.paragraphs.append(f"Left out of every table and plot: {len(runs.in_progress)} run(s) still in progress "
                              f"(a checkpoint, no done.json), whose last epoch is not their final one: {names}.")
    sec.paragraphs.extend(mix.paragraph() for mix in mixes(runs.runs))
    sec.tables.append(Table("summary-table", tables.wide(summary), "final success rate", "tables/summary.csv"))
    report.sections.append(sec)

    # --- curves and efficiency
    cdf = df.assign(method=df["label"])
    curves.success_curves(cdf).to_csv(out / "tables" / "curves.csv", index=False)
    figs = plots.curves_plot(df, out / "plots" / "success_vs_feedback", colours)
    sec = Section("curves", "Success vs feedback")
    sec.figures.append(Figure("curves", figs[0], "Seed mean (line) and ±1 std over seeds (band). Methods without "
                              "feedback are dashed horizontal lines at their success rate.", figs[1]))
    ftt = curves.feedback_to_target(cdf, target)
    ftt_seed = curves.feedback_to_target(cdf, target, per_seed=True)
    auc = curves.area_under_curve(cdf)
    ftt.to_csv(out / "tables" / "feedback_to_target.csv", index=False)
    ftt_seed.to_csv(out / "tables" / "feedback_to_target_per_seed.csv", index=False)
    auc.to_csv(out / "tables" / "auc.csv", index=False)
    eff = ftt.merge(auc, on=["task", "method"])
    seeds_reached = ftt_seed.groupby(["task", "method"])["reached"].agg(lambda s: f"{int(s.sum())}/{len(s)}")
    eff = eff.merge(seeds_reached.rename("seeds_reaching").reset_index(), on=["task", "method"])
    eff_view = pd.DataFrame({
        "task": eff["task"], "method": eff["method"],
        f"feedback to {target:.0%}": ["not reached" if math.isnan(v) else f"{v:g}" for v in eff["feedback_to_target"]],
        "seeds reaching": eff["seeds_reaching"],
        "AUC (mean success over budget)": [tables.pm(m, s, n) for m, s, n in
                                           zip(eff["auc_seed_mean"], eff["auc_seed_std"], eff["n_seeds"], strict=True)],
        "budget": eff["budget"],
    })
    sec.tables.append(Table("efficiency-table", eff_view, f"feedback needed to reach {target:.0%} success (seed-mean "
                            "curve) and normalised area under the curve", "tables/feedback_to_target.csv", index=False))
    gains = own_gains(df, seed=seed)
    ratios, at_final, at_budget = [], [], []
    for task, tdf in cdf.groupby("task"):
        learners = sorted(tdf.loc[tdf["uses_feedback"], "method"].unique())
        # HERO (at the paper's default β=0.5 when several β were run) is the reference method
        a = next((m for m in ("hero", "hero β=0.5") if m in learners), None)
        for b in learners:
            if a and b != a:
                ratios.append(curves.efficiency_ratio(tdf, a, b, target, task=task, seed=seed))
                at_final.append(curves.efficiency_at_final(tdf, a, b, task, seed=seed))
                at_budget.append(curves.efficiency_at_budget(tdf, a, b, task, seed=seed))
    if ratios:
        pd.DataFrame([r.__dict__ for r in ratios]).to_csv(out / "tables" / "efficiency_ratios.csv", index=False)
        sec.bullets.extend(r.describe() for r in ratios)
        # the paper's claim ("4x less feedback than D3PO") is measured at the comparator's own final success
        pd.DataFrame([r.__dict__ for r in at_final]).to_csv(out / "tables" / "efficiency_at_final.csv", index=False)
        sec.bullets.extend(f"at {r.method_b}'s final success: {r.describe()}" for r in at_final)
        # the paper's own arithmetic (D3PO's whole 5K budget against HERO's 1,152): B's budget, not its first touch
        pd.DataFrame([r.__dict__ for r in at_budget]).to_csv(out / "tables" / "efficiency_at_budget.csv", index=False)
        sec.bullets.extend(
            f"{r.task}: {r.method_b}'s whole budget ({r.feedback_b:.0f} feedback) against what {r.method_a} needs "
            f"to reach its final success: {budget_phrase(r)}"
            + (f"; {phrase}" if (phrase := gain_phrase(gains, r.task, r.method_b)) else "") for r in at_budget
        )
    if not gains.empty:
        gains.to_csv(out / "tables" / "own_gains.csv", index=False)
        sec.tables.append(Table(
            "own-gains-table",
            gains.assign(**{"final - start [95% CI]": [f"{g:+.2f} [{lo:+.2f}, {hi:+.2f}]" for g, lo, hi in
                                                      gains[["gain", "ci_low", "ci_high"]].itertuples(index=False)]})
            [["task", "method", "n_seeds", "start", "final", "final - start [95% CI]", "verdict", "pairing"]]
            .round({"start": 3, "final": 3}).set_index("task"),
            "Each learner's own gain: final success minus its success before any feedback (epoch 0, the same seed's "
            "evaluation noises), 95% paired bootstrap, widened to the paired t-interval over seeds where that is wider "
            "('t_widened' in the CSV). An efficiency ratio against a comparator whose own gain is "
            "within noise measures how fast HERO reaches that comparator's starting level plus luck.",
            "tables/own_gains.csv",
        ))
    report.sections.append(sec)

    diagnostics = diagnostics_section(df, out, colours)
    if diagnostics is not None:
        report.sections.append(diagnostics)

    # --- ablation (Table 3)
    abl = tables.ablation_long(summary)
    if abl is not None:
        abl.to_csv(out / "tables" / "ablation.csv", index=False)
        sec = Section("ablation", "Ablation (HERO variants)")
        sec.tables.append(Table("ablation-table", tables.wide(abl), "final success of HERO and its hero-* variants",
                                "tables/ablation.csv"))
        report.sections.append(sec)

    # --- beta sweep (Figure 5)
    hero_rows = df[df["method"].map(tables.is_ablation) & df["best_ratio"].notna()]
    swept = [t for t, part in hero_rows.groupby("task") if part["best_ratio"].nunique() > 1]
    if swept:
        sweep = hero_rows[hero_rows["task"].isin(swept)]
        figs = plots.beta_sweep_plot(sweep, out / "plots" / "beta_sweep")
        sweep_sum = tables.summary_long(sweep.assign(label=[f"β={b:g}" for b in sweep["best_ratio"]]))
        sweep_sum.to_csv(out / "tables" / "beta_sweep.csv", index=False)
        sec = Section("beta-sweep", "Best image ratio β")
        sec.figures.append(Figure("beta-sweep", figs[0], "Success vs feedback for each β (±1 std over seeds).",
                                  figs[1]))
        sec.tables.append(Table("beta-table", tables.wide(sweep_sum), "final success per β", "tables/beta_sweep.csv"))
        report.sections.append(sec)

    # --- secondary metrics (Figure 8)
    score = ScoredBatches(suite)
    rows, missing, notes = _secondary_rows(runs, score)
    rows.to_csv(out / "tables" / "metrics_per_run.csv", index=False)
    sec = Section("metrics", "Secondary metrics (final epoch)")
    present = [m for m in SECONDARY if m in rows and rows[m].notna().any()]
    if present:
        mlong = tables.metrics_long(rows, present)
        mlong.to_csv(out / "tables" / "metrics.csv", index=False)
        view = mlong[["task", "method"]].copy()
        for m in present:
            label = m + (" (unverified)" if notes.get(m) == "unverified" else "")
            stats = zip(mlong[f"{m}_mean"], mlong[f"{m}_std"], mlong[f"{m}_n"], mlong["n_seeds"], strict=True)
            view[label] = [tables.pm(a, s, n, of=seeds) for a, s, n, seeds in stats]
        sec.tables.append(Table("metrics-table", view, "; ".join(f"{m}: {METRICS[m]}" for m in present),
                                "tables/metrics.csv", index=False))
        figs = plots.metrics_plot(rows, present, out / "plots" / "secondary_metrics", colours)
        sec.figures.append(Figure("metrics", figs[0], "Higher is better for every metric; bars ±1 std over seeds.",
                                  figs[1]))
    per_epoch = _epoch_metric_rows(runs, score) if present else pd.DataFrame()
    over_time = [m for m in present if m in per_epoch]
    if over_time:
        per_epoch.to_csv(out / "tables" / "metrics_per_epoch.csv", index=False)
        figs = plots.metrics_over_feedback_plot(per_epoch, over_time, out / "plots" / "metrics_vs_feedback", colours)
        sec.figures.append(Figure("metrics-over-feedback", figs[0], "Secondary metrics of every epoch's evaluation "
                                  "images against feedback used (seed mean, ±1 std band); methods without feedback "
                                  "appear at 0 or, when they train, at their epochs' 0-feedback points.", figs[1]))
    for m, why in notes.items():
        if why and why != "unverified":
            sec.bullets.append(f"{m}: {why}")
        elif why == "unverified":
            sec.bullets.append(f"{m}: unverified — parity with the reference package not yet shown "
                               "(`tox -e imagereward-parity`)")
    for m, why in missing.items():
        sec.bullets.append(f"{m}: missing — {why}")
    report.sections.append(sec)

    # --- samples (Figure 4)
    sec = Section("samples", "Random samples (final epoch), marked by the judge")
    sec.paragraphs.append("Green frame and disc: the judge counts the image as a success; red frame and cross: "
                          "failure. Drawn at random (fixed seed) from all seeds' final evaluation images.")
    (out / "samples").mkdir(exist_ok=True)
    for pool in sample_pools(runs.runs, seed):
        path = out / "samples" / pool.sheet_name()
        grid = sample_grid(pool.task, pool.method, pool.batches, k=samples, seed=pool.seed) if pool.batches else None
        picks, drawn_from = sample_picks(pool.judged, k=samples, seed=pool.seed)
        if grid is not None:
            grid.image.save(path)
            write_record(path, grid.picks)
            caption = (f"{pool.task} / {pool.method}: {grid.n_good} of {grid.n} sampled images succeed "
                       f"(drawn from {grid.pool}).")
        elif not pool.batches and path.exists() and matches_record(path, picks):  # archived runs: the earlier sheet
            caption = (f"{pool.task} / {pool.method}: kept from an earlier build of this report (the run folders no "
                       f"longer hold the images); by their verdicts, {sum(b.good[j] for b, j in picks)} of "
                       f"{len(picks)} sampled images succeed (drawn from {drawn_from}).")
        else:
            continue
        sec.figures.append(Figure(pool.figure_id(), path, caption))
    if not sec.figures:
        sec.paragraphs.append("No evaluation images were found in the run folders.")
    report.sections.append(sec)

    # --- what was run, last; the answer, first
    prov.to_csv(out / "tables" / "runs.csv", index=False)
    report.sections.append(runs_section(prov, command, suite.describe(), built))
    ranked = standings(df, seed=seed)
    ranking_long(ranked).to_csv(out / "tables" / "ranking.csv", index=False)
    diffs = report_differences(df, sentence_pairs(ranked), seed=seed)
    report.sections.insert(0, answer_section(ranked, at_final, ratios, target, paired=diffs, at_budget=at_budget))
    paired = paired_section(diffs, out)
    if paired is not None:
        report.sections.insert(1, paired)

    if fmt == "html":
        from hero_bench.reports.html import render_html

        path = out / "report.html"
        path.write_text(render_html(report), encoding="utf-8")
    else:
        from hero_bench.reports.markdown import render_markdown

        path = out / "report.md"
        path.write_text(render_markdown(report), encoding="utf-8")
    return path

