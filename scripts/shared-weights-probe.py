"""Time the toy UNet's forwards at one thread, with its frozen weights private or mapped from one shared file.

Why: docs/scale-out.md ("Sharing the frozen weights ...") asks whether two runs side by side lose time because
each holds its own copy of the UNet's weights in the cores' shared cache. Start two of these at once, both
`private` or both `shared`, and compare with one alone:

    python scripts/shared-weights-probe.py private
    (python scripts/shared-weights-probe.py shared & python scripts/shared-weights-probe.py shared & wait)

`shared` maps the weights copy-on-write from a file in /dev/shm (written by the first process), so both processes
read the same physical pages. This was a measurement only; hero-bench does not map weights this way.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from hero_bench.evaluation import DEFAULT_MODEL
from hero_bench.models import load_pipeline

SHARED_FILE = Path("/dev/shm/hero-bench-unet-probe.f32")


def map_frozen(module: torch.nn.Module, path: Path) -> None:
    """Point every float32 parameter and buffer of `module` at one file, mapped copy-on-write."""
    tensors = [t for _, t in sorted(module.state_dict(keep_vars=True).items()) if t.dtype == torch.float32]
    if not path.exists():
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        with open(partial, "wb") as f:
            for t in tensors:
                f.write(t.detach().contiguous().numpy().tobytes())
        try:
            os.link(partial, path)  # the first writer wins; a later one maps the winner's file
        except FileExistsError:
            pass
        partial.unlink()
    total = sum(t.numel() for t in tensors)
    flat = torch.empty(0, dtype=torch.float32).set_(torch.UntypedStorage.from_file(str(path), False, total * 4))
    offset = 0
    for t in tensors:
        t.data = flat[offset : offset + t.numel()].view(t.shape)
        offset += t.numel()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("private", "shared"))
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    unet = load_pipeline(DEFAULT_MODEL, dtype=torch.float32).unet
    if args.mode == "shared":
        map_frozen(unet, SHARED_FILE)
    c = unet.config
    latents = torch.randn(args.batch, c.in_channels, c.sample_size, c.sample_size)
    context = torch.randn(args.batch, 24, c.cross_attention_dim)  # the toy text encoder's 24 tokens
    with torch.no_grad():
        unet(latents, 10, context)  # warm-up
        start = time.perf_counter()
        for i in range(args.reps):
            unet(latents, 10 + i, context)
    print(f"{args.mode} batch {args.batch}: {time.perf_counter() - start:.2f} s for {args.reps} forwards")


if __name__ == "__main__":
    main()
