"""HeroConfig: paper defaults, presets and the error messages users see for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hero_bench.errors import UnknownNameError
from hero_bench.hero.config import PRESETS, HeroConfig, preset

DOC = Path(__file__).resolve().parents[1] / "docs" / "paper-vs-code.md"


def test_defaults_are_the_papers_table_7() -> None:
    cfg = HeroConfig()
    assert cfg.embedding_lr == 1e-5
    assert cfg.embedding_betas == (0.9, 0.999)
    assert cfg.embedding_weight_decay == 0.0
    assert cfg.embedding_batch_size == 2048
    assert cfg.triplet_margin == 0.5
    assert cfg.best_ratio == 0.5
    assert cfg.noise_variance == 0.1
    assert cfg.sd_learning_rate == 3e-4
    assert (cfg.reward_design, cfg.noise, cfg.feature_source) == ("best", "hero", "z0")
    assert (cfg.noise_mixing, cfg.triplet_distance) == ("gaussian", "cosine")
    # not Table 7's literal raw cosine: centred advantages, as DDPO and the release (docs/paper-vs-code.md)
    assert cfg.reward_transform == "standardised"
    assert (cfg.embedding_training, cfg.k_selection) == ("online", "last")


def test_paper_preset_is_the_defaults() -> None:
    assert preset("paper") == HeroConfig().model_dump()


def test_official_code_preset_switches_every_documented_difference() -> None:
    paper, code = preset("paper"), preset("official-code")
    changed = {k for k in paper if paper[k] != code[k]}
    assert changed == set(PRESETS["official-code"])
    assert code["feature_source"] == "x1"
    assert code["noise_mixing"] == "slerp-like"
    assert code["reward_transform"] == "official"
    assert code["triplet_distance"] == "official"
    assert code["embedding_training"] == "official"
    assert code["k_selection"] == "random"
    assert code["sd_learning_rate"] == 1e-3


def test_every_preset_difference_is_in_the_paper_vs_code_table() -> None:
    text = DOC.read_text()
    for field in PRESETS["official-code"]:
        assert f"`{field}`" in text, f"docs/paper-vs-code.md does not mention {field}"


def test_from_preset_with_override() -> None:
    cfg = HeroConfig.from_preset("official-code", best_ratio=1.0)
    assert cfg.best_ratio == 1.0 and cfg.noise_mixing == "slerp-like"


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as err:
        preset("offical")
    assert "paper" in str(err.value) and "official-code" in str(err.value)


@pytest.mark.parametrize("beta", [-0.1, 1.5, float("nan")])
def test_beta_outside_unit_interval_is_rejected(beta: float) -> None:
    with pytest.raises(ValidationError) as err:
        HeroConfig(best_ratio=beta)
    assert "best_ratio" in str(err.value) and "[0, 1]" in str(err.value)


@pytest.mark.parametrize("var", [0.0, -0.1])
def test_non_positive_noise_variance_is_rejected(var: float) -> None:
    with pytest.raises(ValidationError) as err:
        HeroConfig(noise_variance=var)
    assert "noise_variance" in str(err.value) and "> 0" in str(err.value)


def test_slerp_like_needs_variance_below_one() -> None:
    with pytest.raises(ValidationError, match="noise_variance must be < 1"):
        HeroConfig(noise_mixing="slerp-like", noise_variance=1.0)


def test_unknown_choice_lists_allowed_values() -> None:
    with pytest.raises(ValidationError) as err:
        HeroConfig(reward_design="nearest")  # type: ignore[arg-type]
    msg = str(err.value)
    assert "reward_design" in msg and "'positives'" in msg and "'noembed'" in msg


def test_unknown_field_lists_valid_fields() -> None:
    with pytest.raises(ValidationError) as err:
        HeroConfig(beta=0.3)  # type: ignore[call-arg]
    assert "beta" in str(err.value) and "best_ratio" in str(err.value)


def test_non_positive_learning_rate_is_rejected() -> None:
    with pytest.raises(ValidationError, match="embedding_lr"):
        HeroConfig(embedding_lr=0.0)
