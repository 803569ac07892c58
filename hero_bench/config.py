"""One run's configuration (one method, one task, one seed), with the paper's defaults (Table 7).

Built from CLI flags or a YAML/JSON file; every field is validated with a message naming it, and the
whole config is snapshotted into the run folder so that `--resume` and reports know what produced a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hero_bench.ddpo_config import DDPOConfig
from hero_bench.devices import DEVICE_FORMS, DEVICE_PATTERN
from hero_bench.errors import ConfigError, yaml_problem
from hero_bench.hero.config import HeroConfig, preset


class RunConfig(BaseModel):
    """Everything that determines a run. Paper defaults: 64 images x 8 epochs = 512 feedback."""

    model_config = ConfigDict(extra="forbid")

    task: str
    method: str = "hero"
    seed: int = Field(default=0, ge=0, description="seed of the run (noises, oracle noise, LoRA init)")
    budget: int = Field(default=512, ge=1, description="feedback budget = images judged by the training oracle")
    batch: int = Field(default=64, ge=2, description="images generated and judged per epoch")
    model: str | None = Field(default=None, description="diffusers SD folder or hub id; None = embedded toy model")
    oracle: str = "simulated"
    oracle_options: dict[str, Any] = Field(default_factory=dict)
    judge: str = "simulated"
    judge_options: dict[str, Any] = Field(
        default_factory=dict, description="the judge's options, as oracle_options are the oracle's (e.g. model)"
    )
    steps: int | None = Field(
        default=None, ge=1, description="DDIM steps; None = the task's default (20 toy/hand, 50 else)"
    )
    eta: float = Field(
        default=1.0, gt=0, le=1, description="DDIM eta (>0: DDPO needs a stochastic sampler; >1 gives NaN latents)"
    )
    guidance_scale: float = Field(default=5.0, ge=1.0)
    eval_n: int = Field(default=64, ge=1, description="evaluation images per epoch, judged by the judge")
    eval_seed: int = Field(default=10_000, description="evaluation noises use eval_seed + seed (fixed within a run)")
    eval_std_noise: bool = Field(
        default=True,
        description="also evaluate a method with its own noise distribution (HERO) on the standard N(0, I) "
        "evaluation noises, so that its fine-tuned model is measured apart from its noise (twice the sampling)",
    )
    lora_rank: int = Field(default=4, ge=1)
    lora_targets: Literal["attention", "attention+conv"] = Field(
        default="attention",
        description="UNet layers the LoRA adapts: the attention projections (DDPO, HERO, D3PO), or also the "
        "ResNet convolutions and transformer projections/feed-forward (models.LORA_TARGETS)",
    )
    sample_batch_size: int = Field(default=32, ge=1, description="images per UNet call while sampling")
    device: str = Field(
        default="auto",
        description="where the pipeline and the training live: auto (CUDA for a real SD when torch sees a GPU, "
        "the CPU for the toy model), cpu, cuda, cuda:N; not part of a run's identity: it may resume on another",
    )
    dtype: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32", description="precision of the pipeline's weights (LoRA weights stay fp32); fp16 needs CUDA"
    )
    preset: str = "paper"
    hero: HeroConfig = Field(default_factory=HeroConfig)
    ddpo: DDPOConfig = Field(default_factory=DDPOConfig)
    method_options: dict[str, Any] = Field(default_factory=dict)
    variant: str = Field(default="", description="label of a swept setting, e.g. 'best_ratio=1.0' (folder and tables)")
    command: str = ""

    @property
    def label(self) -> str:
        """Method name plus the swept setting, if any: what tables and folders are keyed by."""
        return f"{self.method}+{self.variant}" if self.variant else self.method

    @property
    def epochs(self) -> int:
        return self.budget // self.batch

    @field_validator("device")
    @classmethod
    def _device_form(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError(f"give {DEVICE_FORMS}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.budget < self.batch:
            raise ValueError(f"budget ({self.budget}) must be at least one batch ({self.batch})")
        if self.budget % self.batch:
            whole = self.epochs * self.batch
            raise ValueError(
                f"budget ({self.budget}) is not a whole number of batches ({self.batch}): a run judges whole "
                f"batches, so it would use {whole}; give {whole} or {whole + self.batch}"
            )
        from hero_bench.methods import trains_k_steps

        trains_more_than_sampled = self.steps is not None and self.ddpo.steps_per_sample(self.steps) > self.steps
        if trains_more_than_sampled and trains_k_steps(self.method):
            raise ValueError(f"ddpo.k_steps (K={self.ddpo.k_steps}) cannot exceed steps ({self.steps})")
        return self


# `hero-bench bench` name -> (method, HERO preset): the full runs it times against their sampling floor, the
# three lines issue 15 sets goals for (2x, 3x, 3x)
BENCH_PRESETS: dict[str, tuple[str, str]] = {
    "paper": ("hero", "paper"),
    "official-code": ("hero", "official-code"),
    "d3po-style": ("d3po-style", "paper"),
}


def build_run_config(
    task: str,
    method: str = "hero",
    preset_name: str = "paper",
    hero: dict[str, Any] | None = None,
    ddpo: dict[str, Any] | None = None,
    source: str = "command line",
    **fields: Any,
) -> RunConfig:
    """A RunConfig from a preset plus overrides. The official-code preset also switches DDPO's learning
    rate and K-step selection (kept on the DDPO side so that every RL method reads them from one place)."""
    try:
        hero_cfg = HeroConfig(**{**preset(preset_name), **(hero or {})})
    except ValidationError as e:
        raise ConfigError.from_validation(f"{source} (hero settings)", e, HeroConfig) from None
    try:
        ddpo_fields = dict(ddpo or {})
        if preset_name != "paper":
            ddpo_fields.setdefault("learning_rate", hero_cfg.sd_learning_rate)
            ddpo_fields.setdefault("timestep_selection", hero_cfg.k_selection)
        return RunConfig(
            task=task, method=method, preset=preset_name, hero=hero_cfg, ddpo=DDPOConfig(**ddpo_fields), **fields
        )
    except ValidationError as e:
        raise ConfigError.from_validation(source, e, RunConfig) from None


def load_config_file(path: str | Path, **overrides: Any) -> RunConfig:
    """A RunConfig from a YAML or JSON file (fields as in RunConfig; `preset` picks HERO defaults)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise ConfigError(str(path), None, f"cannot read config: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(str(path), None, yaml_problem(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "<root>", "expected a mapping of RunConfig fields")
    data.update({k: v for k, v in overrides.items() if v is not None})
    preset_name = data.pop("preset", "paper")
    hero, ddpo = data.pop("hero", None), data.pop("ddpo", None)
    if "task" not in data:
        raise ConfigError(str(path), "task", "missing; name a task or a task YAML path")
    return build_run_config(preset_name=preset_name, hero=hero, ddpo=ddpo, source=str(path), **data)
