# mypy: disable-error-code="attr-defined"
"""`d3po-style`: online DPO on denoising trajectories (Yang et al., 2024, "Using human feedback to fine-tune
diffusion models without any reward model").

D3PO treats each DDIM step of a trajectory as one step of an MDP and applies the DPO objective to every
step of a preferred/dispreferred pair that shares the prompt and the initial noise z_T:

    L = -log sigmoid( beta * [ log clip(p_theta(w_t) / p_ref(w_t)) - log clip(p_theta(l_t) / p_ref(l_t)) ] )

with p(x_t) the Gaussian density of the stored transition z_t -> z_{t-1}, p_ref the frozen pretrained
model (the LoRA adapter switched off) and clip(r) = min(max(r, 1 - eps), 1 + eps). Defaults follow the
authors' release for training from human feedback (yk7333/d3po, scripts/train.py with config/base.py):
beta = 0.1, eps = 0.2 (hard-coded there; their reward-model script uses the config's 0.1), lr = 3e-5,
AdamW weight decay 1e-4, every denoising step trained (timestep_fraction = 1), one pair per optimiser
step with gradients accumulated over that pair's steps, grad-norm clip 1.0, log-densities averaged over
latent dimensions. As in that setting, images come in groups sharing the prompt and z_T (they used 7)
and pairs are formed inside each group.

Binary feedback plus one best image gives three preference levels (best > good > bad); every pair of a
group whose levels differ is a training pair: good vs bad, and best vs the others, so a group where all
are good still trains on best vs rest. A group where all are bad has no pair and costs no compute. The
budget is the run loop's: every image judged by the training oracle counts, exactly as for HERO.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import StableDiffusionPipeline
from PIL import Image

from hero_bench.baselines.common import LoraOptimizer
from hero_bench.baselines.options import D3POOptions, parse_options
from hero_bench.methods.base import Method, RunContext
from hero_bench.models import LORA_TARGETS, attach_lora, lora_disabled, save_lora
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory, ddim_step_with_logprob, guided_noise_pred

Tensor = torch.Tensor

BEST, GOOD, BAD = 2, 1, 0


# --------------------------------------------------------------------------------------- preference pairs


def preference_levels(feedback: Feedback, use_best: bool = True) -> list[int]:
    """best = 2, other good = 1, bad = 0 (best collapses into good when `use_best` is off)."""
    levels = [GOOD if g else BAD for g in feedback.good]
    if use_best and feedback.best is not None:
        levels[feedback.best] = BEST
    return levels


def preference_pairs(
    feedback: Feedback, group_size: int, use_best: bool = True, prompts: Sequence[str] | None = None
) -> list[tuple[int, int]]:
    """(preferred, dispreferred) index pairs inside each group of `group_size` consecutive images.

    Only images with the same prompt are compared (DPO compares two responses to one query).
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2, got {group_size}")
    levels = preference_levels(feedback, use_best)
    n = len(levels)
    if prompts is not None and len(prompts) != n:
        raise ValueError(f"got {len(prompts)} prompts for {n} labels")
    pairs = []
    for start in range(0, n, group_size):
        group = range(start, min(start + group_size, n))
        for i in group:
            for j in group:
                same_prompt = prompts is None or prompts[i] == prompts[j]
                if levels[i] > levels[j] and same_prompt:
                    pairs.append((i, j))
    return pairs


# ------------------------------------------------------------------------------------------------- loss


def d3po_loss(logp_w: Tensor, ref_w: Tensor, logp_l: Tensor, ref_l: Tensor, beta: float, ratio_clip: float) -> Tensor:
    """Per-pair D3PO loss of one denoising step (to minimise); log-densities of the preferred (w) and
    dispreferred (l) transitions under the policy and the reference. Clipping the ratio to 1 +- eps
    (in log space, the same thing) zeroes the gradient of a pair once the policy has moved far enough."""
    lo, hi = math.log1p(-ratio_clip), math.log1p(ratio_clip)
    log_ratio_w = (logp_w - ref_w).clamp(lo, hi)
    log_ratio_l = (logp_l - ref_l).clamp(lo, hi)
    return -F.logsigmoid(beta * (log_ratio_w - log_ratio_l))


