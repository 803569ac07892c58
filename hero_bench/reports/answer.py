"""The report's first screen: per task, the methods ranked by final success with 95% intervals, HERO's
feedback-efficiency ratios, and one sentence generated from those numbers (who wins, by how much, how sure).

Intervals come from a two-level bootstrap: each draw resamples a method's seeds with replacement (seeds are
the only replication of training) and then each drawn seed's evaluation images (a binomial draw around its
success rate, so that a few evaluation images count as the uncertainty they are), widened to the t-interval
over the seeds where that is wider (`few_seeds`: with few seeds the bootstrap alone is too narrow). The
difference between two methods uses the paired interval of `reports.paired` where that pair was computed (same
seeds, and image by image where both drew the same evaluation noises), else independent draws of both; when its
interval spans 0, the sentence says "within noise".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hero_bench.metrics.curves import EfficiencyRatio
from hero_bench.metrics.lora_only import LORA_ONLY
from hero_bench.reports import few_seeds, tables
from hero_bench.reports.content import Section, Table

N_BOOT = 4000
REFERENCES = ("hero", "hero β=0.5")  # the method the sentences and ratios are about, as in the ratio tables
BASELINE = "sd-pretrained"


@dataclass(frozen=True)
class Standing:
    """One method's final success on one task: the seed mean, its interval and the bootstrap draws."""

    method: str
    mean: float
    low: float
    high: float
    n_seeds: int
    draws: np.ndarray
    values: np.ndarray
    """The per-seed final successes (for the Welch interval of an unpaired difference)."""

    def cell(self) -> str:
        # non-breaking spaces: a narrow cell wraps only between the name and its figures
        return f"{self.method} {self.mean:.2f}\u00a0[{self.low:.2f},\u00a0{self.high:.2f}]"


def standings(df: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, list[Standing]]:
    """Per task, every method label's final success with its interval, best first (ties: by name)."""
    fin = tables.final_rows(df)
    rng = np.random.default_rng(seed)
    out: dict[str, list[Standing]] = {}
    for (task, label), part in fin.groupby(["task", "label"], sort=True):
        p = part["success_rate"].to_numpy(float)
        picks = rng.integers(0, len(p), size=(n_boot, len(p)))
        if "n_eval" in part and part["n_eval"].notna().all():
            n = part["n_eval"].to_numpy(int)[picks]
            draws = (rng.binomial(n, p[picks]) / n).mean(axis=1)
        else:
            draws = p[picks].mean(axis=1)
        low, high, _ = few_seeds.widen(*(float(q) for q in np.quantile(draws, [0.025, 0.975])), p, (0.0, 1.0))
        row = Standing(str(label), float(p.mean()), float(low), float(high), len(p), draws, p)
        out.setdefault(str(task), []).append(row)
    for rows in out.values():
        rows.sort(key=lambda s: (-s.mean, s.method))
    return out


Paired = Mapping[tuple[str, str, str], tuple[float, float, int]]
"""(task, a, b) -> the paired 95% interval of a - b (both orders) and the number of seeds it pairs, from
`paired_lookup`."""


def paired_lookup(diffs: pd.DataFrame | None) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """The paired intervals of `reports.paired.paired_differences`, keyed both ways round."""
    out: dict[tuple[str, str, str], tuple[float, float, int]] = {}
    if diffs is None or diffs.empty:
        return out
    for r in diffs.itertuples(index=False):
        out[(str(r.task), str(r.a), str(r.b))] = (float(r.ci_low), float(r.ci_high), int(r.n_seeds))
        out[(str(r.task), str(r.b), str(r.a))] = (-float(r.ci_high), -float(r.ci_low), int(r.n_seeds))
    return out


