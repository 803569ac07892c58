# mypy: disable-error-code="attr-defined"
# (diffusers pipelines register unet, vae, scheduler, ... at runtime, invisible to mypy)
"""Load a Stable Diffusion pipeline and give its UNet a trainable LoRA adapter.

The same functions serve the toy model (a local folder) and SD v1.5 (a folder or a hub id, on a GPU in
fp16/bf16). Every method fine-tunes only LoRA weights, so the base weights are frozen here once and the
reference (pre-fine-tuning) policy is always available by switching the adapter off.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils import convert_state_dict_to_diffusers, convert_unet_state_dict_to_peft
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors import safe_open

from hero_bench.errors import ModelLoadError  # noqa: F401 - raised here; defined in errors.py for a torch-free CLI
from hero_bench.model_source import local_model_folder
from hero_bench.reach import hub_reachable

log = logging.getLogger(__name__)

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
LORA_CONFIG_NAME = "hero_lora_config.json"
DEFAULT_TARGET_MODULES: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")
# `RunConfig.lora_targets`: which UNet layers a method's LoRA adapts. "attention" is what DDPO, HERO and D3PO
# release; "attention+conv" adds each ResNet's two convolutions and time projection and each transformer's
# in/out projections and feed-forward, where a small UNet keeps most of its weights.
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "attention": DEFAULT_TARGET_MODULES,
    "attention+conv": (
        *DEFAULT_TARGET_MODULES, "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "conv1", "conv2", "time_emb_proj"
    ),
}
ADAPTER_NAME = "default"


def _offline() -> bool:
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags)


def _from_pretrained(source: str, dtype: torch.dtype | None, local_only: bool, variant: str | None):
    kwargs: dict = {"safety_checker": None, "requires_safety_checker": False, "local_files_only": local_only}
    if dtype is not None:
        kwargs["torch_dtype"] = dtype
    if variant is not None:
        kwargs["variant"] = variant
    with warnings.catch_warnings():
        # `torch_dtype` is deprecated in favour of `dtype` in recent diffusers, absent in older ones.
        warnings.filterwarnings("ignore", message=".*torch_dtype.*")
        return StableDiffusionPipeline.from_pretrained(source, **kwargs)


def load_pipeline(
    model: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    variant: str | None = None,
) -> StableDiffusionPipeline:
    """Load a StableDiffusionPipeline from a local folder or a hub id, ready for DDIM sampling.

    The scheduler is replaced by DDIM built from the model's own scheduler config (DDPO's log-probs are
    defined for DDIM), the safety checker is dropped, progress bars are off and all base weights are
    frozen. A hub id is tried from the local cache first; without network it fails within seconds
    (never the hub client's long retry loop) with a message suggesting a local folder.
    """
    text = str(model)
    folder = local_model_folder(text)
    if folder is not None:
        pipe = _from_pretrained(str(folder), dtype, local_only=True, variant=variant)
    else:
        try:
            pipe = _from_pretrained(text, dtype, local_only=True, variant=variant)
        except Exception as cached_error:  # noqa: BLE001 - any failure means "not in the local cache"
            why = "HF_HUB_OFFLINE is set" if _offline() else None if hub_reachable() else "no network"
            if why is not None:
                raise ModelLoadError(
                    f"hub id {text!r} is not in the local Hugging Face cache and the hub cannot be reached "
                    f"({why}). Download it where there is network (e.g. `huggingface-cli download {text} "
                    "--local-dir <folder>`) and pass the local folder instead."
                ) from cached_error
            pipe = _from_pretrained(text, dtype, local_only=False, variant=variant)
    return prepare_pipeline(pipe, device=device)


def prepare_pipeline(
    pipe: StableDiffusionPipeline, device: str | torch.device | None = None
) -> StableDiffusionPipeline:
    """Put any SD pipeline in the state the rest of hero-bench assumes (DDIM, frozen, quiet)."""
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    if pipe.scheduler.config.get("set_alpha_to_one", True):
        log.warning(
            "DDIM scheduler has set_alpha_to_one=True: the last denoising step has zero eta-variance, so "
            "its log-probability is undefined and DDPO cannot train on it (SD v1.5 uses False)."
        )
    pipe.safety_checker = None
    pipe.set_progress_bar_config(disable=True)
    for name in ("unet", "vae", "text_encoder"):
        module = getattr(pipe, name, None)
        if module is not None:
            module.requires_grad_(False)
            module.eval()
    if device is not None:
        pipe = pipe.to(device)
    return pipe


def _unet(pipe_or_unet: StableDiffusionPipeline | UNet2DConditionModel) -> UNet2DConditionModel:
    if isinstance(pipe_or_unet, UNet2DConditionModel):
        return pipe_or_unet
    return pipe_or_unet.unet


def has_lora(pipe_or_unet: StableDiffusionPipeline | UNet2DConditionModel) -> bool:
    """Whether `attach_lora` (or `load_lora`) has given this UNet its adapter."""
    unet = _unet(pipe_or_unet)
    return ADAPTER_NAME in (getattr(unet, "peft_config", None) or {})


def attach_lora(
    pipe_or_unet: StableDiffusionPipeline | UNet2DConditionModel,
    rank: int = 4,
    alpha: float | None = None,
    target_modules: Sequence[str] = DEFAULT_TARGET_MODULES,
    init_seed: int = 0,
    lora_dtype: torch.dtype = torch.float32,
) -> list[torch.nn.Parameter]:
    """Add a LoRA adapter to the UNet's attention projections; return the (only) trainable parameters.

    LoRA's up-projection starts at zero, so the pipeline's outputs are unchanged until the first update.
    `alpha` defaults to `rank` (scale 1, as in the original diffusers LoRA processors used by DDPO).
    The LoRA weights are kept in `lora_dtype` (fp32) even for an fp16/bf16 base model so Adam updates of
    size lr*1e-4 are not rounded away. The global RNG is left untouched; `init_seed` fixes the init.
    """
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    if alpha is not None and not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    if not target_modules:
        raise ValueError("target_modules must name at least one module type")
    unet = _unet(pipe_or_unet)
    if has_lora(unet):
        raise ValueError("the UNet already has a LoRA adapter; attach_lora once per pipeline")
    unet.requires_grad_(False)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else rank,  # type: ignore[arg-type]  # peft accepts floats
        init_lora_weights="gaussian",
        target_modules=list(target_modules),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        unet.add_adapter(config, adapter_name=ADAPTER_NAME)
    params = lora_parameters(unet)
    if not params:
        raise ValueError(f"no UNet module matched target_modules={list(target_modules)}")
    for p in params:
        p.data = p.data.to(lora_dtype)
    return params


def lora_parameters(pipe_or_unet: StableDiffusionPipeline | UNet2DConditionModel) -> list[torch.nn.Parameter]:
    """The LoRA weights of the UNet, in a stable order (what the optimiser trains and checkpoints hold)."""
    unet = _unet(pipe_or_unet)
    return [p for n, p in unet.named_parameters() if "lora_" in n and p.requires_grad]


def lora_norms(params: Sequence[torch.Tensor], initial: Sequence[torch.Tensor]) -> dict[str, float]:
    """L2 norm of all LoRA weights and of their change from `initial`: a run whose LoRA never moved (or
    barely moved) says so in results.csv, whatever its success curve shows."""
    with torch.no_grad():
        now = torch.cat([p.detach().float().cpu().flatten() for p in params])
        start = torch.cat([p.float().cpu().flatten() for p in initial])
        return {"lora_norm": float(now.norm()), "lora_delta_norm": float((now - start).norm())}


@contextmanager
def lora_disabled(pipe_or_unet: StableDiffusionPipeline | UNet2DConditionModel) -> Iterator[None]:
    """Run the reference policy (the base model without LoRA), e.g. for DPO-style baselines."""
    unet = _unet(pipe_or_unet)
    if not has_lora(unet):
        yield
        return
    unet.disable_adapters()
    try:
        yield
    finally:
        unet.enable_adapters()


def save_lora(pipe: StableDiffusionPipeline, directory: str | Path) -> Path:
    """Save the UNet's LoRA in diffusers' format (loadable by `pipe.load_lora_weights` anywhere).

    A small JSON beside it records rank, alpha and target modules so `load_lora` can rebuild the exact
    adapter on a fresh pipeline.
    """
    if not has_lora(pipe):
        raise ValueError("the pipeline has no LoRA adapter to save; call attach_lora first")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config: LoraConfig = pipe.unet.peft_config[ADAPTER_NAME]
    state = get_peft_model_state_dict(pipe.unet, adapter_name=ADAPTER_NAME)
    type(pipe).save_lora_weights(
        directory,
        unet_lora_layers=convert_state_dict_to_diffusers(state),
        weight_name=LORA_WEIGHT_NAME,
        unet_lora_adapter_metadata=config.to_dict(),
    )
    targets = config.target_modules
    meta = {"rank": config.r, "alpha": config.lora_alpha, "target_modules": sorted(targets or [])}
    (directory / LORA_CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def load_lora(pipe: StableDiffusionPipeline, directory: str | Path) -> None:
    """Load LoRA weights saved by `save_lora` into the pipeline's trainable adapter.

    Attaches the adapter first if the pipeline has none. Unlike `pipe.load_lora_weights`, the weights go
    into the same trainable adapter that `attach_lora` makes, so training can resume from them.
    """
    directory = Path(directory)
    weights = directory / LORA_WEIGHT_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"no {LORA_WEIGHT_NAME} in {directory}")
    with safe_open(str(weights), framework="pt") as f:
        state = {k.removeprefix("unet."): f.get_tensor(k) for k in f.keys() if k.startswith("unet.")}
    if not state:
        raise ValueError(f"{weights} holds no UNet LoRA weights")
    state = convert_unet_state_dict_to_peft(state)
    if not has_lora(pipe):
        meta_path = directory / LORA_CONFIG_NAME
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
        else:  # a diffusers LoRA from elsewhere: rank from the weights, scale 1
            rank = next(v.shape[0] for k, v in state.items() if "lora_A" in k)
            meta = {"rank": rank, "alpha": rank, "target_modules": list(DEFAULT_TARGET_MODULES)}
        attach_lora(pipe, rank=meta["rank"], alpha=meta["alpha"], target_modules=meta["target_modules"])
    params = dict(pipe.unet.named_parameters())
    dtype = next(p.dtype for n, p in params.items() if "lora_" in n)
    state = {k: v.to(dtype) for k, v in state.items()}
    result = set_peft_model_state_dict(pipe.unet, state, adapter_name=ADAPTER_NAME)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    missing = [k for k in getattr(result, "missing_keys", []) or [] if "lora_" in k]
    if unexpected or missing:
        raise ValueError(
            f"LoRA in {directory} does not match the adapter: {len(missing)} missing keys "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