def transition_log_probs(pipe: StableDiffusionPipeline, traj: Trajectory, samples: Tensor, steps: Tensor) -> Tensor:
    """log p(z_{s+1} | z_s) of the stored transitions (samples[i], steps[i]) under the pipe's current
    UNet, averaged over latent dimensions (D3PO's and DDPO's scale), [N]. Same CFG and DDIM arithmetic as
    sampling, so an untrained adapter reproduces the sampler's log-probs."""
    scheduler = pipe.scheduler
    device = pipe._execution_device
    if scheduler.num_inference_steps != traj.num_inference_steps:
        scheduler.set_timesteps(traj.num_inference_steps, device=device)
    if not torch.equal(scheduler.timesteps.cpu(), traj.timesteps.cpu()):
        raise ValueError("the trajectory's timesteps differ from the pipeline scheduler's; resample it")
    here = traj.latents.device
    samples, steps = samples.to(here), steps.to(here)
    latents = traj.latents[samples, steps].to(device)
    next_latents = traj.latents[samples, steps + 1].to(device)
    timesteps = traj.timesteps.to(device)[steps.to(device)]
    embeds = traj.prompt_embeds.select(samples.cpu()).to(device)
    noise_pred = guided_noise_pred(pipe, latents, timesteps, embeds, traj.guidance_scale)
    _, log_prob = ddim_step_with_logprob(scheduler, noise_pred, timesteps, latents, traj.eta, prev_sample=next_latents)
    return log_prob / math.prod(traj.latents.shape[2:])


def _unit_passes(sizes: Sequence[int], limit: int | None) -> Iterator[list[int]]:
    """Consecutive unit indices grouped into passes of at most `limit` transitions (all in one pass when
    `limit` is None); a unit is never split, so a unit larger than `limit` gets a pass of its own."""
    batch: list[int] = []
    size = 0
    for u, n in enumerate(sizes):
        if batch and limit is not None and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(u)
        size += n
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------- trainer


class D3POTrainer:
    """Applies the per-step DPO update to the UNet's LoRA weights against the adapter-free reference."""

    def __init__(self, pipe: StableDiffusionPipeline, options: D3POOptions, seed: int = 0) -> None:
        self.pipe = pipe
        self.options = options
        self.opt = LoraOptimizer(pipe, options, seed)

    @torch.no_grad()
    def reference_log_probs(self, traj: Trajectory, samples: Tensor, steps: Tensor, chunk: int = 32) -> Tensor:
        """[len(samples), len(steps)] log-densities under the frozen pretrained model (LoRA off)."""
        out = torch.empty(len(samples), len(steps))
        with lora_disabled(self.pipe):
            for col, step in enumerate(steps.tolist()):
                for start in range(0, len(samples), chunk):
                    rows = samples[start : start + chunk]
                    at = torch.full((len(rows),), step, dtype=torch.long)
                    out[start : start + len(rows), col] = transition_log_probs(self.pipe, traj, rows, at).cpu()
        return out

    def update(self, traj: Trajectory, pairs: Sequence[tuple[int, int]]) -> dict[str, float]:
        """One D3PO pass over `pairs` of `traj`; returns mean loss, margin, accuracy, clip fraction, ..."""
        o = self.options
        gen = self.opt.generator
        pair_t = torch.tensor(list(pairs), dtype=torch.long).reshape(-1, 2)
        if len(pair_t) == 0:
            return {"pairs": 0.0, **self.opt.lora_norms()}
        if o.max_pairs is not None and len(pair_t) > o.max_pairs:
            pair_t = pair_t[torch.randperm(len(pair_t), generator=gen)[: o.max_pairs]]
        finite = torch.isfinite(traj.log_probs.detach().cpu()).all(dim=0)
        candidates = torch.nonzero(finite).flatten()  # steps with a density (not a zero-variance last step)
        if len(candidates) == 0:
            raise ValueError("no denoising step has a finite log-probability; sample with eta > 0")
        involved = torch.unique(pair_t)
        ref = torch.full(traj.log_probs.shape, float("nan"))
        ref[involved[:, None], candidates[None, :]] = self.reference_log_probs(traj, involved, candidates)
        kl = self._kl_to_reference(traj, pair_t, candidates, ref)
        k = max(1, int(len(candidates) * o.timestep_fraction))
        rows: list[Tensor] = []  # per (minibatch, step): loss, margin, accuracy, clipfrac
        norms: list[float] = []
        self.pipe.unet.eval()
        for _ in range(o.inner_epochs):
            minibatches = pair_t[torch.randperm(len(pair_t), generator=gen)].split(o.pair_batch_size)
            for start in range(0, len(minibatches), o.grad_accum_steps):
                group = minibatches[start : start + o.grad_accum_steps]
                # one random step order per minibatch (D3PO shares it across an image group)
                units = [
                    (mb, step)
                    for mb in group
                    for step in candidates[torch.randperm(len(candidates), generator=gen)[:k]].tolist()
                ]
                rows += self._accumulate(traj, units, ref, scale=1.0 / (len(group) * k))
                norms.append(self.opt.step())
        means = torch.stack(rows).mean(dim=0).tolist()
        stats = dict(zip(("loss", "margin", "accuracy", "clipfrac"), means, strict=True))
        stats.update(pairs=float(len(pair_t)), steps_per_pair=float(k), grad_norm=sum(norms) / len(norms),
                     optimizer_steps=float(self.opt.steps), **kl, **self.opt.lora_norms())
        return stats

    @staticmethod
    def _kl_to_reference(traj: Trajectory, pair_t: Tensor, steps: Tensor, ref: Tensor) -> dict[str, float]:
        """The policy's KL to the reference on the states of the pairs' preferred and dispreferred images,
        per latent dimension and averaged over steps: the mean log-ratio of the policy's own samples, read
        from the sampler's log-probs (no UNet pass). `accuracy` is the sign of a log-ratio margin, and these
        say how much of it is the policy having moved more on one side's states (docs/baselines.md)."""
        sampled = traj.log_probs.detach().cpu()[:, steps] / math.prod(traj.latents.shape[2:])
        log_ratio = (sampled - ref[:, steps]).mean(dim=1)
        return {"kl_preferred": float(log_ratio[pair_t[:, 0]].mean()),
                "kl_dispreferred": float(log_ratio[pair_t[:, 1]].mean())}

    def _accumulate(
        self, traj: Trajectory, units: list[tuple[Tensor, int]], ref: Tensor, scale: float
    ) -> list[Tensor]:
        """Backpropagate scale * (mean D3PO loss of the pairs `mb` [m, 2] at `step`) for every (mb, step)
        unit of one optimiser step; returns detached [loss, margin, accuracy, clipfrac] per unit.

        No optimiser step happens between units, so scoring all their transitions in as few UNet passes
        as `max_transitions_per_pass` allows gives the gradient of one pass per unit, far faster on a
        CPU. An image in several pairs of a minibatch goes through the UNet once per step."""
        o = self.options
        device = self.pipe._execution_device
        per_unit = [torch.unique(mb.flatten(), return_inverse=True) for mb, _ in units]
        samples = torch.cat([images for images, _ in per_unit])
        steps = torch.cat([torch.full((len(images),), step, dtype=torch.long) for (images, _), (_, step)
                           in zip(per_unit, units, strict=True)])
        bounds = torch.tensor([0] + [len(images) for images, _ in per_unit]).cumsum(0).tolist()
        lo_clip, hi_clip = math.log1p(-o.ratio_clip), math.log1p(o.ratio_clip)
        rows: list[Tensor] = []
        for batch in _unit_passes([len(images) for images, _ in per_unit], o.max_transitions_per_pass):
            lo, hi = bounds[batch[0]], bounds[batch[-1] + 1]
            logp_all = transition_log_probs(self.pipe, traj, samples[lo:hi], steps[lo:hi]).float()
            total = torch.zeros((), device=device)
            for u in batch:
                mb, step = units[u]
                inverse = per_unit[u][1].reshape(mb.shape).to(device)
                logp = logp_all[bounds[u] - lo : bounds[u + 1] - lo][inverse]
                lp_w, lp_l = logp[:, 0], logp[:, 1]
                rw, rl = ref[mb[:, 0], step].to(device), ref[mb[:, 1], step].to(device)
                loss = d3po_loss(lp_w, rw, lp_l, rl, o.beta, o.ratio_clip).mean()
                total = total + loss * scale
                with torch.no_grad():
                    log_r = torch.cat([lp_w - rw, lp_l - rl])
                    margin = o.beta * (lp_w - rw - (lp_l - rl))
                    clipped = ((log_r < lo_clip) | (log_r > hi_clip)).float().mean()
                    rows.append(torch.stack([loss.detach(), margin.mean(), (margin > 0).float().mean(), clipped]).cpu())
            total.backward()
        return rows

    def state_dict(self) -> dict[str, Any]:
        return self.opt.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state)


