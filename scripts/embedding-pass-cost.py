"""What one pass of HERO's embedding fit costs, part by part, at a preset's shapes.

    python scripts/embedding-pass-cost.py [--preset official-code] [--batch 64] [--latent 16,8,8] [--repeats 30]

Why: the fit is the largest stage of the official-code preset (4,000 passes a paper-size run, most of them at
zero loss, where backward is skipped but forward and the Adam step are not). Milliseconds per forward,
forward + backward and fused Adam step, with the machine's torch threads, say whether a pass is at the
hardware's limit (docs/speed.md).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from hero_bench.hero.config import HeroConfig, preset
from hero_bench.hero.representation import FeedbackEmbedder


def per_call_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # first-call allocations are not part of a pass
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="official-code", help="HERO preset: paper or official-code")
    ap.add_argument("--batch", type=int, default=64, help="images per feedback batch")
    ap.add_argument("--latent", default="16,8,8", help="latent shape C,H,W (the toy model's)")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    shape = tuple(int(x) for x in args.latent.split(","))
    embedder = FeedbackEmbedder(HeroConfig(**preset(args.preset)), shape, seed=0)
    z = torch.randn(args.batch, *shape)
    half = args.batch // 2

    def forward() -> torch.Tensor:
        proj = embedder.head(embedder.embedding(z))
        return proj[:half].sum() - proj[half:].sum()

    def forward_backward() -> None:
        embedder.optimizer.zero_grad(set_to_none=True)  # as the fit does before a backward
        forward().backward()

    params = embedder.parameters()
    print(f"{args.preset}: {sum(p.numel() for p in params) / 1e6:.1f}M parameters, batch {args.batch}, "
          f"latent {shape}, {torch.get_num_threads()} torch threads")  # fmt: skip
    print(f"forward             {per_call_ms(forward, args.repeats):6.1f} ms  (with autograd, as in the fit)")
    print(f"forward + backward  {per_call_ms(forward_backward, args.repeats):6.1f} ms")
    print(f"fused Adam step     {per_call_ms(embedder.optimizer.step, args.repeats):6.1f} ms")


if __name__ == "__main__":
    main()
