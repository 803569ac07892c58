"""The CLIP proxy oracle: both backends load real weights offline, margins decide, calibration fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hero_bench.errors import HeroBenchError, UnsupportedTaskError
from hero_bench.oracles import ORACLES
from hero_bench.oracles import clip as clip_mod
from hero_bench.oracles.calibrate import (
    Agreement,
    calibrate,
    cohen_kappa,
    fit_margin,
    save_margin,
    toy_calibration_images,
)
from hero_bench.oracles.clip import (
    ClipOracle,
    HFClip,
    OracleSetupError,
    clip_margins,
    image_text_similarity,
    load_clip,
    read_margins,
)
from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.tasks import load_task

CAPTIONS = ["one blue circle in a box", "a blue circle inside a box", "two blue circles", "a red circle in a box",
            "an empty box", "a blue circle next to a box", "a yellow square", "green mountains"]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    """A random-weight toy-sized CLIP saved like the toy world's (model + own tokenizer, no image processor)."""
    from hero_bench.toyworld.train import make_clip, quick_config, train_tokenizer

    folder = tmp_path_factory.mktemp("toy_clip")
    cfg = quick_config()
    torch.manual_seed(0)
    tok = train_tokenizer(CAPTIONS * 4, cfg, folder)
    make_clip(tok, cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hf_clip(clip_folder) -> HFClip:
    return HFClip(clip_folder)


@pytest.fixture(scope="module")
def task():
    return load_task("toy-blue-circle")


@pytest.fixture(scope="module")
def renders(task) -> list[Image.Image]:
    return toy_calibration_images(task, 12, seed=3)


def test_hf_backend_embeddings_are_normalised_and_deterministic(hf_clip: HFClip, renders) -> None:
    assert len(hf_clip.tokenizer) > 2  # the silent 2-token failure of transformers 5 would pass otherwise
    emb = hf_clip.encode_images(renders[:3])
    assert emb.shape == (3, hf_clip.model.config.projection_dim)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.equal(emb, hf_clip.encode_images(renders[:3]))
    texts = hf_clip.encode_texts(["one blue circle in a box", "an empty box"])
    assert not torch.allclose(texts[0], texts[1])  # the tokenizer does not map everything to one token


def test_toy_preprocessing_scales_pixels_to_minus_one_one(hf_clip: HFClip) -> None:
    """No image processor is saved with the toy CLIP: pixels must be scaled as in training."""
    white, black = Image.new("RGB", (64, 64), (255, 255, 255)), Image.new("RGB", (64, 64), (0, 0, 0))
    pix = hf_clip._pixels([white, black])
    assert hf_clip.processor is None
    assert pix.shape == (2, 3, 64, 64)
    assert torch.allclose(pix[0], torch.ones_like(pix[0])) and torch.allclose(pix[1], -torch.ones_like(pix[1]))


def test_margins_are_best_positive_minus_best_negative(hf_clip: HFClip, renders) -> None:
    pos, neg = ["one blue circle in a box", "a blue circle inside a box"], ["two blue circles", "an empty box"]
    sims = image_text_similarity(hf_clip, renders, pos + neg, batch_size=5)
    assert sims.shape == (len(renders), 4)
    expected = sims[:, :2].max(1) - sims[:, 2:].max(1)
    np.testing.assert_allclose(clip_margins(hf_clip, renders, pos, neg, batch_size=5), expected, atol=1e-6)
    np.testing.assert_allclose(clip_margins(hf_clip, renders, pos), sims[:, :2].max(1), atol=1e-6)


def test_oracle_decides_by_margin_and_picks_the_top_margin_as_best(hf_clip, task, renders) -> None:
    margins = clip_margins(hf_clip, renders, task.clip.positive, task.clip.negative)
    cut = float(np.median(margins))
    fb = ClipOracle(clip=hf_clip, margin=cut).judge(renders, task)
    assert fb.good == [bool(m > cut) for m in margins]
    assert fb.best == int(np.argmax(margins))
    np.testing.assert_allclose(fb.scores, margins, atol=1e-6)
    assert all(r and "CLIP margin" in r[0] for r, g in zip(fb.reasons, fb.good, strict=True) if not g)

    nothing = ClipOracle(clip=hf_clip, margin=float(margins.max()) + 1).judge(renders, task)
    assert not any(nothing.good) and nothing.best is None
    per_task = ClipOracle(clip=hf_clip, margin={task.name: -10.0}).judge(renders, task)
    assert all(per_task.good)


def test_registry_builds_the_oracle_from_a_folder(clip_folder, task, renders) -> None:
    oracle = ORACLES.create("clip", model=str(clip_folder), seed=3)
    fb = oracle.judge(renders[:4], task)
    assert len(fb) == 4


def test_cohen_kappa_matches_hand_computed_values() -> None:
    # 10 items: both good 4, both bad 3, a-only 2, b-only 1 -> po 0.7, pe 0.6*0.5 + 0.4*0.5 = 0.5 -> 0.4
    a = [1, 1, 1, 1, 0, 0, 0, 1, 1, 0]
    b = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa(a, [not x for x in a]) < 0
    assert cohen_kappa([1, 1], [1, 1]) == 1.0 and cohen_kappa([1, 1], [0, 0]) == 0.0
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 0])