# ----------------------------------------------------------------------------------------------- method


class D3PO(Method):
    """Online D3PO on the run's feedback: grouped sampling, within-group preference pairs, per-step DPO."""

    name = "d3po-style"

    def setup(self, ctx: RunContext) -> None:
        super().setup(ctx)
        self.options = parse_options(D3POOptions, ctx.config.method_options, self.name)
        attach_lora(
            ctx.pipe, rank=ctx.config.lora_rank, target_modules=LORA_TARGETS[ctx.config.lora_targets],
            init_seed=ctx.config.seed,
        )
        self.trainer = D3POTrainer(ctx.pipe, self.options, seed=ctx.config.seed)

    def initial_noise(self, n: int, generator: torch.Generator) -> Tensor:
        """Groups of `group_size` images share one z_T (the last group may be smaller)."""
        if not self.options.share_noise:
            return super().initial_noise(n, generator)
        g = self.options.group_size
        base = torch.randn((math.ceil(n / g), *self.ctx.latent_shape), generator=generator)
        return base.repeat_interleave(g, dim=0)[:n]

    def update(self, traj: Trajectory, images: list[Image.Image], feedback: Feedback) -> dict[str, float]:
        pairs = preference_pairs(feedback, self.options.group_size, self.options.use_best, traj.prompts)
        stats = self.trainer.update(traj, pairs)
        stats["good_fraction"] = feedback.n_good / len(feedback)
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {"d3po": self.trainer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state["d3po"])

    def save_artifacts(self, folder: Path) -> None:
        save_lora(self.ctx.pipe, folder / "lora")
