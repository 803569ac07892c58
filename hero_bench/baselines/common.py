# mypy: disable-error-code="attr-defined"
"""What the training baselines share: validated per-method options and a LoRA optimiser they can resume.

Why one helper for options: every baseline reads a free-form `RunConfig.method_options` dict from the CLI
or a config file, and a typo there must fail before any model is loaded, naming the field and listing the
fields that exist. Why one `LoraOptimizer`: D3PO and DreamBooth both train the UNet's LoRA weights with
AdamW outside DDPO, and exact resume needs the weights, the Adam moments and the RNG in one snapshot.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

import torch
from diffusers import StableDiffusionPipeline
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hero_bench.errors import ConfigError
from hero_bench.models import ADAPTER_NAME, has_lora, lora_norms, lora_parameters

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class MethodOptions(BaseModel):
    """Base of every baseline's options: unknown keys are errors, values are immutable once parsed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimizerOptions(MethodOptions):
    """AdamW settings shared by the LoRA-training baselines (defaults differ per baseline)."""

    learning_rate: float = Field(default=1e-4, gt=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    max_grad_norm: float | None = Field(default=1.0, gt=0)


def method_section(options: Mapping[str, Any] | None, method: str) -> dict[str, Any]:
    """This method's settings from `method_options`: the dict itself, or, when its keys are method names
    (`{"d3po-style": {...}, "dreambooth": {...}}`), this method's section. The nested form lets one
    config drive a comparison of several methods, each reading only its own settings."""
    from hero_bench.methods import METHODS  # at call time: the registry imports the baselines lazily

    options = dict(options or {})
    sections = [k for k in options if k in METHODS]
    if not sections:
        return options
    flat = [k for k in options if k not in METHODS]
    if flat:
        raise ConfigError(None, "method_options", f"mixes per-method sections ({', '.join(sections)}) with flat "
                          f"keys ({', '.join(flat)})", "either {option: value} or {method: {option: value}}")
    section = options.get(method) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(None, f"method_options.{method}", "must be a mapping of option names to values")
    return dict(section)


def parse_options(model: type[OptionsT], options: Mapping[str, Any] | None, method: str) -> OptionsT:
    """This method's `method_options` (see `method_section`) as `model`, or a ConfigError naming the bad
    field and the allowed ones."""
    try:
        return model(**method_section(options, method))
    except ValidationError as e:
        raise ConfigError.from_validation(f"method_options of {method}", e, model) from None


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
