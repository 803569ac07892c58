"""The feedback-efficiency regression check: comparison logic on hand-made curves (fast), and, marked
`regress` (run by .ci/run), the CI-sized run against the committed reference: it passes, it is
deterministic, and each deliberately broken learner (`hero_bench.regress_faults`) makes it fail."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pandas as pd
import pytest

from hero_bench import regress
from hero_bench.metrics.lora_only import lora_only_label
from hero_bench.regress import RegressSettings, compare, measure_tolerances
from hero_bench.regress_faults import FAULTS, inject
from hero_bench.regress_files import load_reference_machine
from hero_bench.run_environment import cpu_record, machine_note

SETTINGS = RegressSettings()  # the CI-sized run
HAND = RegressSettings(budget=64)  # the hand-made curves: 4 epochs of 16


def _curves(hero: list[float], pretrained: float = 0.47, seed: int = 0) -> pd.DataFrame:
    rows = [
        dict(task="toy-mountain", method="hero", seed=seed, epoch=i, feedback_used=16 * i, success_rate=s)
        for i, s in enumerate(hero)
    ]
    rows.append(
        dict(task="toy-mountain", method="sd-pretrained", seed=seed, epoch=0, feedback_used=0, success_rate=pretrained)
    )
    return pd.DataFrame(rows)


REF = _curves([0.47, 0.80, 0.90, 0.88, 0.90])
TOL = {
    "settings": regress._settings_json(HAND),
    "tolerances": {
        "toy-mountain/hero": {"auc_tolerance": 0.1, "feedback_to_target_tolerance": 16},
        "toy-mountain/sd-pretrained": {"auc_tolerance": 0.2, "feedback_to_target_tolerance": 16},
    },
}


def test_identical_and_within_tolerance_curves_pass():
    assert compare(REF, REF, TOL, HAND).ok
    wobble = _curves([0.47, 0.75, 0.84, 0.90, 0.86], pretrained=0.40)
    result = compare(wobble, REF, TOL, HAND)
    assert result.ok, result.report()
    assert result.report().startswith("feedback-efficiency regression check: PASS")


def test_a_drop_fails_with_a_readable_diff():
    late = _curves([0.47, 0.50, 0.62, 0.78, 0.85])  # reaches 0.75 two epochs later, lower area
    result = compare(late, REF, TOL, HAND)
    assert not result.ok
    text = result.report()
    assert "FAIL toy-mountain / hero: AUC" in text and "dropped" in text
    assert "FAIL toy-mountain / hero: feedback to 0.75 16 -> 48" in text and "needs 32 more" in text
    assert "ok   toy-mountain / sd-pretrained: AUC" in text
    # the curves side by side, point by point
    assert "      16      0.800    0.500   -0.300" in text
    assert "sd-pretrained: success rate" not in text  # only failing curves are listed


def test_never_reaching_the_target_fails():
    flat = _curves([0.47, 0.70, 0.72, 0.74, 0.70])
    text = compare(flat, REF, TOL, HAND).report()
    assert "feedback to 0.75 16 -> never" in text and "target never reached within 64 feedback" in text


def test_an_improvement_passes_and_is_pointed_out():
    better = _curves([0.47, 0.95, 1.0, 1.0, 1.0], pretrained=0.47)
    result = compare(better, REF, TOL, HAND)
    assert result.ok
    assert "improved" in result.report() and "--update" in result.report()


def test_other_settings_or_points_cannot_be_compared():
    other = dataclasses.replace(HAND, budget=32)
    assert "re-measure" in compare(REF, REF, TOL, other).report()
    shorter = REF[REF.feedback_used <= 48]
    result = compare(shorter, REF, TOL, HAND)
    assert not result.ok and "different points" in result.report()


def test_tolerances_follow_the_rule_from_seed_spread():
    curves = pd.concat(
        [
            _curves([0.47, 0.80, 0.90, 0.88, 0.90], seed=0),
            _curves([0.40, 0.70, 0.80, 0.90, 0.90], 0.40, seed=1),
            _curves([0.50, 0.60, 0.70, 0.80, 0.85], 0.50, seed=2),
        ]
    )
    out = measure_tolerances(curves, HAND)
    hero = out["tolerances"]["toy-mountain/hero"]
    aucs = regress.per_seed_metrics(curves, 64, 0.75).query("method == 'hero'").auc
    assert hero["auc_std"] == pytest.approx(aucs.std(ddof=1), abs=1e-4)
    scale = 2 * 2**0.5  # k = 2, one check seed: k * sqrt(2 / 1)
    assert hero["auc_tolerance"] == pytest.approx(max(scale * aucs.std(ddof=1), 0.03), abs=1e-4)
    assert hero["feedback_to_target_per_seed"] == [16.0, 32.0, 48.0]
    assert hero["feedback_to_target_tolerance"] == pytest.approx(scale * 16.0, abs=0.1)  # std of 16, 32, 48
    flat = out["tolerances"]["toy-mountain/sd-pretrained"]
    assert flat["seeds_reaching_target"] == 0 and flat["feedback_to_target_tolerance"] == 16  # the floor


def _with_lora_change(curves: pd.DataFrame, per_epoch: float) -> pd.DataFrame:
    """HERO's LoRA moving `per_epoch` further from its initial weights every epoch (as the trainer logs it)."""
    hero = curves.method == "hero"
    return curves.assign(lora_delta_norm=(curves.epoch * per_epoch).where(hero & (curves.epoch > 0)))