def test_fit_margin_separates_separable_scores_and_is_optimal() -> None:
    scores = [0.1, 0.3, 0.2, 0.8, 0.7, 0.9]
    truth = [False, False, False, True, True, True]
    m = fit_margin(scores, truth)
    assert 0.3 < m < 0.7
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=60)
    labels = noisy + rng.normal(scale=1.0, size=60) > 0.3
    best = fit_margin(noisy, labels)
    best_kappa = cohen_kappa(labels, noisy > best)
    for c in np.linspace(-3, 3, 121):
        assert cohen_kappa(labels, noisy > c) <= best_kappa + 1e-12


def test_calibrate_reports_agreement_with_the_exact_judge(hf_clip, clip_folder, task, renders) -> None:
    oracle = ClipOracle(clip=hf_clip)
    report = calibrate(oracle, task, n=40, seed=1)
    truth = SimulatedOracle().judge(toy_calibration_images(task, 40, seed=1), task).good
    assert report.n == 40 and report.held_out.n == 20
    assert report.before.truth_good_rate == pytest.approx(np.mean(truth))
    scores = oracle.scores(toy_calibration_images(task, 40, seed=1), task)
    assert report.fit == Agreement.of(np.asarray(truth)[::2], scores[::2] > report.margin)
    assert report.fit.kappa >= Agreement.of(np.asarray(truth)[::2], scores[::2] > 0.0).kappa
    assert report.held_out_before == Agreement.of(np.asarray(truth)[1::2], scores[1::2] > 0.0)
    assert report.improved == (report.held_out.kappa > report.held_out_before.kappa)
    assert "kappa" in report.summary() and json.dumps(report.to_dict())

    # Stored beside the weights, the margin becomes the oracle's default for that task only.
    save_margin(clip_folder, report)
    stored = ClipOracle(model=str(clip_folder))
    assert stored.margin_for(task) == pytest.approx(report.margin)
    assert stored.margin_for(load_task("toy-hand")) == 0.0


@pytest.mark.parametrize("text", ['{"toy-hand": {"margin": 0.1', "[1]", '{"toy-hand": {"n": 3}}'])
def test_a_damaged_margins_file_is_named_and_not_written_over(tmp_path, text) -> None:
    """The file holds every task's calibration: read as 'uncalibrated' or rewritten, the others would be lost."""
    path = tmp_path / clip_mod.MARGINS_FILE
    path.write_text(text)
    with pytest.raises(HeroBenchError, match=f"^{path}: not a margins file .*or remove the file"):
        read_margins(tmp_path)
    report = _saved_report_stub()
    with pytest.raises(HeroBenchError, match="not a margins file"):
        save_margin(tmp_path, report)
    assert path.read_text() == text


def _saved_report_stub():
    """A report with just what save_margin records."""
    from types import SimpleNamespace

    held = SimpleNamespace(accuracy=0.9, kappa=0.8)
    return SimpleNamespace(task="toy-hand", margin=0.2, n=40, held_out=held)


def test_calibration_images_are_balanced_renders_of_the_task(task) -> None:
    imgs = toy_calibration_images(task, 60, seed=0)
    assert all(im.size == (64, 64) for im in imgs)
    rate = np.mean(SimulatedOracle().judge(imgs, task).good)
    assert 0.3 < rate < 0.7
    with pytest.raises(UnsupportedTaskError):
        toy_calibration_images(load_task("blue-rose"), 4)


