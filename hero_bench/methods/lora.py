"""Shared base of methods that fine-tune the UNet's LoRA weights with the DDPO-K update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hero_bench.ddpo import DDPOTrainer
from hero_bench.methods.base import Method, RunContext
from hero_bench.models import LORA_TARGETS, attach_lora, save_lora


class LoraDDPOMethod(Method):
    """Attaches a LoRA adapter and owns the DDPO-K trainer (optimiser over LoRA parameters only)."""

    def setup(self, ctx: RunContext) -> None:
        super().setup(ctx)
        cfg = ctx.config
        attach_lora(ctx.pipe, rank=cfg.lora_rank, target_modules=LORA_TARGETS[cfg.lora_targets], init_seed=cfg.seed)
        self.trainer = DDPOTrainer(ctx.pipe, cfg.ddpo.model_copy(update={"seed": cfg.seed}))

    def state_dict(self) -> dict[str, Any]:
        return {"ddpo": self.trainer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state["ddpo"])

    def save_artifacts(self, folder: Path) -> None:
        save_lora(self.ctx.pipe, folder / "lora")
