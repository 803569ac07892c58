"""Method registry: CLI names -> factories building a `Method` for one run.

HERO's ablations are registered as names too, each a set of `HeroConfig` overrides, so that a whole
comparison is one `--method hero,hero-binary,...` list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hero_bench.registry import Registry, lazy, lazy_attributes

if TYPE_CHECKING:
    from hero_bench.methods.base import Method, RunContext

METHODS: Registry[Method] = Registry("method")

HERO_VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "hero": ({}, "HERO: triplet-embedding sim-to-best reward, DDPO-K on LoRA, feedback-guided noise (paper)"),
    "hero-binary": ({"reward_design": "binary"}, "HERO ablation: reward 1 for good/best, 0 otherwise"),
    "hero-positives": ({"reward_design": "positives"}, "HERO ablation: similarity to the mean of good representations"),
    "hero-noembed": (
        {"reward_design": "noembed"},
        "HERO ablation: similarity to positives on raw latents, no embedding",
    ),
    "hero-random-noise": ({"noise": "random"}, "HERO ablation: N(0, I) initial noises, no feedback-guided generation"),
}


# Methods that sample and never train: their runs read no LoRA setting (`lora_rank`, `lora_targets`).
UNTRAINED = ("sd-pretrained", "sd-enhanced")


def settings_read(method: str) -> tuple[str, ...]:
    """Which of RunConfig's `hero` and `ddpo` settings `method` reads: HERO and its ablations both, ddpo-reward
    (the same DDPO-K trainer) `ddpo`, the others neither (their settings are method options)."""
    if method in HERO_VARIANTS:
        return ("hero", "ddpo")
    return ("ddpo",) if method == "ddpo-reward" else ()


def trains_k_steps(method: str) -> bool:
    """Whether `method` trains with DDPO on K denoising steps (`ddpo.k_steps`): HERO, its ablations and
    ddpo-reward. The others ignore K, so a K above their --steps is no reason to refuse them."""
    return "ddpo" in settings_read(method)


def _hero_factory() -> Method:
    from hero_bench.hero.method import Hero

    return Hero()


def _pretrained_factory() -> Method:
    from hero_bench.baselines.pretrained import Pretrained

    return Pretrained()


for _name, (_overrides, _doc) in HERO_VARIANTS.items():
    METHODS.register(_name, _hero_factory, _doc)
METHODS.register("sd-pretrained", _pretrained_factory, "Stable Diffusion as is, random noise: the floor")

# -- baselines (issue 4); per-method settings come from RunConfig.method_options -------------------------
METHODS.register(
    "d3po-style",
    lazy("hero_bench.baselines.d3po:D3PO"),
    "D3PO: online per-step DPO on good/bad (and best) pairs against the frozen pretrained model",
)
METHODS.register(
    "dreambooth",
    lazy("hero_bench.baselines.dreambooth:DreamBooth"),
    "DreamBooth-LoRA with prior preservation on the 4 best images the oracle picks from SD samples",
)
METHODS.register(
    "ddpo-reward",
    lazy("hero_bench.baselines.ddpo_reward:DDPOReward"),
    "DDPO with a pretrained reward model (PickScore-style CLIP; the toy CLIP on the toy world)",
)
METHODS.register(
    "sd-enhanced",
    lazy("hero_bench.baselines.enhanced:Enhanced"),
    "Stable Diffusion prompted with an enhanced prompt (task table or an OpenAI-compatible LLM)",
)


def method_overrides(name: str) -> dict[str, Any]:
    """HeroConfig overrides implied by a method name (empty for non-HERO methods)."""
    return dict(HERO_VARIANTS.get(name, ({}, ""))[0])


# `Method` and `RunContext` on first use (they import torch): checking method names does not need them.
__getattr__ = lazy_attributes(__name__, {"Method": "base", "RunContext": "base"})


__all__ = ["HERO_VARIANTS", "METHODS", "Method", "RunContext", "method_overrides"]
