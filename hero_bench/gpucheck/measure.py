# mypy: disable-error-code="attr-defined, operator"
# (diffusers pipelines register unet, vae, scheduler, ... at runtime, invisible to mypy)
"""The GPU check: one HERO epoch and one d3po-style epoch on an SD v1.5-shaped pipeline, timed per stage.

What it answers before anyone rents a GPU for a full run: how long one paper-size epoch takes against
the sampling floor (the plain diffusers `pipe(...)` call for the same images, steps, CFG and batch), how
much GPU memory it peaks at, and which `max_transitions_per_pass` keeps that peak under a limit (24 GiB).

Every stage is the project's own code: `sample_with_trajectory`, `decode_latents`, the registered `hero`
and `d3po-style` methods (their `update`, hence the triplet embedding fit, the rewards, `DDPOTrainer` and
`D3POTrainer`), `generate_images` for the evaluation images, and the methods' `state_dict` for the
checkpoint. Only two things differ from a `hero-bench run` epoch: the weights are random (see arch.py),
and the labels are seeded (a quarter of the images good, one of them best) because images from random
weights hold nothing an oracle could judge; the oracle's own time is therefore not part of the figures.
"""

from __future__ import annotations

import gc
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from hero_bench.config import RunConfig
from hero_bench.evaluation import SamplingSettings, generate_images
from hero_bench.gpucheck.arch import build_pipeline
from hero_bench.gpucheck.floor import fit_transitions_per_pass, sampler_vs_pipeline
from hero_bench.gpucheck.spec import DTYPES, GIB, TASK, CheckSize, run_config, seeded_feedback, settings_of
from hero_bench.methods import METHODS, Method, RunContext
from hero_bench.models import ADAPTER_NAME, has_lora
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory, decode_latents, encode_prompts, sample_with_trajectory
from hero_bench.tasks.loader import load_task
from hero_bench.timing import StageTimer

# ------------------------------------------------------------------------------------------ epochs


def _setup(pipe: StableDiffusionPipeline, cfg: RunConfig) -> tuple[Method, SamplingSettings]:
    method = METHODS.create(cfg.method)
    settings = settings_of(cfg)
    method.setup(RunContext(pipe, load_task(cfg.task), cfg, settings))
    return method, settings


def _sample(
    pipe: StableDiffusionPipeline, method: Method, cfg: RunConfig, settings: SamplingSettings, timer: StageTimer
) -> tuple[Trajectory, list[Image.Image], Feedback, dict]:
    """The first half of `Run._train_epoch`: the method's noises and prompts, sampled and decoded."""
    gen = torch.Generator().manual_seed(cfg.seed)
    prompts = method.training_prompts(cfg.batch)
    z_T = method.initial_noise(cfg.batch, gen)
    cache: dict = {}
    with timer.stage("sample"):
        embeds = encode_prompts(pipe, prompts, settings.guidance_scale, cache=cache)
        traj = sample_with_trajectory(
            pipe,
            embeds,
            z_T,
            num_inference_steps=settings.num_inference_steps,
            eta=settings.eta,
            guidance_scale=settings.guidance_scale,
            generator=gen,
            batch_size=settings.batch_size,
        )
    with timer.stage("decode"):
        images = decode_latents(pipe, traj.final_latents)
    if not bool(torch.isfinite(traj.latents).all()):
        raise FloatingPointError("the sampled latents hold NaN or inf (random weights overflowed in this dtype)")
    return traj, images, seeded_feedback(cfg.batch, cfg.seed), cache


def _evaluate_and_checkpoint(
    pipe: StableDiffusionPipeline,
    method: Method,
    cfg: RunConfig,
    size: CheckSize,
    settings: SamplingSettings,
    timer: StageTimer,
    cache: dict,
) -> float:
    """The second half of an epoch: evaluation images (sampled and decoded; not judged) unless
    `size.eval_images` is 0, and the method's checkpoint written to disk. Returns its size in MB."""
    if size.eval_images > 0:
        with timer.stage("evaluate"):
            seed = cfg.eval_seed + cfg.seed
            generate_images(
                pipe,
                method.eval_prompts(cfg.eval_n),
                method.eval_noise(cfg.eval_n, seed),
                settings,
                seed=seed,
                prompt_cache=cache,
            )
    with timer.stage("checkpoint"), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        torch.save(method.state_dict(), path)
        return round(path.stat().st_size / 2**20, 1)


