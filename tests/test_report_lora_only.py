"""The report shows HERO twice (with its learned noise, and its LoRA alone on N(0, I) noises) and says when a
DDPO learner cannot learn (training diagnostics from results.csv)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hero_bench.metrics.lora_only import lora_only_label
from hero_bench.metrics.suite import MetricSuite
from hero_bench.reports import build_report
from hero_bench.reports.fixtures import write_run
from hero_bench.reports.runs import load_runs

LORA = lora_only_label("hero")
TASK = "toy-mountain"


def _stats(clipfrac: float, adv_mean: float, adv_std: float, moves: bool):
    """DDPO statistics per epoch as the trainer logs them (stat_ columns)."""
    keys = ("clipfrac", "approx_kl", "adv_mean", "adv_std", "lora_norm")
    return lambda epoch: {
        **dict(zip(keys, (clipfrac, 1e-6, adv_mean, adv_std, 2.0), strict=True)),
        "lora_delta_norm": 0.1 * epoch if moves else 0.0,
    }


_healthy = _stats(0.1, 0.0, 1.0, moves=True)
_stuck = _stats(0.8, 0.8, 0.05, moves=False)  # most clipped, a raw-cosine-like common weight, a frozen LoRA


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        write_run(
            root,
            TASK,
            "hero",
            seed,
            lambda e: 0.4 + 0.15 * e,
            epochs=3,
            n_eval=16,
            std_noise=lambda e: 0.4,
            stats=_healthy,
        )
        write_run(root, TASK, "sd-pretrained", seed, lambda e: 0.4, uses_feedback=False, epochs=0, n_eval=16)
    return root


def test_hero_also_appears_as_its_lora_alone(root, tmp_path):
    rs = load_runs([root])
    lora = [r for r in rs.runs if r.lora_only]
    assert len(lora) == 2 and all(r.key[1] == LORA for r in lora)
    # its evaluation images are the N(0, I) ones where those exist, the shared batch at epoch 0
    folders = [p.parent.name + "/" + p.name for p in lora[0].eval_epochs()]
    assert folders == [
        "eval/epoch_000",
        "eval_std_noise/epoch_001",
        "eval_std_noise/epoch_002",
        "eval_std_noise/epoch_003",
    ]

    build_report([root], tmp_path / "r", "md", suite=MetricSuite())
    summary = pd.read_csv(tmp_path / "r" / "tables" / "summary.csv").set_index("method")
    raw = pd.concat(pd.read_csv(p) for p in root.rglob("hero/seed*/results.csv"))
    final = raw[raw.epoch == 3]
    assert summary.loc["hero", "success_mean"] == pytest.approx(final.success_rate.mean())
    assert summary.loc[LORA, "success_mean"] == pytest.approx(final.success_rate_std_noise.mean())
    assert summary.loc[LORA, "success_mean"] != summary.loc["hero", "success_mean"]
    curves = pd.read_csv(tmp_path / "r" / "tables" / "curves.csv")
    assert {"hero", LORA, "sd-pretrained"} <= set(curves.method)
    text = (tmp_path / "r" / "report.md").read_text()
    assert f"| {LORA} |" in text
    # the sample grid of the LoRA-only row shows the N(0, I) images, judged as logged
    verdicts = json.loads(
        (root / TASK / "hero" / "seed0" / "eval_std_noise" / "epoch_003" / "verdicts.json").read_text()
    )
    assert sum(verdicts["good"]) / len(verdicts["good"]) == pytest.approx(
        final[final.seed == 0].success_rate_std_noise.iloc[0]
    )


def test_diagnostics_say_when_the_lora_cannot_learn(root, tmp_path):
    build_report([root], tmp_path / "ok", "md", suite=MetricSuite())
    text = (tmp_path / "ok" / "report.md").read_text()
    assert "DDPO diagnostics" in text and "No symptom" in text
    assert (tmp_path / "ok" / "plots" / "training_diagnostics.png").exists()
    diag = pd.read_csv(tmp_path / "ok" / "tables" / "training_diagnostics.csv").set_index("method")
    assert diag.loc["hero", "clipfrac"] == pytest.approx(0.1) and diag.loc["hero", "lora_delta_norm"] == pytest.approx(
        0.3
    )
    assert LORA not in diag.index  # the pseudo-run repeats HERO's statistics; they are listed once

    stuck = tmp_path / "stuck"
    write_run(stuck, TASK, "hero", 0, lambda e: 0.4, epochs=2, std_noise=lambda e: 0.4, stats=_stuck)
    build_report([stuck], tmp_path / "bad", "md", suite=MetricSuite())
    text = (tmp_path / "bad" / "report.md").read_text()
    assert "the LoRA weights never changed" in text
    assert "80% of transitions clipped" in text
    assert "mostly a common weight" in text


@pytest.mark.parametrize(("kl_dispreferred", "said"), [(2e-2, True), (1.2e-3, False)])
def test_diagnostics_say_when_d3po_style_moved_mostly_on_the_dispreferred_images(tmp_path, kl_dispreferred, said):
    """Its stat_accuracy then reads where the policy moved (docs/baselines.md); the report says so."""
    stats = lambda e: {"clipfrac": 0.02, "lora_norm": 2.0, "lora_delta_norm": 0.1 * e,  # noqa: E731
                       "kl_preferred": 1e-3, "kl_dispreferred": kl_dispreferred}
    write_run(tmp_path / "runs", TASK, "d3po-style", 0, lambda e: 0.4, epochs=2, stats=stats)
    build_report([tmp_path / "runs"], tmp_path / "r", "md", suite=MetricSuite())
    diag = pd.read_csv(tmp_path / "r" / "tables" / "training_diagnostics.csv").set_index("method")
    assert diag.loc["d3po-style", "kl_dispreferred"] == pytest.approx(kl_dispreferred)
    text = (tmp_path / "r" / "report.md").read_text()
    assert ("moved 20x further from the reference on the dispreferred" in text) == said


def test_runs_without_ddpo_statistics_get_no_diagnostics(tmp_path):
    write_run(tmp_path / "runs", TASK, "sd-pretrained", 0, lambda e: 0.4, uses_feedback=False, epochs=0)
    build_report([tmp_path / "runs"], tmp_path / "r", "md", suite=MetricSuite())
    assert "DDPO diagnostics" not in (tmp_path / "r" / "report.md").read_text()
