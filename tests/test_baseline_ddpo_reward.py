"""ddpo-reward: a CLIPModel reward (PickScore-style logit), standardised advantages, no feedback spent."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from hero_bench.baselines.ddpo_reward import DDPOReward, standardise
from hero_bench.baselines.rewards import ClipRewardScorer, default_reward_model
from hero_bench.config import build_run_config
from hero_bench.evaluation import SamplingSettings
from hero_bench.methods import METHODS
from hero_bench.methods.base import RunContext
from hero_bench.models import lora_parameters
from hero_bench.oracles.base import Feedback
from hero_bench.oracles.clip import OracleSetupError
from hero_bench.runs import Run, run_dir_for
from hero_bench.sampling import decode_latents, sample_with_trajectory
from hero_bench.tasks.loader import load_task
from hero_bench.testing import tiny_clip_tokenizer, tiny_sd_pipeline
from hero_bench.toyworld.train import TrainConfig, make_clip

STEPS = 3


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """A random-weight CLIPModel with the tiny tokenizer, saved like the toy CLIP (no image processor)."""
    folder = tmp_path_factory.mktemp("clip")
    tok = tiny_clip_tokenizer(model_max_length=24)
    torch.manual_seed(0)
    clip = make_clip(tok, TrainConfig(clip_width=32, clip_layers=1, max_length=24))
    clip.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _images() -> list[Image.Image]:
    return [Image.new("RGB", (64, 64), c) for c in [(200, 10, 10), (10, 200, 10), (10, 10, 200)]]


def test_clip_reward_is_the_scaled_cosine(clip_folder):
    scorer = ClipRewardScorer(clip_folder)
    prompts = ["a red square", "a green square", "a blue circle"]
    scores = scorer.score(_images(), prompts)
    assert scores.shape == (3,) and torch.isfinite(scores).all()
    pixels = scorer._pixels(_images())
    tok = scorer.tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        img = scorer.model.get_image_features(pixel_values=pixels).pooler_output
        txt = scorer.model.get_text_features(**tok).pooler_output
    expected = scorer.model.logit_scale.exp() * torch.nn.functional.cosine_similarity(img, txt)
    torch.testing.assert_close(scores, expected)
    assert not torch.equal(scores, scorer.score(_images(), ["a blue circle"] * 3)), "the prompt matters"


def test_missing_reward_model_names_the_fix(tmp_path):
    with pytest.raises(OracleSetupError, match="reward_model"):
        ClipRewardScorer(tmp_path / "nowhere")
    assert default_reward_model(is_toy=False)[0] == "yuvalkirstain/PickScore_v1"


def test_advantages_are_standardised_per_batch():
    adv = standardise(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert adv.mean().abs() < 1e-6 and adv.std(unbiased=False) == pytest.approx(1.0, abs=1e-5)
    assert torch.argsort(adv).tolist() == [0, 1, 2, 3]


def _ctx(pipe, clip_folder, **options):
    cfg = build_run_config("toy-blue-circle", "ddpo-reward", budget=12, batch=4, steps=STEPS,
                           ddpo={"k_steps": 2, "learning_rate": 1e-2},
                           method_options={"reward_model": str(clip_folder), **options})
    return RunContext(pipe, load_task("toy-blue-circle"), cfg, SamplingSettings(num_inference_steps=STEPS))


def test_method_trains_from_rewards_without_feedback(fresh_tiny_pipe, clip_folder):
    method = METHODS.create("ddpo-reward")
    assert isinstance(method, DDPOReward) and not method.uses_feedback and method.trains
    method.setup(_ctx(fresh_tiny_pipe, clip_folder))
    assert method.num_epochs() == 3
    pipe = fresh_tiny_pipe
    noise = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    traj = sample_with_trajectory(pipe, ["a blue circle in a box"] * 4, noise, num_inference_steps=STEPS,
                                  generator=torch.Generator().manual_seed(1))
    before = [p.detach().clone() for p in lora_parameters(pipe)]
    stats = method.update(traj, decode_latents(pipe, traj.final_latents), Feedback([False] * 4, None))
    assert {"loss", "reward_mean", "reward_std"} <= stats.keys() and stats["reward_std"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, lora_parameters(pipe), strict=True))
    fifty = METHODS.create("ddpo-reward")
    fifty.setup(_ctx(tiny_sd_pipeline(seed=0), clip_folder, epochs=50))
    assert fifty.num_epochs() == 50


def test_run_loop_spends_no_feedback(tmp_path, clip_folder):
    model = tmp_path / "tiny-sd"
    tiny_sd_pipeline(seed=0).save_pretrained(model)
    cfg = build_run_config("toy-blue-circle", "ddpo-reward", budget=8, batch=4, steps=STEPS, eval_n=2,
                           ddpo={"k_steps": 2}, model=str(model), method_options={"reward_model": str(clip_folder)})
    table = Run(cfg, run_dir_for(tmp_path / "runs", cfg), progress=False).execute()
    assert list(table.epoch) == [0, 1, 2] and list(table.feedback_used) == [0, 0, 0]
    assert table.stat_reward_mean.iloc[1:].notna().all()


def test_run_loop_runs_the_epochs_the_method_asks_for(tmp_path, clip_folder):
    model = tmp_path / "tiny-sd"
    tiny_sd_pipeline(seed=0).save_pretrained(model)
    cfg = build_run_config("toy-blue-circle", "ddpo-reward", budget=4, batch=4, steps=STEPS, eval_n=2,
                           ddpo={"k_steps": 2}, model=str(model),
                           method_options={"reward_model": str(clip_folder), "epochs": 2})
    table = Run(cfg, run_dir_for(tmp_path / "runs", cfg), progress=False).execute()
    assert list(table.epoch) == [0, 1, 2] and list(table.feedback_used) == [0, 0, 0]