def test_a_lora_that_stopped_moving_fails():
    """A DDPO update that does nothing hides in seed noise on small latents; the LoRA's movement does not."""
    ref = _with_lora_change(REF, 0.1)
    tol = {"settings": TOL["settings"], "tolerances": {k: dict(v) for k, v in TOL["tolerances"].items()}}
    tol["tolerances"]["toy-mountain/hero"]["lora_change_tolerance"] = 0.05
    assert compare(_with_lora_change(REF, 0.095), ref, tol, HAND).ok
    frozen = compare(_with_lora_change(REF, 0.0), ref, tol, HAND)
    assert not frozen.ok
    assert "FAIL toy-mountain / hero: LoRA change 0.400 -> 0.000" in frozen.report()
    assert "the LoRA never changed" in frozen.report()
    # the tolerance comes from the seed spread, like the AUC's
    spread = pd.concat([_with_lora_change(REF.assign(seed=s), 0.1 + 0.01 * s) for s in range(3)])
    hero = measure_tolerances(spread, HAND)["tolerances"]["toy-mountain/hero"]
    assert hero["lora_change_per_seed"] == [0.4, 0.44, 0.48]
    assert hero["lora_change_tolerance"] == pytest.approx(2 * 2**0.5 * 0.04, abs=1e-4)
    assert "lora_change_tolerance" not in measure_tolerances(spread, HAND)["tolerances"]["toy-mountain/sd-pretrained"]


def test_reference_round_trip(tmp_path):
    path = tmp_path / "ref.csv"
    regress.write_reference(REF, HAND, path)
    assert path.read_text().startswith("# hero-bench regress reference")
    pd.testing.assert_frame_equal(regress.load_reference(path), REF.reindex(columns=regress.CURVE_COLUMNS))
    assert load_reference_machine(path) == cpu_record() and cpu_record()["cpu_capability"]


def test_the_check_says_when_the_reference_was_made_on_another_kind_of_cpu():
    here = {"device_name": "AMD EPYC", "cpu_capability": "AVX512"}
    assert machine_note(dict(here), here, failed=True) == ""  # the same kind: a difference is the code's
    other = machine_note({"device_name": "Intel Xeon", "cpu_capability": "AVX2"}, here, failed=False)
    assert "Intel Xeon, AVX2" in other and "AMD EPYC, AVX512" in other and "fresh draw" in other
    assert machine_note(None, here, failed=False) == ""  # an old reference: said only when the check fails
    assert "does not record the CPU" in machine_note(None, here, failed=True)
    result = dataclasses.replace(compare(REF, REF, TOL, HAND), machine=other)
    assert f"  machine: {other}" in result.report().splitlines()


def test_changed_run_settings_are_named(tmp_path):
    path = tmp_path / "ref.csv"
    regress.write_reference(REF, HAND, path)
    old = regress.load_reference_configs(path)
    assert set(old) == {"toy-mountain/hero", "toy-mountain/sd-pretrained"}
    old["toy-mountain/hero"]["hero"]["embedding_epochs"] = 500
    text = compare(REF, REF, TOL, HAND, old).report()
    assert "run settings changed since the reference: toy-mountain/hero hero.embedding_epochs: 500 -> 50" in text


def test_committed_reference_matches_the_settings():
    ref, tol = regress.load_reference(), regress.load_tolerances()
    assert tol["settings"] == regress._settings_json(SETTINGS)
    # HERO's LoRA alone (its model on N(0, I) noises) is checked as a method of its own
    assert set(ref.method) == {*SETTINGS.methods, lora_only_label("hero")} and set(ref.task) == set(SETTINGS.tasks)
    tol = tol["tolerances"]
    assert {f"{t}/{m}" for t in SETTINGS.tasks for m in ref.method.unique()} == set(tol)
    assert ref.feedback_used.max() == SETTINGS.budget


