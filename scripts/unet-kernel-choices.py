"""Time the toy UNet's forward+backward at the size of one d3po-style update unit under other kernel choices.

Why: d3po-style's update is about 72% of its run (docs/speed.md). Each preference pair trains all 20 steps of
both images in one pass: 40 transitions, batch 80 with classifier-free guidance. Every choice timed here changes
results in the last bits, so it could only be a named setting; this script measures what each would buy.

    python scripts/unet-kernel-choices.py                 # eager kernels, each in a fresh process
    python scripts/unet-kernel-choices.py --with-compile  # also torch.compile (minutes of compiling)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable

CHOICES = ("default", "math-sdpa", "classic-attention", "bf16-autocast", "channels-last", "two-python-threads")
BATCH = 80  # one pair: 2 images x 20 steps, doubled by CFG


def _median_seconds(step: Callable[[], None], repeats: int = 9) -> float:
    step()  # warm-up (and, for compile, the compilation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[repeats // 2]


def measure(choice: str, threads: int) -> dict[str, float | str | int]:
    """Median seconds of one forward+backward (LoRA attached, as in training) and of one no-grad forward."""
    import contextlib

    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from hero_bench.model_source import DEFAULT_MODEL
    from hero_bench.models import attach_lora, load_pipeline

    torch.manual_seed(0)
    torch.set_num_threads(1 if choice == "two-python-threads" else threads)
    pipe = load_pipeline(DEFAULT_MODEL)
    attach_lora(pipe)
    unet, cfg = pipe.unet, pipe.unet.config
    x = torch.randn(BATCH, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    t = torch.randint(0, 1000, (BATCH,))
    ctx = torch.randn(BATCH, 16, cfg.cross_attention_dim)
    if choice == "classic-attention":
        from diffusers.models.attention_processor import AttnProcessor

        unet.set_attn_processor(AttnProcessor())
    if choice == "channels-last":
        unet.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model = torch.compile(unet) if choice == "compile" else unet
    def kernels() -> contextlib.AbstractContextManager:  # a fresh context each call: sdpa_kernel's is single-use
        return sdpa_kernel([SDPBackend.MATH]) if choice == "math-sdpa" else contextlib.nullcontext()

    def autocast() -> torch.autocast:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=choice == "bf16-autocast")

    def train(rows: slice = slice(None)) -> None:
        with kernels(), autocast():
            out = model(x[rows], t[rows], encoder_hidden_states=ctx[rows], return_dict=False)[0]
        out.float().square().mean().backward()

    def forward(rows: slice = slice(0, 64)) -> None:
        with torch.no_grad(), kernels(), autocast():
            model(x[rows], t[rows], encoder_hidden_states=ctx[rows], return_dict=False)

    def halves(step: Callable[[slice], None], n: int) -> Callable[[], None]:
        def both() -> None:
            workers = [threading.Thread(target=step, args=(s,)) for s in (slice(0, n // 2), slice(n // 2, n))]
            for w in workers:
                w.start()
            for w in workers:
                w.join()

        return both

    if choice == "two-python-threads":  # one intra-op thread each, half the batch each
        train_s, forward_s = _median_seconds(halves(train, BATCH)), _median_seconds(halves(forward, 64))
    else:
        train_s, forward_s = _median_seconds(train), _median_seconds(forward)
    return {"choice": choice, "threads": threads, "train_fwd_bwd_80_s": round(train_s, 3),
            "forward_64_s": round(forward_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    parser.add_argument("--one", choices=(*CHOICES, "compile"), help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.threads)))
        return
    rows = []
    for choice in (*CHOICES, *(("compile",) if args.with_compile else ())):
        out = subprocess.run([sys.executable, __file__, "--one", choice, "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    for r in rows[1:]:
        print(f"{r['choice']:>20}: train {base['train_fwd_bwd_80_s'] / r['train_fwd_bwd_80_s']:.2f}x, "
              f"forward {base['forward_64_s'] / r['forward_64_s']:.2f}x of default")


if __name__ == "__main__":
    main()