def test_missing_weights_name_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(clip_mod, "TOY_CLIP", tmp_path / "absent")
    with pytest.raises(OracleSetupError, match="hero-bench toy train"):
        load_clip(None)
    with pytest.raises(OracleSetupError, match="no config.json"):
        load_clip(tmp_path)
    with pytest.raises(OracleSetupError, match="neither an existing folder nor a hub id"):
        load_clip(str(tmp_path / "nope" / "deeper"))
    with pytest.raises(OracleSetupError, match="huggingface-cli download"):
        load_clip("someone/not-cached-clip")  # HF_HUB_OFFLINE=1 (conftest): fails fast, names the fix
    assert issubclass(OracleSetupError, HeroBenchError)


# ----------------------------------------------------------------------------------------- open_clip


@pytest.fixture(scope="module")
def open_clip_checkpoint(tmp_path_factory) -> tuple[str, Path]:
    """A tiny open_clip architecture (registered from a JSON config) and a random checkpoint of it."""
    import open_clip

    folder = tmp_path_factory.mktemp("open_clip_cfg")
    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (folder / "hero-tiny-vit.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    model = open_clip.create_model("hero-tiny-vit")
    ckpt = folder / "tiny.pt"
    torch.save(model.state_dict(), ckpt)
    return "hero-tiny-vit", ckpt


def test_open_clip_backend_loads_a_local_checkpoint(open_clip_checkpoint, task, renders) -> None:
    import open_clip

    arch, ckpt = open_clip_checkpoint
    model = load_clip(f"open_clip:{arch}:{ckpt}")
    ref, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=str(ckpt))
    with torch.no_grad():
        want = ref.eval().encode_text(open_clip.get_tokenizer(arch)(["a blue circle"]))
    got = model.encode_texts(["a blue circle"])
    assert torch.allclose(got, want / want.norm(dim=-1, keepdim=True), atol=1e-5)
    fb = ClipOracle(clip=model, margin=-1.0).judge(renders[:3], task)
    assert fb.good == [True, True, True] and fb.best in (0, 1, 2)


def test_open_clip_errors_name_the_fix(open_clip_checkpoint) -> None:
    arch, _ = open_clip_checkpoint
    with pytest.raises(OracleSetupError, match="list_models"):
        load_clip("open_clip:no-such-arch:/x.pt")
    with pytest.raises(OracleSetupError, match="checkpoint"):
        load_clip(f"open_clip:{arch}:not-a-tag")
    with pytest.raises(OracleSetupError, match="download the checkpoint"):
        load_clip("open_clip:ViT-B-32:laion2b_s34b_b79k")  # a real tag, but the hub is off
    with pytest.raises(OracleSetupError, match="ARCH:TAG_OR_FILE"):
        load_clip("open_clip:ViT-B-32")


def test_a_toy_pipeline_folder_means_the_clip_trained_beside_it(clip_folder, tmp_path) -> None:
    import shutil

    pipeline = tmp_path / "tiny-sd"
    shutil.copytree(clip_folder, pipeline / "toy_clip")
    oracle = ClipOracle(model=str(pipeline))
    assert oracle.margins_folder == pipeline / "toy_clip"


def test_measure_agreement_of_oracles_without_a_margin(task) -> None:
    from hero_bench.oracles.calibrate import measure_agreement

    exact = measure_agreement(SimulatedOracle(seed=1), task, n=30, seed=2)
    assert exact.accuracy == 1.0 and exact.kappa == 1.0 and exact.n == 30
    noisy = measure_agreement(SimulatedOracle(seed=1, flip_prob=0.3), task, n=30, seed=2)
    assert noisy.accuracy < 1.0 and noisy.kappa < 1.0


def test_a_real_clip_folder_needs_its_image_processor(clip_folder, tmp_path) -> None:
    """Only the toy CLIP may go without a processor: a real CLIP fed [-1, 1] pixels would score silently wrong."""
    import shutil

    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    base = CLIPModel.from_pretrained(clip_folder).config.to_dict()
    config = CLIPConfig(text_config=base["text_config"], projection_dim=base["projection_dim"],
                        vision_config={**base["vision_config"], "image_size": 32})
    folder = tmp_path / "real"
    CLIPModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(clip_folder / name, folder / name)
    with pytest.raises(OracleSetupError, match="no preprocessor_config.json"):
        load_clip(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    model = load_clip(folder)
    assert model.processor is not None
    assert model._pixels([Image.new("RGB", (64, 64))]).shape == (1, 3, 32, 32)
