"""Metrics: success interval, in-batch diversity, CLIP/BLIP alignment, ImageReward loading, the suite.

Models are tiny random-weight transformers models built from configs and saved to folders, so each test
exercises the real loading and scoring code paths offline in well under a second or two.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hero_bench.metrics.alignment import BlipItmScorer, ClipEmbedder, toy_pixels
from hero_bench.metrics.availability import MetricUnavailable
from hero_bench.metrics.diversity import grouped_diversity, in_batch_diversity
from hero_bench.metrics.imagereward import PARITY, load_imagereward, map_reference_keys
from hero_bench.metrics.success import success_rate
from hero_bench.metrics.suite import MetricSuite
from hero_bench.metrics.tiny import BERT_VOCAB, tiny_blip_itm_folder, tiny_clip_folder


def _images(n: int, seed: int = 0, size: int = 64) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


# ------------------------------------------------------------------------------------------------ success


def test_success_rate_and_wilson_interval():
    s = success_rate([True, False, True, True])
    assert (s.successes, s.n, s.rate) == (3, 4, 0.75)
    assert 0.0 < s.ci_low < 0.75 < s.ci_high < 1.0
    assert success_rate([False] * 10).ci_low == 0.0 and success_rate([False] * 10).ci_high > 0.0
    assert math.isnan(success_rate([]).rate)


# ---------------------------------------------------------------------------------------------- diversity


def test_diversity_of_identical_embeddings_is_zero_and_orthogonal_is_one():
    same = torch.tensor([[1.0, 2.0, 3.0]] * 5)
    assert in_batch_diversity(same) == pytest.approx(0.0, abs=1e-12)
    assert in_batch_diversity(np.eye(4)) == pytest.approx(1.0)
    # scale does not matter (cosine), and the mean is over distinct pairs only
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert in_batch_diversity(e) == pytest.approx(1 - (0 + 1 + 0) / 3)


def test_diversity_rejects_undefined_inputs():
    with pytest.raises(ValueError, match="at least two"):
        in_batch_diversity(torch.ones(1, 3))
    with pytest.raises(ValueError, match="all-zero"):
        in_batch_diversity(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))


def test_grouped_diversity_ignores_differences_between_prompts():
    # within each prompt the embeddings are identical, across prompts orthogonal: no in-batch diversity
    e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert grouped_diversity(e, ["a", "a", "b", "b"]) == pytest.approx(0.0)
    assert in_batch_diversity(e) > 0.5


# ----------------------------------------------------------------------------------------- CLIP and BLIP


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    return tiny_clip_folder(tmp_path_factory.mktemp("toy_clip"))


def test_toy_pixels_use_the_toy_training_normalisation():
    img = Image.fromarray(np.array([[[0, 255, 127]]], dtype=np.uint8)).resize((4, 4), Image.NEAREST)
    pix = toy_pixels([img], 4)
    assert pix.shape == (1, 3, 4, 4)
    assert pix[0, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 127 / 127.5 - 1])


def test_clip_embedder_loads_a_toy_clip_folder_and_scores_pairs(clip_folder):
    clip = ClipEmbedder.from_folder(clip_folder)
    assert len(clip.tokenizer) > 2
    images = _images(3)
    emb = clip.image_embeddings(images)
    assert emb.shape == (3, 32) and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    scores = clip.clip_score(images, ["a red circle", "a blue square", "a red circle"])
    assert scores.shape == (3,) and bool(((scores >= -1) & (scores <= 1)).all())
    # the score is the cosine of the two embeddings, so it changes with the prompt
    other = clip.clip_score(images, ["two cats in a box"] * 3)
    assert not torch.allclose(scores, other)
    assert in_batch_diversity(clip.image_embeddings([images[0]] * 3)) == pytest.approx(0.0, abs=1e-6)


def test_clip_folder_without_model_is_unavailable(tmp_path):
    with pytest.raises(MetricUnavailable, match="config.json"):
        ClipEmbedder.from_folder(tmp_path)


@pytest.fixture(scope="module")
def blip_folder(tmp_path_factory) -> Path:
    return tiny_blip_itm_folder(tmp_path_factory.mktemp("blip_itm"))


def test_blip_itm_scorer_gives_match_probabilities(blip_folder):
    blip = BlipItmScorer.from_folder(blip_folder)
    images = _images(3, seed=1)
    p = blip.itm_probability(images, ["a red circle", "two blue roses in a box", "a black cat"])
    assert p.shape == (3,) and bool(((p > 0) & (p < 1)).all())
    assert not torch.allclose(p, blip.itm_probability(images, ["a cat"] * 3))


# ------------------------------------------------------------------------------------------- ImageReward


def _reference_state_dict(vision_width=64, depth=2, patch=16, image=32, text_hidden=32, text_layers=2,
                          vocab=len(BERT_VOCAB) + 2, max_pos=40, seed=0) -> dict[str, torch.Tensor]:
    """A random state dict named exactly as the reference package's `ImageReward` module names its weights."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.05

    v, t, n = vision_width, text_hidden, (image // patch) ** 2 + 1
    sd = {"blip.visual_encoder.cls_token": r(1, 1, v), "blip.visual_encoder.pos_embed": r(1, n, v),
          "blip.visual_encoder.patch_embed.proj.weight": r(v, 3, patch, patch),
          "blip.visual_encoder.patch_embed.proj.bias": r(v),
          "blip.visual_encoder.norm.weight": 1 + r(v), "blip.visual_encoder.norm.bias": r(v)}
    for i in range(depth):
        b = f"blip.visual_encoder.blocks.{i}."
        sd |= {b + "norm1.weight": 1 + r(v), b + "norm1.bias": r(v), b + "attn.qkv.weight": r(3 * v, v),
               b + "attn.qkv.bias": r(3 * v), b + "attn.proj.weight": r(v, v), b + "attn.proj.bias": r(v),
               b + "norm2.weight": 1 + r(v), b + "norm2.bias": r(v), b + "mlp.fc1.weight": r(4 * v, v),
               b + "mlp.fc1.bias": r(4 * v), b + "mlp.fc2.weight": r(v, 4 * v), b + "mlp.fc2.bias": r(v)}
    e = "blip.text_encoder.embeddings."
    sd |= {e + "word_embeddings.weight": r(vocab, t), e + "position_embeddings.weight": r(max_pos, t),
           e + "LayerNorm.weight": 1 + r(t), e + "LayerNorm.bias": r(t),
           e + "position_ids": torch.arange(max_pos)[None]}
    for i in range(text_layers):
        b = f"blip.text_encoder.encoder.layer.{i}."
        for att, kv_width in (("attention", t), ("crossattention", v)):
            sd |= {f"{b}{att}.self.query.weight": r(t, t), f"{b}{att}.self.query.bias": r(t),
                   f"{b}{att}.self.key.weight": r(t, kv_width), f"{b}{att}.self.key.bias": r(t),
                   f"{b}{att}.self.value.weight": r(t, kv_width), f"{b}{att}.self.value.bias": r(t),
                   f"{b}{att}.output.dense.weight": r(t, t), f"{b}{att}.output.dense.bias": r(t),
                   f"{b}{att}.output.LayerNorm.weight": 1 + r(t), f"{b}{att}.output.LayerNorm.bias": r(t)}
        sd |= {b + "intermediate.dense.weight": r(2 * t, t), b + "intermediate.dense.bias": r(2 * t),
               b + "output.dense.weight": r(t, 2 * t), b + "output.dense.bias": r(t),
               b + "output.LayerNorm.weight": 1 + r(t), b + "output.LayerNorm.bias": r(t)}
    sd |= {"blip.vision_proj.weight": r(16, v), "blip.vision_proj.bias": r(16),
           "blip.text_proj.weight": r(16, t), "blip.text_proj.bias": r(16)}
    dims = [t, 1024, 128, 64, 16, 1]
    for idx, (a, b_) in zip((0, 2, 4, 6, 7), zip(dims[:-1], dims[1:], strict=True), strict=True):
        sd[f"mlp.layers.{idx}.weight"] = torch.randn(b_, a, generator=g) / a**0.5
        sd[f"mlp.layers.{idx}.bias"] = r(b_)
    return sd


@pytest.fixture(scope="module")
def imagereward_folder(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    folder = tmp_path_factory.mktemp("imagereward")
    sd = _reference_state_dict()
    torch.save(sd, folder / "ImageReward.pt")
    (folder / "med_config.json").write_text(json.dumps({"num_attention_heads": 4, "layer_norm_eps": 1e-12,
                                                        "hidden_act": "gelu", "pad_token_id": 0}))
    (folder / "vocab.txt").write_text("\n".join(BERT_VOCAB) + "\n")
    return folder, sd


def test_imagereward_key_mapping_puts_every_released_tensor_in_its_place(imagereward_folder):
    folder, sd = imagereward_folder
    model = load_imagereward(folder)
    ours = model.state_dict()
    pairs = {
        "blip.visual_encoder.cls_token": "vision.embeddings.class_embedding",
        "blip.visual_encoder.blocks.1.attn.qkv.weight": "vision.encoder.layers.1.self_attn.qkv.weight",
        "blip.visual_encoder.blocks.0.attn.proj.bias": "vision.encoder.layers.0.self_attn.projection.bias",
        "blip.visual_encoder.norm.weight": "vision.post_layernorm.weight",
        "blip.text_encoder.encoder.layer.1.crossattention.self.key.weight":
            "text.encoder.layer.1.crossattention.self.key.weight",
        "mlp.layers.7.weight": "head.4.weight",
        "mlp.layers.2.bias": "head.1.bias",
    }
    for ref_key, our_key in pairs.items():
        assert torch.equal(ours[our_key], sd[ref_key]), ref_key
    assert model.vision.config.image_size == 32 and model.vision.config.num_hidden_layers == 2
    assert model.text.config.encoder_hidden_size == 64


def test_imagereward_scores_depend_on_image_and_prompt(imagereward_folder):
    model = load_imagereward(imagereward_folder[0])
    images = _images(2, seed=3)
    a = model.score(["a red circle", "a red circle"], images)
    b = model.score(["two blue roses in a box", "two blue roses in a box"], images)
    assert a.shape == (2,) and bool(torch.isfinite(a).all())
    assert abs(float(a[0] - a[1])) > 1e-4 and not torch.allclose(a, b)
    # batching does not change a score
    assert float(model.score(["a red circle"], images[:1])[0]) == pytest.approx(float(a[0]), abs=1e-5)


def test_imagereward_unknown_or_missing_keys_are_errors(imagereward_folder):
    _, sd = imagereward_folder
    with pytest.raises(MetricUnavailable, match="does not map"):
        map_reference_keys({**sd, "blip.text_encoder.pooler.dense.weight": torch.zeros(1)})
    partial = {k: v for k, v in sd.items() if "blocks.1.mlp.fc2" not in k}
    assert "vision.encoder.layers.1.mlp.fc2.weight" not in map_reference_keys(partial)


def test_imagereward_missing_weights_or_tokenizer_say_why(tmp_path, imagereward_folder):
    with pytest.raises(MetricUnavailable, match="ImageReward.pt"):
        load_imagereward(tmp_path)
    (tmp_path / "ImageReward.pt").write_bytes((imagereward_folder[0] / "ImageReward.pt").read_bytes())
    with pytest.raises(MetricUnavailable, match="tokenizer"):
        load_imagereward(tmp_path)


# ------------------------------------------------------------------------------------------------- suite


def test_suite_reports_missing_metrics_with_reasons_never_zero(clip_folder):
    suite = MetricSuite.from_folders(clip=clip_folder, blip=None, imagereward="/nonexistent/imagereward")
    images = _images(4)
    prompts = ["a red circle", "a red circle", "a blue square", "a blue square"]
    res = suite.compute(images, prompts, good=[True, False, True, True])
    assert set(res.values) == {"success_rate", "diversity", "clip_score"}
    assert res.values["success_rate"] == 0.75
    assert set(res.missing) == {"blip_score", "imagereward"}
    assert "does not exist" in res.missing["imagereward"] and "BLIP" in res.missing["blip_score"]
    assert not set(res.values) & set(res.missing)


def test_suite_computes_every_metric_when_all_models_exist(clip_folder, blip_folder, imagereward_folder):
    suite = MetricSuite.from_folders(clip=clip_folder, blip=blip_folder, imagereward=imagereward_folder[0])
    res = suite.compute(_images(3), ["a red circle"] * 3)
    assert set(res.values) == {"diversity", "clip_score", "blip_score", "imagereward"}
    assert res.missing == {"success_rate": "no judge verdicts given"}
    assert res.notes["imagereward"] == PARITY
    assert all(math.isfinite(v) for v in res.values.values())


def test_suite_for_toy_world_uses_the_toy_clip_or_says_it_is_missing():
    from hero_bench.metrics.suite import TOY_CLIP

    suite = MetricSuite.for_toy_world()
    res = suite.compute(_images(2), ["a red circle"] * 2)
    if TOY_CLIP.exists():
        assert "clip_score" in res.values and "diversity" in res.values
    else:
        assert "toy CLIP is not trained" in res.missing["clip_score"]
    assert "imagereward" in res.missing


def test_report_labels_imagereward_unverified_until_parity_is_shown(monkeypatch, tmp_path, imagereward_folder):
    from hero_bench.metrics import imagereward as ir
    from hero_bench.reports import build_report
    from hero_bench.reports.fixtures import demo_runs

    root = demo_runs(tmp_path / "runs", seeds=(0,), ablation=False, epochs=1)
    suite = MetricSuite.from_folders(imagereward=imagereward_folder[0])
    monkeypatch.setattr(ir, "PARITY", "unverified")
    text = build_report([root], tmp_path / "a", "md", suite=suite).read_text()
    assert "imagereward (unverified)" in text and "imagereward: unverified" in text
    monkeypatch.setattr(ir, "PARITY", "verified: by test")
    text = build_report([root], tmp_path / "b", "md", suite=suite).read_text()
    assert "(unverified)" not in text and "imagereward: verified: by test" in text