def _stages(timer: StageTimer) -> dict[str, Any]:
    return {"seconds": timer.as_dict(), "peak_gib": {k: timer.peak_gib(k) for k in timer.peak_bytes}}


def hero_epoch(
    pipe: StableDiffusionPipeline, size: CheckSize, max_transitions: int | None, limit_gib: float, seed: int = 0
) -> dict[str, Any]:
    """One HERO epoch, stage by stage; `max_transitions` None on CUDA = fitted to `limit_gib`."""
    cfg = run_config("hero", size, max_transitions, seed)
    method, settings = _setup(pipe, cfg)
    timer = StageTimer(pipe._execution_device)
    trainer, embedder = method.trainer, method.embedder  # type: ignore[attr-defined]
    setattr(trainer, "update", timer.timed("ddpo_update", trainer.update))  # noqa: B010 - time it in place
    if embedder is not None:
        setattr(embedder, "fit", timer.timed("embedding_fit", embedder.fit))  # noqa: B010
    traj, images, fb, cache = _sample(pipe, method, cfg, settings, timer)
    probe = None
    if timer.on_cuda and max_transitions is None:
        most = trainer.config.batch_size * trainer.config.grad_accum_steps * trainer.config.k_steps
        probe = fit_transitions_per_pass(pipe, traj, trainer.transition_log_prob, limit_gib, most)
        trainer.config = trainer.config.model_copy(
            update={"max_transitions_per_pass": probe["max_transitions_per_pass"]}
        )
    with timer.stage("update"):
        stats = method.update(traj, images, fb)
    ckpt_mb = _evaluate_and_checkpoint(pipe, method, cfg, size, settings, timer, cache)
    s = timer.seconds
    s["rewards_and_noise"] = s["update"] - s.get("embedding_fit", 0.0) - s.get("ddpo_update", 0.0)
    out = {
        **_stages(timer),
        "train_epoch_s": round(s["sample"] + s["decode"] + s["update"], 4),
        "max_transitions_per_pass": trainer.config.max_transitions_per_pass,
        "probe": probe,
        "checkpoint_mb": ckpt_mb,
        "optimizer_steps": stats.get("optimizer_steps"),
        "embedding_passes": stats.get("embedding_passes"),
        "embedder_device": str(getattr(embedder, "device", None)),
    }
    del method, trainer, embedder
    return out


def d3po_epoch(
    pipe: StableDiffusionPipeline, size: CheckSize, max_transitions: int | None, limit_gib: float, seed: int = 0
) -> dict[str, Any]:
    """One d3po-style epoch on at most `size.d3po_max_pairs` pairs, with the full epoch extrapolated from
    the seconds per pair (d3po-style trains every denoising step of every pair)."""
    from hero_bench.baselines.d3po import preference_pairs, transition_log_probs

    cfg = run_config("d3po-style", size, max_transitions, seed)
    method, settings = _setup(pipe, cfg)
    timer = StageTimer(pipe._execution_device)
    trainer = method.trainer  # type: ignore[attr-defined]
    setattr(trainer, "reference_log_probs", timer.timed("reference", trainer.reference_log_probs))  # noqa: B010
    traj, images, fb, cache = _sample(pipe, method, cfg, settings, timer)
    probe = None
    if timer.on_cuda and max_transitions is None:
        score = lambda t, s, st: transition_log_probs(pipe, t, s, st)  # noqa: E731
        probe = fit_transitions_per_pass(pipe, traj, score, limit_gib, 2 * size.steps)
        trainer.options = method.options = method.options.model_copy(  # type: ignore[attr-defined]
            update={"max_transitions_per_pass": probe["max_transitions_per_pass"]}
        )
    with timer.stage("update"):
        stats = method.update(traj, images, fb)
    ckpt_mb = _evaluate_and_checkpoint(pipe, method, cfg, size, settings, timer, cache)
    o = trainer.options
    all_pairs = len(preference_pairs(fb, o.group_size, o.use_best, traj.prompts))
    trained = int(stats.get("pairs", 0))
    s = timer.seconds
    per_pair = (s["update"] - s.get("reference", 0.0)) / trained if trained else None
    full = None if per_pair is None else s["sample"] + s["decode"] + s.get("reference", 0.0) + per_pair * all_pairs
    out = {
        **_stages(timer),
        "train_epoch_s": round(s["sample"] + s["decode"] + s["update"], 4),
        "pairs_trained": trained,
        "pairs_in_full_epoch": all_pairs,
        "seconds_per_pair": None if per_pair is None else round(per_pair, 4),
        "full_train_epoch_s_estimate": None if full is None else round(full, 2),
        "max_transitions_per_pass": o.max_transitions_per_pass,
        "probe": probe,
        "checkpoint_mb": ckpt_mb,
    }
    del method, trainer
    return out


