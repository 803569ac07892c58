"""Fit the parser's reflection-shape rule (`REFLECTION_SHAPE_WEIGHTS` in hero_bench/toyworld/parse.py).

Why: reflections are pale, small and blurred by the VAE, so each single measure (corner fill, taper, box fill)
overlaps between circles, squares and triangles, and the hand-set thresholds misread about 2% of reflections
after a round trip. A three-class linear score over the same measures, fitted on round trips of rendered water
scenes, halves that. Tuning seeds only (2000017, 3000011): the fidelity seed (1000003) stays unseen, and each
seed's errors are printed when fitted on the other seed alone.

    OMP_NUM_THREADS=1 python scripts/fit-reflection-shapes.py [--model hero_bench/toyworld/assets/tiny-sd]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hero_bench.toyworld import parse as P
from hero_bench.toyworld.dataset import sample_examples
from hero_bench.toyworld.fidelity import load_vae, round_trip

SEEDS = (2000017, 3000011)
SHAPES = ("circle", "square", "triangle")


def reflection_blobs(model: str, seed: int, n: int = 3000) -> list[tuple[str, list[float], str]]:
    """(true shape, features, the parser's current reading) of every reflection blob in seed's water scenes."""
    scenes = [e for e in sample_examples(seed, n) if e.scene.kind == "water"]
    decoded = round_trip(load_vae(model), np.stack([e.image for e in scenes]))
    out = []
    for example, image in zip(scenes, decoded, strict=True):
        truth = example.scene.reflections
        wl = P.water_line(image)
        below, _ = P._foreground(image[wl:], P.WATER, P.REFLECTION_DISTANCE)
        for r in P._components(below):
            y0, x0, y1, x1 = r.bbox
            if min(y1 - y0, x1 - x0) < 5 or not truth:
                continue
            cx, cy = (x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2 + wl
            nearest = min(truth, key=lambda q: (q.cx - cx) ** 2 + (q.cy - cy) ** 2)
            crop = np.zeros((y1 - y0, x1 - x0), bool)
            crop[r.coords[:, 0] - y0, r.coords[:, 1] - x0] = True
            features = P.shape_features(crop)
            blob = np.zeros(below.shape, bool)
            blob[r.coords[:, 0], r.coords[:, 1]] = True
            now = P.classify_shape(blob, reflection=True)[0] if P.REFLECTION_SHAPE_WEIGHTS else "?"
            out.append((nearest.shape, [features[k] for k in P.REFLECTION_FEATURES], now))
    return out


def fit(x: torch.Tensor, y: torch.Tensor, weight_decay: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression (L-BFGS, a small L2 penalty): weights [features, 3] and biases [3]."""
    w = torch.zeros(x.shape[1], len(SHAPES), requires_grad=True)
    b = torch.zeros(len(SHAPES), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + weight_decay * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="hero_bench/toyworld/assets/tiny-sd")
    args = ap.parse_args()
    per_seed = {s: reflection_blobs(args.model, s) for s in SEEDS}
    data = {s: (torch.tensor([f for _, f, _ in rows]), torch.tensor([SHAPES.index(t) for t, _, _ in rows]))
            for s, rows in per_seed.items()}  # fmt: skip
    for s, rows in per_seed.items():
        other = [o for o in SEEDS if o != s]
        w, b = fit(torch.cat([data[o][0] for o in other]), torch.cat([data[o][1] for o in other]))
        x, y = data[s]
        fitted = int(((x @ w + b).argmax(1) != y).sum())
        now = sum(t != c for t, _, c in rows) if P.REFLECTION_SHAPE_WEIGHTS else "?"
        print(f"seed {s}: {len(rows)} misread by the shipped rule: {now}, by one fitted on the other seed: {fitted}")
    w, b = fit(torch.cat([d[0] for d in data.values()]), torch.cat([d[1] for d in data.values()]))
    print("REFLECTION_SHAPE_WEIGHTS = {  # feature -> (circle, square, triangle)")
    for name, row in zip(P.REFLECTION_FEATURES, w.tolist(), strict=True):
        print(f'    "{name}": ({", ".join(f"{v:.2f}" for v in row)}),')
    print("}")
    print(f"REFLECTION_SHAPE_BIAS = ({', '.join(f'{v:.2f}' for v in b.tolist())})")


if __name__ == "__main__":
    main()
