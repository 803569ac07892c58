# mypy: disable-error-code="attr-defined"
"""What the training baselines share: a LoRA optimiser they can resume (their options are in options.py).

Why one `LoraOptimizer`: D3PO and DreamBooth both train the UNet's LoRA weights with AdamW outside DDPO, and
exact resume needs the weights, the Adam moments and the RNG in one snapshot.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

from hero_bench.baselines.options import OptimizerOptions
from hero_bench.models import ADAPTER_NAME, has_lora, lora_norms, lora_parameters


class LoraOptimizer:
    """AdamW over the UNet's LoRA parameters plus a seeded generator, checkpointable as one dict."""

    def __init__(self, pipe: StableDiffusionPipeline, options: OptimizerOptions, seed: int) -> None:
        if not has_lora(pipe):
            raise ValueError("the pipeline's UNet has no LoRA adapter; call hero_bench.models.attach_lora first")
        self.pipe = pipe
        self.options = options
        self.params = lora_parameters(pipe)
        self.optimizer = torch.optim.AdamW(
            self.params, lr=options.learning_rate, betas=options.adam_betas, eps=options.adam_eps,
            weight_decay=options.weight_decay,
        )
        self.generator = torch.Generator().manual_seed(seed)
        self.steps = 0
        self.initial_params = [p.detach().cpu().clone() for p in self.params]
        """The seeded initial LoRA (built right before, by `attach_lora`): a resumed run rebuilds the same."""

    def lora_norms(self) -> dict[str, float]:
        """`lora_norm` and `lora_delta_norm` (change since the initial LoRA), as the DDPO trainer logs them."""
        return lora_norms(self.params, self.initial_params)

    def step(self) -> float:
        """Clip the accumulated gradients (if configured), apply them, clear them; returns the grad norm."""
        norm = float("nan")
        if self.options.max_grad_norm is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.options.max_grad_norm))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1
        return norm

    def state_dict(self) -> dict[str, Any]:
        lora = get_peft_model_state_dict(self.pipe.unet, adapter_name=ADAPTER_NAME)
        return {
            "lora": {k: v.detach().cpu().clone() for k, v in lora.items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),  # torch hands out live references
            "generator": self.generator.get_state(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_peft_model_state_dict(self.pipe.unet, state["lora"], adapter_name=ADAPTER_NAME)
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"])
        self.steps = int(state["steps"])