# ----------------------------------------------------------------------------------------- driver


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _drop_lora(pipe: StableDiffusionPipeline) -> None:
    """Remove the adapter a method attached, so that the next method starts from the plain model."""
    if has_lora(pipe):
        pipe.unet.delete_adapters(ADAPTER_NAME)


def check_dtype(
    size: CheckSize, dtype: str, device: torch.device, max_transitions: int | None, limit_gib: float, seed: int = 0
) -> dict[str, Any]:
    """Build the pipeline in `dtype`, then the sampling floor, a HERO epoch and a d3po-style epoch. A part
    that fails (out of memory, overflow) is recorded as an error and the next part still runs."""
    out: dict[str, Any] = {"dtype": dtype}
    timer = StageTimer(device)
    try:
        with timer.stage("build"):
            pipe = build_pipeline(size.arch, device=device, dtype=DTYPES[dtype], seed=seed)
    except RuntimeError as e:  # e.g. out of memory: nothing of this dtype can run
        _free(device)
        return {**out, **{name: {"error": f"building the pipeline: {e}"[:600]} for name in ("sampler", "hero", "d3po")}}
    out["build_s"] = round(timer.seconds["build"], 2)
    parts = {
        "sampler": lambda p: sampler_vs_pipeline(p, size, seed),
        "hero": lambda p: hero_epoch(p, size, max_transitions, limit_gib, seed),
        "d3po": lambda p: d3po_epoch(p, size, max_transitions, limit_gib, seed),
    }
    for name, part in parts.items():
        try:
            out[name] = part(pipe)
        except (RuntimeError, ValueError, FloatingPointError) as e:  # CUDA OOM is a RuntimeError
            out[name] = {"error": f"{type(e).__name__}: {e}"[:600]}
        _drop_lora(pipe)
        _free(device)
    floor = out["sampler"].get("pipeline_s")
    for name in ("hero", "d3po"):
        epoch = out[name].get("train_epoch_s")
        if floor and epoch:
            out[name]["train_epoch_over_pipeline"] = round(epoch / floor, 3)
        peaks = [v for v in out[name].get("peak_gib", {}).values() if v is not None]
        out[name]["peak_gib_max"] = max(peaks) if peaks else None
    del pipe
    _free(device)
    return out


def machine(device: torch.device) -> dict[str, Any]:
    """Where the figures were measured."""
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / GIB, 1), cuda=torch.version.cuda)
    return info


def run_check(
    size: CheckSize,
    dtypes: list[str],
    device: torch.device | str,
    max_transitions: int | None = None,
    limit_gib: float = 24.0,
    seed: int = 0,
) -> dict[str, Any]:
    """The whole check: one `check_dtype` per dtype, with what was measured and how."""
    device = torch.device(device)
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise ValueError(f"unknown dtype(s) {', '.join(unknown)}; choose from {', '.join(DTYPES)}")
    return {
        "mode": "gpu" if device.type == "cuda" else "dry-run",
        "machine": machine(device),
        "size": asdict(size),
        "task_prompt": load_task(TASK).prompt,
        "weights": f"random, architecture from hero_bench/data/arch/{size.arch}",
        "feedback": "seeded labels: a quarter of the images good, one best (no oracle is timed)",
        "memory_limit_gib": limit_gib,
        "runs": [check_dtype(size, d, device, max_transitions, limit_gib, seed) for d in dtypes],
    }
