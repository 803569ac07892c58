"""dreambooth: picks exactly the oracle's best pretrained images, counts that feedback, then trains LoRA."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPTokenizer

from hero_bench.baselines.dreambooth import (
    BestImagePicker,
    DreamBooth,
    choose_identifier,
    encodes_cleanly,
    task_words,
)
from hero_bench.config import build_run_config
from hero_bench.errors import ConfigError
from hero_bench.evaluation import SamplingSettings, generate_images, seeded_noise
from hero_bench.gpucheck.arch import clip_tokenizer
from hero_bench.methods import METHODS
from hero_bench.methods.base import RunContext
from hero_bench.model_source import DEFAULT_MODEL
from hero_bench.models import load_pipeline, lora_parameters
from hero_bench.oracles import ORACLES
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.registry import Entry
from hero_bench.runs import Run, run_dir_for
from hero_bench.tasks.base import Task
from hero_bench.tasks.loader import load_task
from hero_bench.testing import tiny_sd_pipeline

STEPS = 3
SCRIPT = [  # what the oracle says about the first two batches of four images
    Feedback(good=[False, True, False, True], best=3, scores=[0.1, 0.6, 0.2, 0.9]),
    Feedback(good=[True, True, True, False], best=1, scores=[0.7, 0.95, 0.5, 0.0]),
]
EXPECTED = [(0, 3), (1, 1), (0, 1), (1, 0)]  # batch bests first, then the other good ones by score


class ScriptedOracle(Oracle):
    """An oracle whose verdicts are fixed in advance (all-bad after the script), to check what is picked."""

    name = "scripted"

    def __init__(self, seed: int = 0, script: Sequence[Feedback] = tuple(SCRIPT)) -> None:
        self.script = list(script)
        self.calls = 0

    def judge(self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str] | None = None) -> Feedback:
        fb = self.script[self.calls] if self.calls < len(self.script) else Feedback([False] * len(images), None)
        self.calls += 1
        return fb

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.calls = state["calls"]


def _images(tag: int, n: int = 4) -> list[Image.Image]:
    return [Image.new("RGB", (64, 64), (tag * 40, i * 50, 7)) for i in range(n)]


def test_picker_takes_batch_bests_first_then_good_by_score():
    picker = BestImagePicker(k=4)
    batches = [_images(0), _images(1)]
    picker.add(batches[0], SCRIPT[0])
    assert not picker.done
    picker.add(batches[1], SCRIPT[1])
    assert picker.done and picker.images_judged == 8
    assert [(b, i) for b, i, _ in picker.chosen] == EXPECTED
    assert all(im is batches[b][i] for b, i, im in picker.chosen)
    restored = BestImagePicker.from_state(picker.state_dict())
    assert [(b, i) for b, i, _ in restored.chosen] == EXPECTED


def test_identifier_is_one_token_sks_in_sds_vocabulary_and_r_in_the_toy_one():
    sd = clip_tokenizer()  # SD v1.5's own vocabulary, rebuilt offline
    assert choose_identifier(sd, task_words(load_task("black-cat"))) == "sks"
    assert choose_identifier(sd, {"sks"}) == "ohwx", "the next candidate that is one token"
    toy = CLIPTokenizer.from_pretrained(Path(DEFAULT_MODEL) / "tokenizer")
    assert len(toy("sks", add_special_tokens=False).input_ids) == 3, "the toy vocabulary spells it in letters"
    assert choose_identifier(toy, task_words(load_task("toy-black-cat"))) == "r"
    assert encodes_cleanly(toy, "sks")
    with pytest.raises(ConfigError, match="identifier"):
        choose_identifier(toy, set(), requested="two words")


def test_toy_identifier_leaves_what_the_pretrained_model_draws_almost_unchanged():
    """DreamBooth's epoch 0 is evaluated with [V] in the prompt; on the toy model, 'sks' before the noun made
    toy-mountain draw no mountain at all (mean pixel change 58 of 255, 14 on toy-blue-circle)."""
    pipe = load_pipeline(DEFAULT_MODEL, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    noise = seeded_noise(pipe, 16, 10_000)
    for name in ("toy-mountain", "toy-blue-circle"):
        task = load_task(name)
        with_v = task.dreambooth.with_token(choose_identifier(pipe.tokenizer, task_words(task)))["generation_prompt"]
        without = task.dreambooth.generation_without_token()
        arrays = [
            np.stack([np.asarray(im, dtype=np.float32) for im in generate_images(
                pipe, [p] * 16, noise, SamplingSettings(num_inference_steps=task.default_steps))])
            for p in (with_v, without)
        ]
        assert np.abs(arrays[0] - arrays[1]).mean() < 4.0, f"{name}: {with_v!r} draws something else"


def _ctx(pipe, **options):
    cfg = build_run_config("toy-black-cat", "dreambooth", budget=12, batch=4, steps=STEPS, ddpo={"k_steps": 2},
                           method_options={"num_class_images": 2, "train_steps": 4, **options})
    return RunContext(pipe, load_task("toy-black-cat"), cfg, SamplingSettings(num_inference_steps=STEPS))


def test_method_selects_then_stops_spending_feedback_and_trains(fresh_tiny_pipe):
    method = METHODS.create("dreambooth")
    assert isinstance(method, DreamBooth)
    method.setup(_ctx(fresh_tiny_pipe))
    assert method.training_prompts(1) == ["a black triangle sitting inside a box"]
    assert method.eval_prompts(2) == ["a black triangle sitting inside a box r"] * 2
    before = [p.detach().clone() for p in lora_parameters(fresh_tiny_pipe)]
    stats = method.update(None, _images(0), SCRIPT[0])  # type: ignore[arg-type]
    assert stats["selecting"] == 1 and method.wants_feedback()
    stats = method.update(None, _images(1), SCRIPT[1])  # type: ignore[arg-type]
    assert stats["selecting"] == 0 and stats["selection_feedback"] == 8 and not method.wants_feedback()
    assert stats["train_steps"] == 2  # 4 steps over the 2 epochs left (this one and the last)
    assert [(b, i) for b, i, _ in method.picker.chosen] == EXPECTED
    assert method.classes is not None and method.classes.shape[0] == 2
    after = lora_parameters(fresh_tiny_pipe)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), "LoRA must have trained"
    assert method.update(None, _images(2), Feedback([False] * 4, None))["train_steps"] == 2  # type: ignore[arg-type]
    assert method.steps_done == 4
    resumed = DreamBooth()
    resumed.setup(_ctx(tiny_sd_pipeline(seed=0)))
    resumed.load_state_dict(method.state_dict())
    assert not resumed.wants_feedback() and resumed.steps_done == 4
    assert [(b, i) for b, i, _ in resumed.picker.chosen] == EXPECTED
    assert torch.equal(resumed.instance, method.instance)
    assert all(torch.equal(a, b) for a, b in zip(lora_parameters(resumed.ctx.pipe), after, strict=True))


def _sha(img: Image.Image) -> str:  # the run loop's feedback-log hash
    return hashlib.sha1(img.tobytes()).hexdigest()[:16]


def test_run_loop_counts_only_selection_feedback_and_trains_on_the_picked_images(tmp_path, monkeypatch):
    model = tmp_path / "tiny-sd"
    tiny_sd_pipeline(seed=0).save_pretrained(model)
    monkeypatch.setitem(ORACLES._entries, "scripted", Entry("scripted", ScriptedOracle, "test oracle"))
    cfg = build_run_config("toy-black-cat", "dreambooth", budget=12, batch=4, steps=STEPS, eval_n=2,
                           ddpo={"k_steps": 2}, model=str(model), oracle="scripted",
                           method_options={"num_class_images": 2, "train_steps": 2})
    folder = run_dir_for(tmp_path / "runs", cfg)
    table = Run(cfg, folder, progress=False).execute()
    assert list(table.feedback_used) == [0, 4, 8, 8], "judging stops once four good images are found"
    log = [json.loads(line) for line in (folder / "feedback.jsonl").read_text().splitlines()]
    sha = {(e["epoch"] - 1, e["index"]): e["image_sha1"] for e in log}
    picked = sorted((folder / "final" / "dreambooth").glob("instance_*.png"))
    assert len(picked) == 4
    for path, (batch, index) in zip(picked, EXPECTED, strict=True):
        assert path.name.endswith(f"batch{batch:03d}_index{index:03d}.png")
        assert _sha(Image.open(path).convert("RGB")) == sha[(batch, index)], "the very image the oracle judged"


def test_run_loop_evaluates_with_the_generation_prompt(tmp_path, monkeypatch):
    model = tmp_path / "tiny-sd"
    tiny_sd_pipeline(seed=0).save_pretrained(model)
    monkeypatch.setitem(ORACLES._entries, "scripted", Entry("scripted", ScriptedOracle, "test oracle"))
    cfg = build_run_config("toy-black-cat", "dreambooth", budget=8, batch=4, steps=STEPS, eval_n=2,
                           ddpo={"k_steps": 2}, model=str(model), oracle="scripted",
                           method_options={"num_class_images": 2, "train_steps": 1})
    folder = run_dir_for(tmp_path / "runs", cfg)
    Run(cfg, folder, progress=False).execute()
    verdicts = json.loads((folder / "eval" / "epoch_002" / "verdicts.json").read_text())
    assert verdicts["prompts"] == ["a black triangle sitting inside a box r"] * 2
