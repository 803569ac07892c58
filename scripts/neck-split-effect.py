"""Which parses the neck split changes: each image parsed with `necks.split_at_necks` off and on.

    python scripts/neck-split-effect.py "out/gen/*/*.png"

Prints each changed image's objects before and after, and the count; docs/toyworld.md has the figures.
"""

from __future__ import annotations

import glob
import sys

import numpy as np
from PIL import Image

from hero_bench.toyworld import parse


def main(pattern: str) -> None:
    split = parse.split_at_necks
    files = sorted(f for f in glob.glob(pattern) if not f.endswith("contact_sheet.png"))
    changed = 0
    for f in files:
        image = np.asarray(Image.open(f).convert("RGB"))
        parse.split_at_necks = lambda blob, min_area: [blob]
        before = parse.parse_image(image)
        parse.split_at_necks = split
        after = parse.parse_image(image)
        if before != after:
            changed += 1
            objects = lambda s: [(o.shape, o.colour) for o in s.objects]  # noqa: E731
            print(f"{f}: {objects(before)} -> {objects(after)}")
    print(f"{changed}/{len(files)} parses changed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit('usage: python scripts/neck-split-effect.py "<glob of PNGs>"')
    main(sys.argv[1])
