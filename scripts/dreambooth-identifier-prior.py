"""How much DreamBooth's identifier changes the pretrained model's images before any training.

    python scripts/dreambooth-identifier-prior.py [--tasks toy-mountain,...] [--n 64] [--identifier WORD]

Why: DreamBooth needs an identifier with a weak prior, a word that by itself changes little, so that training
can bind the instance images to it. Epoch 0 of a DreamBooth run is evaluated with the generation prompt, [V]
included, so an identifier that changes the picture also changes the baseline's starting point. For each task
this samples the task's DreamBooth generation prompt with the identifier the method would choose (or
`--identifier`) and the same prompt without it, from the same noises, and prints the mean absolute pixel
change (0-255) and the simulated oracle's success of each (docs/baselines.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hero_bench.baselines.dreambooth import choose_identifier, task_words
from hero_bench.evaluation import SamplingSettings, generate_images, seeded_noise
from hero_bench.model_source import DEFAULT_MODEL
from hero_bench.models import load_pipeline
from hero_bench.oracles.simulated import SimulatedOracle
from hero_bench.tasks.loader import load_task

TOY_TASKS = "toy-mountain,toy-blue-circle,toy-narcissus,toy-black-cat,toy-hand,toy-safety"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=TOY_TASKS, help="comma-separated toy tasks")
    ap.add_argument("--n", type=int, default=64, help="images per prompt")
    ap.add_argument("--seed", type=int, default=10_000, help="seed of the shared noises")
    ap.add_argument("--identifier", default=None, help="the word for [V] (default: the method's choice)")
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    args = ap.parse_args()
    pipe = load_pipeline(args.model, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    judge = SimulatedOracle()
    noise = seeded_noise(pipe, args.n, args.seed)
    print("| task | generation prompt | pixel change | success with [V] | success without |")
    print("|---|---|---|---|---|")
    for name in args.tasks.split(","):
        task = load_task(name)
        word = choose_identifier(pipe.tokenizer, task_words(task), args.identifier)
        prompts = {"with": task.dreambooth.with_token(word)["generation_prompt"],
                   "without": task.dreambooth.generation_without_token()}
        settings = SamplingSettings(num_inference_steps=task.default_steps)
        arrays, success = {}, {}
        for key, prompt in prompts.items():
            images = generate_images(pipe, [prompt] * args.n, noise, settings, seed=args.seed)
            arrays[key] = np.stack([np.asarray(im, dtype=np.float32) for im in images])
            success[key] = float(np.mean(judge.judge(images, task, [prompt] * args.n).good))
        change = float(np.abs(arrays["with"] - arrays["without"]).mean())
        print(f"| {name} | {prompts['with']} | {change:.1f} | {success['with']:.3f} | {success['without']:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