def test_cli_spread_needs_update():
    r = subprocess.run(
        [sys.executable, "-m", "hero_bench.cli", "regress", "--spread-seeds", "3"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "needs --update" in r.stderr


def test_cli_unknown_fault_is_a_one_line_error():
    r = subprocess.run(
        [sys.executable, "-m", "hero_bench.cli", "regress", "--fault", "typo"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "valid faults: inverted-verdicts" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_faults_break_the_real_pieces_and_restore_them(tiny_pipe):
    """Each fault swaps one real piece of HERO while active and puts it back after (fast; the CI-sized runs
    under each fault are the `regress` tests below)."""
    import torch

    from hero_bench.ddpo import DDPOTrainer
    from hero_bench.hero import method
    from hero_bench.hero.method import Hero

    before = (Hero.update, method.compute_rewards, DDPOTrainer.update)
    with inject("skipped-update"):
        assert DDPOTrainer.update is not before[2]
    with inject("shuffled-rewards"):
        good = torch.tensor([True, False, True, False])
        z = torch.arange(4.0)[:, None, None, None].expand(4, 4, 2, 2).contiguous() + 1
        rewards = method.compute_rewards("binary", None, z, good, 0)
        assert sorted(rewards.tolist()) == [0.0, 0.0, 1.0, 1.0]  # the same rewards ...
        draws = [method.compute_rewards("binary", None, z, good, 0).tolist() for _ in range(8)]
        assert any(d != good.float().tolist() for d in draws)  # ... on other images
    with inject("inverted-verdicts"):
        assert Hero.update is not before[0]
    assert (Hero.update, method.compute_rewards, DDPOTrainer.update) == before
    assert set(FAULTS) == {"inverted-verdicts", "shuffled-rewards", "skipped-update"}


# ------------------------------------------------------------------------- the CI-sized run (marker regress)
@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    return regress.run_curves(SETTINGS)


def _against_reference(curves: pd.DataFrame) -> regress.Comparison:
    """The check on the curves that were run (all of the reference's, or all but HERO's LoRA-only one)."""
    reference = regress.load_reference()
    reference = reference[reference.method.isin(set(curves.method))]
    return compare(curves, reference, regress.load_tolerances(), SETTINGS, regress.load_reference_configs())


@pytest.mark.regress
def test_the_ci_run_matches_the_committed_reference(current):
    result = _against_reference(current)
    assert result.ok, result.report()


@pytest.mark.regress
def test_same_seed_gives_the_same_numbers(tmp_path):
    """The check's premise, on a shorter run of the same code path (HERO's LoRA-only curve included). The
    first run, in a temporary folder, writes no checkpoint; the second, in a kept one, writes one every epoch."""
    short = dataclasses.replace(SETTINGS, budget=16, batch=8, methods=("hero",), steps=10, eval_n=8)  # 2 epochs
    first = regress.run_curves(short)
    assert lora_only_label("hero") in set(first.method)
    pd.testing.assert_frame_equal(regress.run_curves(short, root=tmp_path), first)
    assert "time_checkpoint_s" in pd.read_csv(next(tmp_path.rglob("hero/seed0/results.csv"))).columns
    # the fault tests below skip the LoRA-only evaluation: it must leave HERO's own curve as it was
    without = regress.run_curves(short, lora_only=False)
    assert lora_only_label("hero") not in set(without.method)
    pd.testing.assert_frame_equal(without, first[first.method == "hero"].reset_index(drop=True))


# Each fault is its own test; no number is hard-coded: the reference and its tolerances are whatever
# `hero-bench regress --update` measured on the current toy model. A fault caught on HERO's own curve or its
# LoRA change is run without the LoRA-only evaluation (about a third of the run's time), which neither needs.
def _fails_on(fault: str, method: str, metric: str) -> None:
    lora_only = method == lora_only_label("hero")
    result = _against_reference(regress.run_curves(SETTINGS, fault=fault, lora_only=lora_only))
    assert not result.ok, f"the check missed the fault {fault!r}:\n{result.report()}"
    assert not result.problems, result.report()  # failed on a metric, not because the curves did not match up
    finding = next(f for f in result.findings if f.method == method and f.metric == metric)
    assert not finding.ok, result.report()
    assert all(f.ok for f in result.findings if f.method == "sd-pretrained")  # the baseline is untouched
    assert f"FAIL toy-mountain / {method}: {metric}" in result.report()


@pytest.mark.regress
def test_inverted_verdicts_fail_the_check():
    """A sign error at the source: both of HERO's learning paths (DDPO reward, noise anchors) go wrong."""
    _fails_on("inverted-verdicts", "hero", "AUC")


@pytest.mark.regress
def test_a_skipped_ddpo_update_fails_the_check():
    """The noise mixture still works, so every success curve stays within seed noise at CI size; the LoRA's
    movement from its initial weights does not."""
    _fails_on("skipped-update", "hero", "LoRA change")


@pytest.mark.regress
@pytest.mark.slow  # a CI-sized run for an expected failure: not in CI's default selection
@pytest.mark.xfail(
    strict=True,
    reason="not caught at CI size: HERO's LoRA alone barely changes the verdicts within 128 feedback, so "
    "rewards without information look like healthy ones (docs/regress.md says what size would catch it)",
)
def test_shuffled_rewards_fail_the_check():
    """Rewards permuted within the batch carry no information; only HERO's LoRA-only curve could show it."""
    _fails_on("shuffled-rewards", lora_only_label("hero"), "AUC")


def test_findings_hold_plain_values_so_regress_json_prints():
    """`hero-bench regress --json` printed a traceback: a finding's verdict was a numpy bool."""
    import json

    import numpy as np

    f = regress.Finding("t", "hero", "AUC", np.float64(0.9), np.float64(0.5), np.float64(0.1), np.float64(0.4) <= 0.1)
    assert json.loads(json.dumps(vars(f)))["ok"] is False
