"""Speed of the parts a HERO epoch spends its time in, on the shipped toy model (`tox -e bench`).

One DDPO-K update (the paper's 64 samples, K=5, minibatch 2 x accumulation 4) with all of an optimiser
step's transitions in one UNet pass against two transitions per pass (the minibatch-by-minibatch layout
it replaced); one embedding-network pass over a judged batch; the official-code preset's fit of one batch
with and without the zero-loss shortcut; the scene parser's images per second; and, when
HERO_BENCH_BENCH_FULL=1, a whole toy HERO run in a child process with its wall time and peak RSS.
Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from hero_bench.ddpo import DDPOConfig, DDPOTrainer  # noqa: E402
from hero_bench.evaluation import DEFAULT_MODEL, latent_shape  # noqa: E402
from hero_bench.hero.config import HeroConfig  # noqa: E402
from hero_bench.hero.representation import FeedbackEmbedder  # noqa: E402
from hero_bench.models import attach_lora, load_pipeline  # noqa: E402
from hero_bench.sampling import encode_prompts, sample_with_trajectory  # noqa: E402

BATCH, STEPS, CFG = 64, 20, 5.0


@pytest.fixture(scope="module")
def toy():
    """The shipped toy pipeline with a LoRA adapter and one sampled batch of trajectories."""
    torch.set_num_threads(int(os.environ.get("HERO_BENCH_BENCH_THREADS", "1")))
    pipe = load_pipeline(DEFAULT_MODEL, dtype=torch.float32)
    attach_lora(pipe, rank=4, init_seed=0)
    noise = torch.randn(BATCH, *latent_shape(pipe), generator=torch.Generator().manual_seed(0))
    embeds = encode_prompts(pipe, ["a black triangle sitting inside a box"] * BATCH, CFG)
    traj = sample_with_trajectory(pipe, embeds, noise, STEPS, eta=1.0, guidance_scale=CFG,
                                  generator=torch.Generator().manual_seed(1), batch_size=32)
    return pipe, traj


@pytest.mark.benchmark(group="ddpo-update")
@pytest.mark.parametrize("per_pass", [None, 2], ids=["one-pass-per-step", "two-transitions-per-pass"])
def test_bench_ddpo_update(benchmark, toy, per_pass):
    pipe, traj = toy
    trainer = DDPOTrainer(pipe, DDPOConfig(max_transitions_per_pass=per_pass))
    advantages = torch.linspace(-1, 1, BATCH)
    benchmark.extra_info["transitions"] = BATCH * trainer.config.k_steps
    benchmark.pedantic(trainer.update, args=(traj, advantages), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group="embedding")
def test_bench_embedding_pass(benchmark, toy):
    """One pass of triplet training over a 64-image batch (HERO runs up to `embedding_epochs` of them)."""
    _, traj = toy
    embedder = FeedbackEmbedder(HeroConfig(), traj.final_latents.shape[1:], seed=0)
    good = torch.zeros(BATCH, dtype=torch.bool)
    good[::3] = True
    benchmark(embedder.fit, traj.final_latents, good, 0, 1)


class _BackwardEveryPass(FeedbackEmbedder):
    """The fit before passes at zero loss skipped their backward (same results, tests/test_hero_representation.py)."""

    def _gradients(self, loss: torch.Tensor, value: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()


@pytest.mark.benchmark(group="embedding-official")
@pytest.mark.parametrize(
    "cls", [FeedbackEmbedder, _BackwardEveryPass], ids=["zero-loss-shortcut", "backward-every-pass"]
)
def test_bench_official_code_fit(benchmark, toy, cls):
    """The official-code preset's 500 passes over one batch, on x_1 as that preset uses; most reach zero
    loss and still step Adam (`extra_info`: how many). About a minute each."""
    _, traj = toy
    feats = traj.latents[:, -2]
    good = torch.rand(BATCH, generator=torch.Generator().manual_seed(2)) < 0.4
    best = int(good.nonzero()[0])

    def fit() -> None:
        embedder = cls(HeroConfig.from_preset("official-code"), feats.shape[1:], seed=0)
        losses = embedder.fit(feats, good, best)
        benchmark.extra_info["passes_at_zero_loss"] = losses.count(0.0)

    benchmark.pedantic(fit, rounds=1, warmup_rounds=0)


@pytest.mark.benchmark(group="parser")
def test_bench_scene_parser(benchmark):
    from hero_bench.toyworld.dataset import sample_examples
    from hero_bench.toyworld.parse import parse_image

    images = [ex.image for ex in sample_examples(0, 64)]
    benchmark.extra_info["images_per_round"] = len(images)
    benchmark(lambda: [parse_image(im) for im in images])


@pytest.mark.benchmark(group="full-run")
@pytest.mark.skipif(os.environ.get("HERO_BENCH_BENCH_FULL") != "1", reason="set HERO_BENCH_BENCH_FULL=1 (~5 min)")
def test_bench_full_toy_hero_run(benchmark):
    from hero_bench.bench import full_run

    result = benchmark.pedantic(full_run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\nfull toy HERO run: {result}")
