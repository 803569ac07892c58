"""Seaborn figures of a report, each saved as PNG (embedded in the HTML) and SVG (for papers).

Seeds are shown as a band of one standard deviation around the seed mean, as in the paper's Figure 5.
Methods that use no feedback have a single point at 0 feedback, so they are drawn as a horizontal
reference line (with their band) across the feedback axis instead.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: reports are built on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from hero_bench.metrics.curves import at_feedback  # noqa: E402
from hero_bench.reports.tables import final_rows  # noqa: E402


def palette(labels: list[str]) -> dict[str, tuple[float, float, float]]:
    """One colour per method, stable across all figures of a report."""
    names = sorted(set(labels))
    return dict(zip(names, sns.color_palette("tab10" if len(names) <= 10 else "husl", len(names)), strict=True))


def _save(fig, base: Path) -> list[Path]:
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=110, bbox_inches="tight")
    # no date and fixed element ids: the same runs give the same SVG bytes, so a committed report's diff is real
    with plt.rc_context({"svg.hashsalt": "hero-bench"}):
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths


def _axes(n: int, width: float = 4.6, height: float = 3.4):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, sharey=True)
    return fig, list(axes[0])


def curves_plot(df: pd.DataFrame, base: Path, colours: dict) -> list[Path]:
    """Success vs feedback used, one panel per task; bands = ±1 std over seeds."""
    tasks = sorted(df["task"].unique())
    sns.set_theme(style="whitegrid", font_scale=0.9)
    fig, axes = _axes(len(tasks))
    for ax, task in zip(axes, tasks, strict=True):
        part = df[df["task"] == task]
        learners = part[part["uses_feedback"]]
        learners = at_feedback(learners.assign(method=learners["label"]))  # DreamBooth: its final model at 32
        xmax = max(1.0, float(part["feedback_used"].max()))
        if not learners.empty:
            sns.lineplot(data=learners, x="feedback_used", y="success_rate", hue="label", errorbar="sd",
                         marker="o", markersize=4, palette=colours, ax=ax)
        for label, still in part[~part["uses_feedback"]].groupby("label"):
            fin = final_rows(still)["success_rate"]
            mean, std = float(fin.mean()), float(fin.std()) if len(fin) > 1 else 0.0
            ax.axhline(mean, ls="--", color=colours[label], label=f"{label} (no feedback)")
            ax.axhspan(mean - std, mean + std, color=colours[label], alpha=0.12, lw=0)
        ax.set(title=task, xlabel="feedback used (images judged)", ylabel="success rate", ylim=(-0.02, 1.02),
               xlim=(0, xmax))
        ax.legend(fontsize=7, loc="best")
    return _save(fig, base)


def beta_sweep_plot(df: pd.DataFrame, base: Path) -> list[Path]:
    """Success vs feedback per best-image ratio β (the paper's Figure 5), one panel per task."""
    tasks = sorted(df["task"].unique())
    sns.set_theme(style="whitegrid", font_scale=0.9)
    fig, axes = _axes(len(tasks))
    data = df.assign(beta=[f"β={b:g}" for b in df["best_ratio"]])
    order = [f"β={b:g}" for b in sorted(df["best_ratio"].unique())]
    for ax, task in zip(axes, tasks, strict=True):
        sns.lineplot(data=data[data["task"] == task], x="feedback_used", y="success_rate", hue="beta",
                     hue_order=order, errorbar="sd", marker="o", markersize=4, palette="viridis", ax=ax)
        ax.set(title=f"{task}: best image ratio", xlabel="feedback used", ylabel="success rate", ylim=(-0.02, 1.02))
    return _save(fig, base)


def metrics_plot(rows: pd.DataFrame, metrics: list[str], base: Path, colours: dict) -> list[Path]:
    """One bar panel per secondary metric: task on x, method as colour, ±1 std over seeds."""
    sns.set_theme(style="whitegrid", font_scale=0.9)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        sns.barplot(data=rows, x="task", y=metric, hue="method", errorbar="sd", palette=colours, ax=ax)
        ax.set(title=metric, xlabel="", ylabel=metric)
        ax.legend(fontsize=7)
    return _save(fig, base)


def metrics_over_feedback_plot(rows: pd.DataFrame, metrics: list[str], base: Path, colours: dict) -> list[Path]:
    """One row of panels per task, one panel per secondary metric, against feedback used (seed bands)."""
    sns.set_theme(style="whitegrid", font_scale=0.9)
    tasks = sorted(rows["task"].unique())
    fig, axes = plt.subplots(len(tasks), len(metrics), figsize=(4.6 * len(metrics), 3.2 * len(tasks)),
                             squeeze=False)
    for r, task in enumerate(tasks):
        part = rows[rows["task"] == task]
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            sns.lineplot(data=part, x="feedback_used", y=metric, hue="method", errorbar="sd", marker="o",
                         markersize=4, palette=colours, ax=ax)
            ax.set(title=f"{task}: {metric}", xlabel="feedback used", ylabel=metric)
            ax.legend(fontsize=7)
    return _save(fig, base)
