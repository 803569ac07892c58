"""Why d3po-style's `stat_accuracy` can sit well below 0.5 on fresh pairs while the method still learns.

Runs `hero-bench run` with the arguments given, and before each d3po-style update splits every pair's
per-step log-ratio log p_theta(x) - log p_ref(x) (D3PO's scale: divided by the latent's size) into two terms.
For a transition the policy itself sampled, x = mu_theta + sigma * eps, so with delta = mu_theta - mu_ref

    log-ratio = |delta|^2 / (2 sigma^2)  +  eps . delta / sigma
                 'drift' (>= 0)             'alignment' (mean 0)

Only the alignment term says whether the policy's change points towards the preferred image; the drift term
says how far the policy moved at that state, and is large wherever sigma is small (the last steps). The
accuracy the trainer logs is the sign of the sum, so a policy that moved more on the states of dispreferred
images scores below 0.5 there without preferring them.

    python scripts/d3po-logratio-terms.py run --task toy-safety --method d3po-style --budget 192 --batch 64 \
        --eval-n 8 --out /tmp/d3po-terms
"""

from __future__ import annotations

import sys
from typing import Any

import torch
from diffusers import StableDiffusionPipeline

import hero_bench.baselines.d3po as d3po
from hero_bench.models import lora_disabled
from hero_bench.sampling import PromptEmbeds, Trajectory, ddim_step_mean_std, guided_noise_pred

Tensor = torch.Tensor
_update = d3po.D3POTrainer.update


def step_mean_std(
    pipe: StableDiffusionPipeline, traj: Trajectory, embeds: PromptEmbeds, x: Tensor, t: Tensor
) -> tuple[Tensor, Tensor]:
    """The DDIM step's Gaussian mean and std under the pipe's current UNet (the sampler's own arithmetic)."""
    eps_pred = guided_noise_pred(pipe, x, t, embeds, traj.guidance_scale)
    return ddim_step_mean_std(pipe.scheduler, eps_pred, t, x, traj.eta)


@torch.no_grad()
def log_ratio_terms(pipe: StableDiffusionPipeline, traj: Trajectory, images: Tensor) -> tuple[Tensor, Tensor]:
    """[len(images), steps] drift and alignment terms (NaN where a step has no density)."""
    n, steps = len(images), traj.log_probs.shape[1]
    dims = traj.latents[0, 0].numel()
    drift, align = torch.full((n, steps), float("nan")), torch.full((n, steps), float("nan"))
    embeds = traj.prompt_embeds.select(images)
    for s in range(steps):
        x, x_next, t = traj.latents[images, s], traj.latents[images, s + 1], traj.timesteps[s].expand(n)
        mu, std = step_mean_std(pipe, traj, embeds, x, t)
        with lora_disabled(pipe):
            mu_ref, _ = step_mean_std(pipe, traj, embeds, x, t)
        if float(std.min()) > 0:
            delta = mu - mu_ref
            drift[:, s] = (delta**2 / (2 * std**2)).flatten(1).sum(1) / dims
            align[:, s] = ((x_next.float() - mu) * delta / std**2).flatten(1).sum(1) / dims
            # the two terms must add up to the log-ratio the trainer computes
            at = torch.full((n,), s, dtype=torch.long)
            with lora_disabled(pipe):
                ref = d3po.transition_log_probs(pipe, traj, images, at)
            log_ratio = d3po.transition_log_probs(pipe, traj, images, at) - ref
            if not torch.allclose(drift[:, s] + align[:, s], log_ratio.float(), rtol=1e-3, atol=1e-5):
                raise SystemExit(f"step {s}: drift + alignment differ from the trainer's log-ratio")
    return drift, align


def report(trainer: d3po.D3POTrainer, traj: Trajectory, pairs: list[tuple[int, int]]) -> None:
    images = torch.unique(torch.tensor(pairs))
    drift, align = log_ratio_terms(trainer.pipe, traj, images)
    row = {int(i): k for k, i in enumerate(images)}
    w = torch.tensor([row[a] for a, _ in pairs])
    lo = torch.tensor([row[b] for _, b in pairs])
    ok = torch.isfinite(drift[0])
    if float(drift[:, ok].abs().max()) == 0:
        print(f"[terms] {len(pairs)} pairs: the policy is still the reference (both terms 0)", file=sys.stderr)
        return
    d_margin, a_margin = (drift[w] - drift[lo])[:, ok], (align[w] - align[lo])[:, ok]
    share = lambda m: f"{float((m > 0).float().mean()):.3f}"  # noqa: E731
    print(
        f"[terms] {len(pairs)} pairs x {int(ok.sum())} steps: accuracy of the sum {share(d_margin + a_margin)}, "
        f"of drift alone {share(d_margin)}, of alignment alone {share(a_margin)}; mean drift preferred "
        f"{float(drift[w][:, ok].mean()):.1e}, dispreferred {float(drift[lo][:, ok].mean()):.1e}; mean |alignment "
        f"margin| {float(a_margin.abs().mean()):.1e}",
        file=sys.stderr,
    )
    per_step = ", ".join(f"{v:.2f}" for v in ((d_margin + a_margin) > 0).float().mean(0).tolist())
    print(f"[terms]   accuracy per step, noisiest first: {per_step}", file=sys.stderr)
    loser_drift = ", ".join(f"{v:.1e}" for v in drift[lo][:, ok].mean(0).tolist())
    print(f"[terms]   mean drift of the dispreferred images per step: {loser_drift}", file=sys.stderr)


def update_with_report(self: d3po.D3POTrainer, traj: Trajectory, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    if pairs:
        report(self, traj, list(pairs))
    return _update(self, traj, pairs)


if __name__ == "__main__":
    from hero_bench.cli import main

    d3po.D3POTrainer.update = update_with_report  # type: ignore[method-assign]
    sys.argv = ["hero-bench", *sys.argv[1:]]
    main()