def compare(a: Standing, b: Standing, paired_ci: tuple[float, float] | None = None) -> str:
    """One clause: how far `a` is above `b`, with the difference's 95% interval (the paired one when given);
    "within noise" when it spans 0. Means over different numbers of seeds are flagged: a one-seed setting against
    a three-seed mean is a weaker comparison than the interval alone shows."""
    diff = a.mean - b.mean
    if paired_ci is not None:
        (low, high), kind = paired_ci, "paired 95% CI"
    else:
        low, high = (float(q) for q in np.quantile(a.draws - b.draws, [0.025, 0.975]))
        # few seeds: at least as wide as a Welch test over the two methods' seeds
        low, high, _ = few_seeds.union(low, high, few_seeds.welch_interval(a.values, b.values, (-1.0, 1.0)))
        kind = "95% CI"
    seeds = f"; {a.n_seeds} vs {b.n_seeds} seeds" if a.n_seeds != b.n_seeds else ""
    ci = f"{kind} {low:+.2f} to {high:+.2f}{seeds}"
    if low <= 0 <= high:
        return f"{a.method} and {b.method} are within noise ({diff:+.2f}, {ci})"
    if diff >= 0:
        return f"{a.method} beats {b.method} by {diff:+.2f} ({ci})"
    return f"{a.method} is below {b.method} by {diff:+.2f} ({ci})"


def comparisons(ranked: Sequence[Standing]) -> list[tuple[Standing, Standing]]:
    """The (a, b) pairs one task's sentence states, the higher first: the reference method (HERO) against the
    best other method, and against the pretrained model when that is a third method. HERO's LoRA-only row is a
    view of HERO's own runs, not a rival: it stays in the ranking table and out of the sentence."""
    rivals = [s for s in ranked if not s.method.endswith(LORA_ONLY)]
    if len(rivals) < 2:
        return []
    by_name = {s.method: s for s in rivals}
    ref = next((by_name[m] for m in REFERENCES if m in by_name), rivals[0])
    best_other = next(s for s in rivals if s is not ref)
    pairs = [(ref, best_other) if ref.mean >= best_other.mean else (best_other, ref)]
    base = by_name.get(BASELINE)
    if base is not None and base is not ref and base is not best_other:
        pairs.append((ref, base))
    return pairs


def sentence_pairs(ranked: dict[str, list[Standing]]) -> list[tuple[str, str]]:
    """Every (a, b) the answer's sentences compare, on any task: `paired_differences` must compute them, or a
    sentence falls back to an unpaired interval (wider, and not what a reviewer asks for)."""
    found = [(a.method, b.method) for rs in ranked.values() for a, b in comparisons(rs)]
    return list(dict.fromkeys(found))


def sentence(task: str, ranked: Sequence[Standing], paired: Paired | None = None) -> str:
    """Who wins on `task`, by how much and how sure (`comparisons`), with paired intervals where given."""
    pairs = comparisons(ranked)
    if not pairs:
        only = next(s for s in ranked if not s.method.endswith(LORA_ONLY))
        return f"**{task}**: only {only.method} was run ({only.mean:.2f})."
    paired = paired or {}

    def clause(a: Standing, b: Standing) -> str:
        """With the paired interval only where it pairs every seed of both: over a subset of seeds (a one-seed
        setting beside a five-seed method) it would not be the interval of the difference the clause states."""
        low, high, n_seeds = paired.get((task, a.method, b.method), (0.0, 0.0, -1))
        return compare(a, b, (low, high) if n_seeds == a.n_seeds == b.n_seeds else None)

    return f"**{task}**: " + "; ".join(clause(a, b) for a, b in pairs) + "."


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _ratio(r: EfficiencyRatio) -> str:
    """'2.0x [1.0, 4.0]', or why there is no ratio, in a few words."""
    if not np.isnan(r.ratio):
        mark = {"at least": "\u2265", "at most": "\u2264"}.get(r.bound, "")
        tail = " (unresolved)" if r.bound == "unresolved" else ""
        return f"{mark}{r.ratio:.1f}x\u00a0[{r.ci_low:.1f},\u00a0{r.ci_high:.1f}]{tail}"
    if r.undefined_because:
        return "none (no gain)"
    missed = [m for m, f in ((r.method_a, r.feedback_a), (r.method_b, r.feedback_b)) if np.isnan(f)]
    return "none (not reached)" if missed else "none (no feedback needed)"


def budget_phrase(r: EfficiencyRatio) -> str:
    """`efficiency_at_budget`'s result in words: the ratio with its interval, or why there is none."""
    if not np.isnan(r.ratio):
        how = "at least " if r.a_at_first_point else ""
        first = ", its first evaluation after feedback" if r.a_at_first_point else ""
        return (f"{how}{r.ratio:.1f}x [{r.ci_low:.1f}, {r.ci_high:.1f}] ({r.method_a} reaches {r.target:.0%} after "
                f"{r.feedback_a:.0f}{first}; {r.n_boot_valid}/{r.n_boot} bootstrap draws reached)")
    if r.undefined_because:
        return f"no ratio ({r.undefined_because})"
    if np.isnan(r.feedback_a):
        return f"no ratio ({r.method_a} never reaches {r.target:.0%})"
    return f"no ratio ({r.method_a} starts at {r.target:.0%} or above)"


