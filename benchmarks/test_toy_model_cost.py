"""Cost of the embedded model: sampling a batch of 32 at 20 steps with the shipped default against the old
4-channel model, side by side in one process (issue 12, goal: the new model within 1.5x of the old).

Run with `tox -e bench` or `pytest benchmarks/test_toy_model_cost.py --benchmark-only -s`. Both folders are
loaded through the same diffusers path; the figure is printed and kept in the benchmark's extra_info.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from hero_bench.evaluation import DEFAULT_MODEL, SamplingSettings, generate_images, seeded_noise  # noqa: E402
from hero_bench.models import load_pipeline  # noqa: E402

OLD_MODEL = Path(DEFAULT_MODEL).parent / "tiny-sd-v1"
"""The first shipped model (4 latent channels), kept for comparison."""
BATCH, PROMPT = 32, "one blue circle in a box"


@pytest.fixture(scope="module")
def pipes():
    if not OLD_MODEL.is_dir():
        pytest.skip(f"{OLD_MODEL} is not shipped")
    torch.set_num_threads(1)
    return {"old": load_pipeline(OLD_MODEL), "new": load_pipeline(DEFAULT_MODEL)}


def _sample(pipe) -> None:
    generate_images(pipe, [PROMPT] * BATCH, seeded_noise(pipe, BATCH, 0), SamplingSettings(batch_size=BATCH))


@pytest.mark.benchmark(group="toy-model")
@pytest.mark.parametrize("which", ["old", "new"])
def test_bench_sampling_a_batch_of_32(benchmark, pipes, which):
    benchmark.pedantic(_sample, args=(pipes[which],), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group="toy-model")
def test_new_over_old_sampling_ratio(benchmark, pipes):
    """Interleaved medians, so that load from other processes hits both alike; a figure, not an assertion."""
    for pipe in pipes.values():
        _sample(pipe)
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(5):
        for name, pipe in pipes.items():
            start = time.perf_counter()
            _sample(pipe)
            times[name].append(time.perf_counter() - start)
    ratio = statistics.median(times["new"]) / statistics.median(times["old"])
    print(f"\nnew / old model, batch {BATCH} x 20 steps = {ratio:.3f} (goal <= 1.5)")
    benchmark.extra_info["ratio_new_over_old"] = round(ratio, 3)
    benchmark.pedantic(_sample, args=(pipes["new"],), rounds=1)
