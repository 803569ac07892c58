"""`hero-bench bench`'s floor line (issue 15): the floor is the plain pipeline on as many images as the run
sampled, training batches and every evaluation (HERO's N(0, I) ones too) counted."""

from __future__ import annotations

import pytest

from hero_bench.floor import expected_images, floor_ratio, format_line

TINY = dict(task="toy-hand", budget=4, batch=2, eval_n=2, steps=3, sample_batch_size=2, ddpo={"k_steps": 2})


@pytest.mark.parametrize(("preset", "std_noise"), [("paper", True), ("d3po-style", False)])
def test_floor_counts_every_sampled_image(tmp_path, preset, std_noise):
    extra = {"hero": {"embedding_epochs": 2}} if preset == "paper" else {}
    r = floor_ratio(preset, out=tmp_path / "run", **TINY, **extra)
    # 2 epochs x 2 training images and evaluations at epochs 0, 1, 2; HERO adds N(0, I) ones at epochs 1, 2
    # once it has a noise mixture of its own (a batch with a good image)
    assert len(list((tmp_path / "run").glob("eval*/epoch_*/*.png"))) == r["images"] - 4
    assert expected_images(2, 2, 2, False) == 10 <= r["images"] <= expected_images(2, 2, 2, std_noise)
    assert expected_images(2, 2, 2, True) == 14
    assert r["floor_wall_s"] > 0 and r["run_wall_s"] > 0
    assert r["ratio_wall"] == pytest.approx(r["run_wall_s"] / r["floor_wall_s"], rel=0.1)
    assert {"sampling", "evaluation", "update", "checkpoint"} <= set(r["stages_s"])
    assert preset in format_line(r)


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="official-code"):
        floor_ratio("nope")


def test_bench_names_the_valid_presets_for_an_unknown_one():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "hero_bench.cli", "bench", "--preset", "paper,nope"], capture_output=True, text=True
    )
    assert r.returncode == 2 and "nope" in r.stderr and "official-code" in r.stderr and "Traceback" not in r.stderr