def _ratio_cell(
    task: str,
    at_final: Sequence[EfficiencyRatio],
    to_target: Sequence[EfficiencyRatio],
    at_budget: Sequence[EfficiencyRatio] = (),
) -> str:
    """One line per comparator B, two ratios: with `at_budget`, B's whole budget (the paper's arithmetic) then
    B's first touch of its final success; without it, B's first touch then the fixed target. Two ratios a line
    keep every task's row on the first screen; the rest is in the efficiency section. HERO's LoRA-only row is
    left there too: it is HERO's own runs, not another method."""
    def by_b(rs: Sequence[EfficiencyRatio]) -> dict[str, EfficiencyRatio]:
        return {r.method_b: r for r in rs if r.task == task and not r.method_b.endswith(LORA_ONLY)}

    columns = [by_b(rs) for rs in ((at_budget, at_final) if at_budget else (at_final, to_target))]
    lines = []
    for b in sorted(set().union(*columns)):
        parts = [_ratio(c[b]) if b in c else "—" for c in columns]
        lines.append(f"{b}: {' · '.join(parts)}")
    return "\n".join(lines) or "—"


def answer_section(
    ranked: dict[str, list[Standing]],
    at_final: Sequence[EfficiencyRatio],
    to_target: Sequence[EfficiencyRatio],
    target: float,
    paired: pd.DataFrame | None = None,
    at_budget: Sequence[EfficiencyRatio] = (),
) -> Section:
    """The first section: one sentence per task, then a ranking table (one row per task) with the ratios."""
    width = max(len(r) for r in ranked.values())
    rows = []
    for task, rs in ranked.items():
        row = {"task": task, **{_ordinal(i + 1): (rs[i].cell() if i < len(rs) else "") for i in range(width)}}
        if at_final or to_target:
            head = "B's final success: B's whole budget · B's first touch" if at_budget else (
                f"at B's final success · at {target:.0%}")
            row[f"HERO's feedback efficiency vs B, {head}"] = _ratio_cell(
                task, at_final, to_target, at_budget
            )
        rows.append(row)
    seeds = sorted({s.n_seeds for rs in ranked.values() for s in rs})
    over = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    sec = Section("answer", "The answer")
    sec.tables.append(
        Table(
            "answer-table",
            pd.DataFrame(rows).set_index("task"),
            f"Methods ranked by final success (mean over {over} seeds) [95% interval: bootstrap over seeds and "
            "evaluation images, widened to the t-interval over seeds where that is wider]"
            + ("; ratios: how many times less feedback HERO needs than method B [95% bootstrap interval over seeds, "
               "paired where both ran the same seeds, its percentiles expanded for few seeds]"
               if at_final or to_target else "")
            + (". \u2265: HERO reached that success at its first evaluation after feedback, so it may need less and "
               "the ratio is a floor set by how often runs were evaluated; \u2264: B did (a ceiling); unresolved: "
               "both did" if any(r.bound for r in (*at_final, *to_target, *at_budget)) else ""),
            "tables/ranking.csv",
        )
    )
    lookup = paired_lookup(paired)
    sec.bullets.extend(sentence(task, rs, lookup) for task, rs in ranked.items())
    if seeds[0] == 2:
        sec.bullets.append(
            "Two seeds: the t-interval over two seeds (Student's t with one degree of freedom, 12.7 standard "
            "errors) covers nearly every value, so no difference can separate from noise here; three seeds are the "
            "least that can, five make a claim."
        )
    return sec


def ranking_long(ranked: dict[str, list[Standing]]) -> pd.DataFrame:
    """The ranking as CSV rows: task, rank, method, mean, low, high, seeds."""
    return pd.DataFrame(
        [
            {
                "task": task,
                "rank": i + 1,
                "method": s.method,
                "final_success_mean": s.mean,
                "ci_low": s.low,
                "ci_high": s.high,
                "n_seeds": s.n_seeds,
            }
            for task, rs in ranked.items()
            for i, s in enumerate(rs)
        ]
    )
