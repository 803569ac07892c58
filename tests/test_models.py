"""Pipeline loading and LoRA attach / save / load / disable, on the tiny random SD pipeline."""

from __future__ import annotations

import time

import pytest
import torch
from diffusers import DDIMScheduler

from hero_bench.models import (
    LORA_TARGETS,
    ModelLoadError,
    attach_lora,
    has_lora,
    load_lora,
    load_pipeline,
    lora_disabled,
    lora_parameters,
    save_lora,
)
from hero_bench.testing import tiny_clip_tokenizer, tiny_sd_pipeline


def _unet_out(pipe, seed: int = 0) -> torch.Tensor:
    """UNet prediction on a fixed input: a cheap fingerprint of the current weights."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 8, 8, generator=g)
    h = torch.randn(2, 77, pipe.text_encoder.config.hidden_size, generator=g)
    with torch.no_grad():
        return pipe.unet(x, torch.tensor(500), encoder_hidden_states=h).sample


def _randomise_lora(pipe, seed: int = 1) -> None:
    """LoRA's B starts at zero (a no-op); give every LoRA weight random values so it changes outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in lora_parameters(pipe):
            p.copy_(0.1 * torch.randn(p.shape, generator=g))


def test_tiny_tokenizer_is_real():
    tok = tiny_clip_tokenizer()
    assert len(tok) > 2
    ids = tok("a blue rose").input_ids
    assert tok.convert_ids_to_tokens(ids) == [
        "<|startoftext|>",
        "a</w>",
        "blue</w>",
        "rose</w>",
        "<|endoftext|>",
    ]
    assert ids != tok("a black cat").input_ids


def test_tiny_pipeline_builds_fast():
    start = time.perf_counter()
    pipe = tiny_sd_pipeline()
    assert time.perf_counter() - start < 2.0
    assert pipe.vae_scale_factor == 8 and pipe.unet.config.sample_size == 8
    assert not any(p.requires_grad for p in pipe.unet.parameters())


def test_load_pipeline_from_folder_matches_original(tmp_path, tiny_pipe):
    tiny_pipe.save_pretrained(tmp_path / "sd")
    loaded = load_pipeline(tmp_path / "sd")
    assert isinstance(loaded.scheduler, DDIMScheduler)
    assert loaded.safety_checker is None
    assert len(loaded.tokenizer) == len(tiny_pipe.tokenizer) > 2
    assert not any(p.requires_grad for p in loaded.unet.parameters())
    torch.testing.assert_close(_unet_out(loaded), _unet_out(tiny_pipe))


def test_load_pipeline_dtype(tmp_path, tiny_pipe):
    tiny_pipe.save_pretrained(tmp_path / "sd")
    loaded = load_pipeline(str(tmp_path / "sd"), dtype=torch.bfloat16)
    assert loaded.unet.dtype == torch.bfloat16


def test_hub_id_offline_fails_fast_with_hint():
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="local folder"):
        load_pipeline("hero-bench-nonexistent/tiny-sd")
    assert time.perf_counter() - start < 10.0


def test_hub_id_without_network_fails_fast_even_when_not_flagged_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: like no network
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="no network"):
        load_pipeline("hero-bench-nonexistent/tiny-sd")
    assert time.perf_counter() - start < 10.0


@pytest.mark.parametrize("bad", ["./no/such/folder", "/definitely/not/here", "not a model id"])
def test_missing_folder_is_a_clear_error(bad):
    with pytest.raises(ModelLoadError, match="does not exist: pass an existing diffusers pipeline folder"):
        load_pipeline(bad)


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is not a folder"):
        load_pipeline(tmp_path / "model.safetensors")


def test_folder_without_model_index(tmp_path):
    with pytest.raises(ModelLoadError, match="model_index.json"):
        load_pipeline(tmp_path)


