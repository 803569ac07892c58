"""HERO's own hyper-parameters, with the paper's defaults and a switch for every released-code deviation.

Why one model for all of them: the paper (Hiranaka et al., ICLR 2025, Table 7 and Sections 4.2-4.3) and
the authors' released code disagree on several details (see docs/paper-vs-code.md). Each disagreement is
a plain field here, so an experiment can flip one at a time, and `preset("official-code")` flips all of
them together. Fields the DDPO side needs (`k_selection`, `sd_learning_rate`) live here too so that the
two presets stay complete; the run loop passes them on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hero_bench.ddpo_config import betas_in_range
from hero_bench.errors import UnknownNameError

RewardDesign = Literal["best", "positives", "binary", "noembed"]
NoiseMode = Literal["hero", "random"]
FeatureSource = Literal["z0", "x1"]
NoiseMixing = Literal["gaussian", "slerp-like"]
NoiseAssignment = Literal["iid", "exact"]
RewardTransform = Literal["standardised", "raw-cosine", "official"]
TripletDistance = Literal["cosine", "official"]
EmbeddingTraining = Literal["online", "official"]
EmbeddingArch = Literal["paper", "official"]
KSelection = Literal["last", "random", "spread", "all"]


class HeroConfig(BaseModel):
    """Hyper-parameters of HERO's representation learning, rewards and noise sampling (paper defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- representation learning (Table 7: "Embedding Network and Classifier Head") ---
    embedding_lr: float = Field(default=1e-5, gt=0, description="Adam learning rate of E_theta and g_theta.")
    embedding_betas: tuple[float, float] = Field(default=(0.9, 0.999), description="Adam (beta1, beta2).")
    embedding_weight_decay: float = Field(default=0.0, ge=0, description="Adam weight decay.")
    embedding_batch_size: int = Field(
        default=2048,
        ge=1,
        description="Triplets per gradient step; larger sets are split into several steps.",
    )
    triplet_margin: float = Field(default=0.5, ge=0, description="Margin alpha of the triplet loss, Eq. (3).")
    embedding_epochs: int = Field(
        default=50,
        ge=0,
        description=(
            "Most passes over the current feedback batch per `fit`. The paper gives no number; the "
            "released code runs 500 (the official-code preset). 50 here: on toy batches at lr 1e-5 the "
            "margin took 88-359 passes, i.e. minutes of CPU per epoch, while the network and its Adam "
            "state carry over between batches, so training continues online across epochs."
        ),
    )
    embedding_stop_at_zero_loss: bool = Field(
        default=True,
        description=(
            "Treat a zero triplet loss as 'nothing to learn': skip that optimiser step (it would only "
            "drift on Adam's momentum) and, with 'online' training, end the fit after a pass with zero "
            "loss (every good is then closer to the best than every bad by the margin). Saves most of "
            "the 500 passes on easy batches. The released code always runs every step."
        ),
    )
    embedding_training: EmbeddingTraining = Field(
        default="online",
        description=(
            "'online': every pass uses all (good, bad) pairs of the current batch (the expectation of "
            "Eq. 3); 'official': every pass draws as many random (good, bad) triplets as there are "
            "images, with replacement, as the released code does. Both keep the network and the Adam "
            "state across feedback batches (the released code never re-initialises them)."
        ),
    )
    triplet_distance: TripletDistance = Field(
        default="cosine", description="'cosine': 1 - cos; 'official': 1 - (cos + 1) / 2 (half the scale)."
    )
    triplet_include_best: bool = Field(
        default=True,
        description=(
            "Whether the best image also counts as a positive in Eq. (3). The paper draws positives "
            "from X+, which contains the best; the released code removes it."
        ),
    )
    embedding_arch: EmbeddingArch = Field(
        default="paper",
        description=(
            "'paper': 3 convs to 8x8x64, FC to 4096, head 4096-2048-1024-512 (Appendix D). 'official': "
            "convs 4-8-16-32 channels with max-pooling, FC to 2048 with ReLU, head 2048-2048-1024-512."
        ),
    )

    # --- rewards (Section 4.2.2, 5.3.1) ---
    reward_design: RewardDesign = Field(
        default="best",
        description="'best' (paper), 'positives', 'binary', 'noembed' (ablations of Sec. 5.3.1).",
    )
    feature_source: FeatureSource = Field(
        default="z0",
        description="Latent fed to E_theta: 'z0' (paper) or 'x1', the input of the last DDIM step.",
    )
    reward_transform: RewardTransform = Field(
        default="standardised",
        description=(
            "'standardised': the cosine minus its batch mean, over its batch std (DDPO's advantages, as "
            "DDPO and the released code use); 'raw-cosine': the raw similarity itself is the DDPO weight "
            "(the literal reading of Eq. 8; a common positive weight of ~0.8 only adds gradient noise, "
            "docs/paper-vs-code.md); 'official': (cos + 1) / 2, standardised (the released code)."
        ),
    )
    advantage_clip: float = Field(default=5.0, gt=0, description="Advantages are clipped to [-clip, clip].")

    # --- feedback-guided generation (Section 4.3, Eq. 5) ---
    noise: NoiseMode = Field(
        default="hero", description="'hero': Gaussian mixture of Eq. (5); 'random': N(0, I)."
    )
    best_ratio: float = Field(
        default=0.5, description="beta of Eq. (5): share of noises drawn around z_T^best."
    )
    noise_variance: float = Field(
        default=0.1,
        description=(
            "Variance of the perturbation added to a chosen noise (eps0^2 = 0.1 in the paper; the "
            "released code's 'latent_noise' 0.1 is a standard deviation, i.e. variance 0.01)."
        ),
    )
    noise_mixing: NoiseMixing = Field(
        default="gaussian",
        description=(
            "'gaussian': z + eps0 * e, i.e. N(z, eps0^2 I); 'slerp-like': sqrt(1 - s^2) z + s e with "
            "s = sqrt(noise_variance), which keeps unit variance."
        ),
    )
    noise_assignment: NoiseAssignment = Field(
        default="iid",
        description=(
            "'iid': every noise picks its mixture component independently (Eq. 5 as a density); "
            "'exact': ceil(beta * n) noises around the best, the rest spread over the other goods, as "
            "the released code does."
        ),
    )

    # --- DDPO side, passed on by the run loop ---
    k_selection: KSelection = Field(
        default="last",
        description=(
            "Which K steps DDPO-K trains on: 'last' K of the trajectory (Appendix B), 'random' K "
            "(the released code shuffles timesteps before taking K), 'spread' (K evenly spread) or 'all'."
        ),
    )
    sd_learning_rate: float = Field(
        default=3e-4, gt=0, description="LoRA learning rate (paper 3e-4, code 1e-3)."
    )

    @model_validator(mode="before")
    @classmethod
    def _name_unknown_fields(cls, data: Any) -> Any:
        """pydantic says an extra field is forbidden but not which exist; say both."""
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                raise ValueError(
                    f"unknown HERO field(s) {', '.join(unknown)}; valid fields: {', '.join(cls.model_fields)}"
                )
        return data

    @field_validator("reward_transform", mode="before")
    @classmethod
    def _old_transform_name(cls, v: Any) -> Any:
        """'cosine' was the raw-cosine transform's name before it stopped being the default: old run
        folders' config.json files keep loading (and keep meaning the raw cosine)."""
        return "raw-cosine" if v == "cosine" else v

    @field_validator("best_ratio")
    @classmethod
    def _check_beta(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"best_ratio (beta) must lie in [0, 1], got {v}")
        return v

    @field_validator("noise_variance")
    @classmethod
    def _check_variance(cls, v: float) -> float:
        if not v > 0.0:
            raise ValueError(f"noise_variance (eps0^2) must be > 0, got {v}")
        return v

    @field_validator("embedding_betas")
    @classmethod
    def _check_betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        return betas_in_range("embedding_betas", v)

    @model_validator(mode="after")
    def _check_slerp_scale(self) -> HeroConfig:
        if self.noise_mixing == "slerp-like" and self.noise_variance >= 1.0:
            raise ValueError(
                "noise_variance must be < 1 with noise_mixing='slerp-like' (it scales the centre by "
                f"sqrt(1 - noise_variance)), got {self.noise_variance}"
            )
        return self

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> HeroConfig:
        """A config from a named preset, with individual fields overridden."""
        return cls(**{**preset(name), **overrides})


# The released code's choices (github.com/sony/hero, read Nov 2026); docs/paper-vs-code.md explains each.
_OFFICIAL_CODE: dict[str, Any] = {
    "embedding_epochs": 500,
    "embedding_training": "official",
    "embedding_stop_at_zero_loss": False,
    "triplet_distance": "official",
    "triplet_include_best": False,
    "embedding_arch": "official",
    "feature_source": "x1",
    "reward_transform": "official",
    "noise_variance": 0.01,
    "noise_mixing": "slerp-like",
    "noise_assignment": "exact",
    "k_selection": "random",
    "sd_learning_rate": 1e-3,
}

PRESETS: dict[str, dict[str, Any]] = {"paper": {}, "official-code": _OFFICIAL_CODE}


def preset(name: str) -> dict[str, Any]:
    """All HERO fields for preset `name` ("paper" or "official-code") as a plain dict."""
    if name not in PRESETS:
        raise UnknownNameError("HERO preset", name, PRESETS)
    return HeroConfig(**PRESETS[name]).model_dump()
