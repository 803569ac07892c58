"""The GPU check's figures as Markdown tables: readable in a terminal and pasteable into the README."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _key(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda part: part.get(name)


def _stage(name: str) -> Column:
    return f"{name} s", lambda part: part["seconds"].get(name)


FLOOR: list[Column] = [
    ("pipe(...) s", _key("pipeline_s")),
    ("our sampler s", _key("sampler_s")),
    ("sampler / pipeline", _key("ratio")),
    ("pipe peak GiB", _key("pipeline_peak_gib")),
    ("sampler peak GiB", _key("sampler_peak_gib")),
]
HERO: list[Column] = [
    *(_stage(s) for s in ("sample", "decode", "embedding_fit", "ddpo_update", "rewards_and_noise")),
    *(_stage(s) for s in ("evaluate", "checkpoint")),
    ("train epoch s", _key("train_epoch_s")),
    ("epoch / pipeline", _key("train_epoch_over_pipeline")),
    ("peak GiB", _key("peak_gib_max")),
    ("transitions/pass", _key("max_transitions_per_pass")),
    ("ckpt MB", _key("checkpoint_mb")),
]
D3PO: list[Column] = [
    *(_stage(s) for s in ("sample", "decode", "reference", "update", "evaluate", "checkpoint")),
    ("pairs trained / all", lambda part: f"{part['pairs_trained']} / {part['pairs_in_full_epoch']}"),
    ("s per pair", _key("seconds_per_pair")),
    ("full epoch s (est.)", _key("full_train_epoch_s_estimate")),
    ("peak GiB", _key("peak_gib_max")),
    ("transitions/pass", _key("max_transitions_per_pass")),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with padded columns."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _errors(runs: list[dict], part: str) -> list[str]:
    return [f"{r['dtype']} {part}: {r[part]['error']}" for r in runs if "error" in r.get(part, {})]


def _part_table(runs: list[dict[str, Any]], part: str, columns: list[Column]) -> str:
    """One row per dtype whose `part` ran without an error."""
    rows = [[r["dtype"], *(get(r[part]) for _, get in columns)] for r in runs if "error" not in r.get(part, {})]
    return markdown_table(["dtype", *(name for name, _ in columns)], rows)


def format_report(result: dict[str, Any]) -> str:
    """Title, the sampling floor, HERO's and d3po-style's stages per dtype, and any part that failed."""
    size, runs, m = result["size"], result["runs"], result["machine"]
    where = m.get("gpu") or f"CPU ({m['cpu_cores']} cores, {m['torch_threads']} torch threads)"
    title = (
        f"GPU check ({result['mode']}) on {where}, torch {m['torch']}: {size['arch']} with random weights, "
        f"{size['images']} images x {size['steps']} DDIM steps, CFG 5, K={size['k_steps']}; "
        f"memory limit {result['memory_limit_gib']} GiB"
    )
    parts = [
        title,
        "",
        "Sampling floor (same noises, prompts, steps, CFG, eta, batch):",
        _part_table(runs, "sampler", FLOOR),
        "",
        "One HERO epoch (train epoch = sample + decode + update; update = embedding fit + DDPO + rewards):",
        _part_table(runs, "hero", HERO),
        "",
        "One d3po-style epoch (trained pairs capped; the full epoch extrapolated per pair):",
        _part_table(runs, "d3po", D3PO),
    ]
    errors = _errors(runs, "sampler") + _errors(runs, "hero") + _errors(runs, "d3po")
    if errors:
        parts += ["", "Failed parts:", *errors]
    return "\n".join(parts)
