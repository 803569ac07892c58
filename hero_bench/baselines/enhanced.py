"""`sd-enhanced`: the pretrained model prompted with an enhanced prompt; nothing is trained or judged.

The prompts are enhanced once, at setup, so that an unreachable LLM fails the run before any sampling,
and every answer is cached (`enhanced_prompts.json` in `method_options.cache_dir`, else in the run folder
when the loop provides one) so repeated or resumed runs evaluate the very same prompts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from hero_bench.baselines.enhancers import (
    CACHE_FILE,
    EnhancerCache,
    OpenAIChatEnhancer,
    PromptEnhancer,
    TaskTableEnhancer,
    enhance_cached,
)
from hero_bench.baselines.options import EnhancedOptions, parse_options
from hero_bench.methods.base import Method, RunContext
from hero_bench.oracles.base import Feedback
from hero_bench.sampling import Trajectory

log = logging.getLogger(__name__)


def build_enhancer(options: EnhancedOptions) -> PromptEnhancer:
    if options.enhancer == "task":
        return TaskTableEnhancer()
    return OpenAIChatEnhancer(options.base_url, options.model, options.timeout, options.temperature)


class Enhanced(Method):
    """Samples the untouched model with each prompt replaced by its enhanced version."""

    name = "sd-enhanced"
    uses_feedback = False
    trains = False

    def setup(self, ctx: RunContext) -> None:
        super().setup(ctx)
        self.options = parse_options(EnhancedOptions, ctx.config.method_options, self.name)
        self.enhancer = build_enhancer(self.options)
        folder = self.options.cache_dir or getattr(ctx, "folder", None)  # the run folder, once the loop passes it
        self.cache = EnhancerCache(Path(folder) / CACHE_FILE if folder is not None else None)
        self.mapping: dict[str, str] = {}
        for prompt in dict.fromkeys([ctx.task.prompt, *ctx.task.eval_prompts]):
            enhanced = enhance_cached(self.enhancer, self.cache, prompt, ctx.task)
            if enhanced is None:
                log.warning("%s has no enhanced version of %r; it is used unchanged", self.enhancer.key, prompt)
            self.mapping[prompt] = enhanced or prompt

    def training_prompts(self, n: int) -> list[str]:
        return [self.mapping[self.ctx.task.prompt]] * n

    def eval_prompts(self, n: int) -> list[str]:
        return [self.mapping[p] for p in super().eval_prompts(n)]

    def update(self, traj: Trajectory, images: list[Image.Image], feedback: Feedback) -> dict[str, float]:
        raise RuntimeError("sd-enhanced does not train")
