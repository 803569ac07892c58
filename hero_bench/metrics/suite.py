"""All secondary metrics of a batch in one call, with the missing ones named and explained.

Every method is scored by the same suite so that numbers in a report are comparable. A metric whose model
is not available is listed in `missing` with the reason and never appears as a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from hero_bench.metrics import imagereward as ir
from hero_bench.metrics.alignment import BlipItmScorer, ClipEmbedder
from hero_bench.metrics.availability import MetricUnavailable
from hero_bench.metrics.diversity import grouped_diversity
from hero_bench.metrics.success import success_rate

METRICS: dict[str, str] = {
    "success_rate": "fraction of images the judge marks as meeting the task",
    "diversity": "in-batch diversity: 1 - mean pairwise cosine of CLIP image embeddings (per prompt, averaged)",
    "clip_score": "mean cosine of CLIP image and prompt embeddings",
    "blip_score": "mean BLIP image-text-matching probability",
    "imagereward": "mean ImageReward score (aesthetics/preference)",
}
TOY_CLIP = Path(__file__).resolve().parents[1] / "toyworld" / "assets" / "tiny-sd" / "toy_clip"


@dataclass
class MetricResult:
    """Batch means of the available metrics, reasons for the missing ones, and caveats (e.g. unverified)."""

    values: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class MetricSuite:
    """Holds the loaded metric models; `unavailable` says why a model is absent (metric name -> reason)."""

    clip: ClipEmbedder | None = None
    blip: BlipItmScorer | None = None
    imagereward: ir.ImageRewardModel | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    """The folder each loaded model came from, so that a stored score can be tied to its model."""

    @classmethod
    def from_folders(
        cls,
        clip: str | Path | None = None,
        blip: str | Path | None = None,
        imagereward: str | Path | None = None,
    ) -> MetricSuite:
        """Load what is given; anything absent or unloadable becomes a reason instead of an error."""
        suite = cls()
        loaders = (
            ("clip", clip, ClipEmbedder.from_folder, "no CLIP model given (a CLIPModel folder, e.g. the toy_clip)"),
            ("blip", blip, BlipItmScorer.from_folder, "no BLIP ITM model given (a BlipForImageTextRetrieval folder)"),
            ("imagereward", imagereward, ir.load_imagereward,
             "no ImageReward weights given (a folder with the released ImageReward.pt and bert vocab.txt)"),
        )
        for attr, folder, load, absent in loaders:
            if folder is None:
                suite.unavailable[attr] = absent
                continue
            try:
                setattr(suite, attr, load(folder))
                suite.sources[attr] = Path(folder)
            except MetricUnavailable as e:
                suite.unavailable[attr] = str(e)
            except (OSError, ValueError, RuntimeError) as e:
                suite.unavailable[attr] = f"could not load {folder}: {type(e).__name__}: {e}"
        return suite

    @classmethod
    def for_toy_world(cls, blip: str | Path | None = None, imagereward: str | Path | None = None) -> MetricSuite:
        """The toy world's own CLIP (saved beside the embedded tiny SD) plus whatever else is given."""
        suite = cls.from_folders(clip=TOY_CLIP if TOY_CLIP.exists() else None, blip=blip, imagereward=imagereward)
        if not TOY_CLIP.exists():
            suite.unavailable["clip"] = (f"the toy CLIP is not trained yet ({TOY_CLIP} missing; "
                                         "run `hero-bench toy train`)")
        return suite

    def describe(self) -> dict[str, str]:
        """Which model provides each metric, or why it is missing (for the report's provenance)."""
        out = {"clip": "loaded" if self.clip else self.unavailable.get("clip", "absent"),
               "blip": "loaded" if self.blip else self.unavailable.get("blip", "absent"),
               "imagereward": (f"loaded ({ir.PARITY})" if self.imagereward
                               else self.unavailable.get("imagereward", "absent"))}
        return out

    def compute(
        self,
        images: Sequence[Image.Image],
        prompts: Sequence[str],
        good: Sequence[bool] | None = None,
    ) -> MetricResult:
        """Batch means of every available metric for `images` made from `prompts` (one prompt per image)."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        if not images:
            raise ValueError("no images to score")
        res = MetricResult()
        if good is None:
            res.missing["success_rate"] = "no judge verdicts given"
        else:
            res.values["success_rate"] = success_rate(good).rate
        if self.clip is None:
            reason = self.unavailable.get("clip", "no CLIP model")
            res.missing["diversity"] = res.missing["clip_score"] = reason
        else:
            emb = self.clip.image_embeddings(images)
            try:
                res.values["diversity"] = grouped_diversity(emb, list(prompts))
            except ValueError as e:
                res.missing["diversity"] = str(e)
            res.values["clip_score"] = float(self.clip.clip_score(images, prompts).mean())
        if self.blip is None:
            res.missing["blip_score"] = self.unavailable.get("blip", "no BLIP model")
        else:
            res.values["blip_score"] = float(self.blip.itm_probability(images, prompts).mean())
        if self.imagereward is None:
            res.missing["imagereward"] = self.unavailable.get("imagereward", "no ImageReward model")
        else:
            res.values["imagereward"] = float(self.imagereward.score(prompts, images).mean())
            res.notes["imagereward"] = ir.PARITY
        return res
