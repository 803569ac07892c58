"""The baselines' `method_options`: one validated model per method, without torch.

Why here and not beside each baseline: `hero-bench run` checks every run's options when it builds the grid, so
that a typo is refused in a second, listing the fields that exist, instead of after torch and the model have
loaded (and after the runs before it in the grid have finished). The baselines read the same models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hero_bench.errors import ConfigError

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


class D3POOptions(OptimizerOptions):
    """`method_options` of d3po-style; defaults are D3PO's released settings."""

    beta: float = Field(default=0.1, gt=0, description="DPO temperature (D3PO: 0.1)")
    ratio_clip: float = Field(default=0.2, gt=0, lt=1, description="policy/reference ratio clipped to 1 +- this")
    learning_rate: float = Field(default=3e-5, gt=0)
    group_size: int = Field(default=7, ge=2, description="images per group sharing prompt and z_T (D3PO: 7)")
    share_noise: bool = Field(default=True, description="images of a group start from the same z_T (D3PO)")
    use_best: bool = Field(default=True, description="rank the oracle's best above the other good images")
    timestep_fraction: float = Field(default=1.0, gt=0, le=1, description="share of denoising steps trained")
    pair_batch_size: int = Field(default=1, ge=1, description="pairs per minibatch")
    grad_accum_steps: int = Field(default=1, ge=1, description="minibatches per optimiser step")
    inner_epochs: int = Field(default=1, ge=1, description="passes over each batch's pairs")
    max_pairs: int | None = Field(default=None, ge=1, description="cap on pairs per batch (random subset)")
    max_transitions_per_pass: int | None = Field(
        default=None, ge=1, description="transitions per UNet forward/backward; None = an optimiser step's all "
        "(same gradient; lower it to bound memory on large UNets)"
    )


class DreamBoothOptions(OptimizerOptions):
    """`method_options` of dreambooth; defaults are diffusers' DreamBooth-LoRA example settings."""

    learning_rate: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=1e-2, ge=0)
    num_instance_images: int = Field(default=4, ge=1, description="best images to train on (paper: 4)")
    train_steps: int = Field(default=500, ge=1, description="DreamBooth optimiser steps in total")
    batch_size: int = Field(default=1, ge=1, description="instance (and as many class) images per step")
    prior_loss_weight: float = Field(default=1.0, ge=0)
    num_class_images: int = Field(default=100, ge=1)
    identifier: str | None = Field(default=None, description="the word replacing [V]; default: a rare word")
    eval_prompt: Literal["auto", "generation", "task"] = Field(
        default="auto", description="'auto': the generation prompt unless the task has its own transfer prompts"
    )


class DDPORewardOptions(MethodOptions):
    """`method_options` of ddpo-reward."""

    reward_model: str | None = Field(default=None, description="CLIPModel folder/hub id; None: toy CLIP / PickScore")
    reward_processor: str | None = Field(default=None, description="where the tokenizer/image processor live")
    epochs: int | None = Field(default=None, ge=1, description="training epochs (paper: 50); None: budget // batch")
    device: str | None = Field(default=None, description="the reward model's device; None: the run's (--device)")


class EnhancedOptions(MethodOptions):
    """`method_options` of sd-enhanced. The API key is read from OPENAI_API_KEY only (never stored)."""

    enhancer: Literal["task", "llm"] = Field(default="task", description="'task': shipped table; 'llm': endpoint")
    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL (else HERO_BENCH_LLM_BASE_URL)")
    model: str | None = Field(default=None, description="chat model name (else HERO_BENCH_LLM_MODEL, else gpt-4)")
    timeout: float = Field(default=60.0, gt=0)
    temperature: float | None = Field(default=None, ge=0)
    cache_dir: str | None = Field(default=None, description="folder of the JSON cache (else the run folder)")


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


# The methods that take `method_options`, and the model that validates each one's. HERO, its ablations and
# sd-pretrained take none: HERO's settings are RunConfig.hero and .ddpo (flags such as --best-ratio, or a
# settings file's `hero:` and `ddpo:` blocks).
OPTIONS_OF: dict[str, type[MethodOptions]] = {
    "d3po-style": D3POOptions,
    "dreambooth": DreamBoothOptions,
    "ddpo-reward": DDPORewardOptions,
    "sd-enhanced": EnhancedOptions,
}


def check_method_options(method: str, options: Mapping[str, Any] | None, shared: bool = False) -> None:
    """Refuse `method_options` that `method` would reject or silently ignore. `shared`: the options are plain
    KEY=VALUE for a grid in which another method takes options, so a method taking none may leave them alone."""
    if method in OPTIONS_OF:
        parse_options(OPTIONS_OF[method], options, method)
        return
    own = method_section(options, method)
    named = options is not None and method in options  # {method: {...}}: meant for this method, not shared
    if own and (named or not shared):
        raise ConfigError(
            None, "method_options", f"{method} takes no method options (got {', '.join(map(str, own))})",
            "options of " + ", ".join(OPTIONS_OF) + "; HERO's settings are flags such as --best-ratio or a "
            "settings file's hero: and ddpo: blocks",
        )