def test_attach_lora_trains_only_lora_and_starts_as_identity(fresh_tiny_pipe):
    before = _unet_out(fresh_tiny_pipe)
    params = attach_lora(fresh_tiny_pipe, rank=4)
    trainable = [n for n, p in fresh_tiny_pipe.unet.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert len(params) == len(trainable)
    assert all(p.dtype == torch.float32 for p in params)
    assert not any(p.requires_grad for p in fresh_tiny_pipe.text_encoder.parameters())
    assert not any(p.requires_grad for p in fresh_tiny_pipe.vae.parameters())
    torch.testing.assert_close(_unet_out(fresh_tiny_pipe), before)


def test_attach_lora_init_seed_is_reproducible_and_leaves_global_rng():
    a, b = tiny_sd_pipeline(), tiny_sd_pipeline()
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    attach_lora(a, init_seed=3)
    assert torch.equal(torch.rand(3), expected)
    attach_lora(b, init_seed=3)
    for pa, pb in zip(lora_parameters(a), lora_parameters(b), strict=True):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize(("kwargs", "field"), [({"rank": 0}, "rank"), ({"alpha": -1.0}, "alpha")])
def test_attach_lora_rejects_bad_hyperparameters(fresh_tiny_pipe, kwargs, field):
    with pytest.raises(ValueError, match=field):
        attach_lora(fresh_tiny_pipe, **kwargs)


def test_attach_lora_twice_is_an_error(fresh_tiny_pipe):
    attach_lora(fresh_tiny_pipe)
    with pytest.raises(ValueError, match="already has a LoRA"):
        attach_lora(fresh_tiny_pipe)


def test_lora_on_bf16_model_keeps_fp32_weights():
    pipe = tiny_sd_pipeline(dtype=torch.bfloat16)
    params = attach_lora(pipe)
    assert all(p.dtype == torch.float32 for p in params)
    _randomise_lora(pipe)
    out = pipe.unet(
        torch.randn(1, 4, 8, 8, dtype=torch.bfloat16),
        torch.tensor(10),
        encoder_hidden_states=torch.randn(1, 77, 32, dtype=torch.bfloat16),
    ).sample
    out.float().sum().backward()
    assert all(p.grad is not None for p in params)


def test_save_and_load_lora_round_trip(tmp_path, fresh_tiny_pipe):
    attach_lora(fresh_tiny_pipe, rank=2, alpha=3.0)
    _randomise_lora(fresh_tiny_pipe)
    expected = _unet_out(fresh_tiny_pipe)
    save_lora(fresh_tiny_pipe, tmp_path / "lora")

    restored = tiny_sd_pipeline()
    assert not torch.allclose(_unet_out(restored), expected)
    load_lora(restored, tmp_path / "lora")
    assert has_lora(restored)
    assert restored.unet.peft_config["default"].r == 2
    assert torch.equal(_unet_out(restored), expected)
    assert lora_parameters(restored), "loaded LoRA must stay trainable to resume training"


def test_a_conv_lora_adapts_the_resnets_and_round_trips(tmp_path, fresh_tiny_pipe):
    """`lora_targets: attention+conv` must reach the ResNet convolutions, and a saved run must load it whole."""
    params = attach_lora(fresh_tiny_pipe, target_modules=LORA_TARGETS["attention+conv"])
    names = [n for n, p in fresh_tiny_pipe.unet.named_parameters() if p.requires_grad]
    assert any(".resnets." in n and ".conv1.lora_A" in n for n in names)
    assert len(params) > len(attach_lora(tiny_sd_pipeline(), target_modules=LORA_TARGETS["attention"]))
    _randomise_lora(fresh_tiny_pipe)
    expected = _unet_out(fresh_tiny_pipe)
    save_lora(fresh_tiny_pipe, tmp_path / "lora")
    restored = tiny_sd_pipeline()
    load_lora(restored, tmp_path / "lora")
    assert torch.equal(_unet_out(restored), expected)


def test_saved_lora_loads_with_plain_diffusers(tmp_path, fresh_tiny_pipe):
    attach_lora(fresh_tiny_pipe)
    _randomise_lora(fresh_tiny_pipe)
    expected = _unet_out(fresh_tiny_pipe)
    save_lora(fresh_tiny_pipe, tmp_path / "lora")
    other = tiny_sd_pipeline()
    other.load_lora_weights(tmp_path / "lora")
    torch.testing.assert_close(_unet_out(other), expected)


def test_load_lora_into_existing_adapter(tmp_path, fresh_tiny_pipe):
    attach_lora(fresh_tiny_pipe)
    _randomise_lora(fresh_tiny_pipe, seed=1)
    save_lora(fresh_tiny_pipe, tmp_path / "lora")
    expected = _unet_out(fresh_tiny_pipe)
    _randomise_lora(fresh_tiny_pipe, seed=2)
    assert not torch.allclose(_unet_out(fresh_tiny_pipe), expected)
    load_lora(fresh_tiny_pipe, tmp_path / "lora")
    assert torch.equal(_unet_out(fresh_tiny_pipe), expected)


def test_save_lora_without_adapter_is_an_error(tmp_path, fresh_tiny_pipe):
    with pytest.raises(ValueError, match="attach_lora"):
        save_lora(fresh_tiny_pipe, tmp_path)


def test_lora_disabled_gives_reference_policy(fresh_tiny_pipe):
    base = _unet_out(fresh_tiny_pipe)
    attach_lora(fresh_tiny_pipe)
    _randomise_lora(fresh_tiny_pipe)
    tuned = _unet_out(fresh_tiny_pipe)
    assert not torch.allclose(tuned, base)
    with lora_disabled(fresh_tiny_pipe):
        torch.testing.assert_close(_unet_out(fresh_tiny_pipe), base)
    torch.testing.assert_close(_unet_out(fresh_tiny_pipe), tuned)
