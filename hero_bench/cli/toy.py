"""`hero-bench toy ...`: train the embedded tiny Stable Diffusion and measure its VAE's fidelity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hero_bench.cli.common import (
    CfgOpt,
    EtaOpt,
    JsonOpt,
    ModelOpt,
    SeedOpt,
    StepsOpt,
    check_model,
    check_out_folder,
    console,
)
from hero_bench.errors import HeroBenchError

toy_app = typer.Typer(no_args_is_help=True, help="The embedded toy world and its tiny Stable Diffusion.")


@toy_app.command("train")
def toy_train_cmd(
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: the package's embedded model).")
    ] = None,
    seed: SeedOpt = 0,
    stages: Annotated[
        str, typer.Option("--stages", help="Comma-separated subset of text,vae,unet,decoder (resumable).")
    ] = "text,vae,unet,decoder",
    unet_steps: Annotated[int | None, typer.Option("--unet-steps", min=1, help="Override UNet training steps.")] = None,
    vae_steps: Annotated[int | None, typer.Option("--vae-steps", min=1, help="Override VAE training steps.")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny models and a few steps: checks the script runs.")
    ] = False,
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="cpu (the shipped weights were made there), cuda, cuda:N, or auto (CUDA if torch sees a GPU).",
        ),
    ] = "cpu",
) -> None:
    """Train the toy world's tiny Stable Diffusion (tokenizer, CLIP, VAE, UNet) and save it as a diffusers folder."""
    from hero_bench.devices import check_device_form, run_device

    check_device_form(device)
    names = tuple(s.strip() for s in stages.split(",") if s.strip())
    if not names:
        raise HeroBenchError(f"--stages {stages!r} names no stage: give some of text,vae,unet,decoder")
    if out is not None:
        check_out_folder(out)  # before torch loads
    from hero_bench.toyworld import train

    cfg = train.quick_config(seed) if quick else train.TrainConfig(seed=seed)
    cfg.device = run_device(device, real_model=True)  # `auto` as for a real model: the GPU when there is one
    if unet_steps is not None:
        cfg.unet_steps = unet_steps
    if vae_steps is not None:
        cfg.vae_steps = vae_steps
    target = out or train.DEFAULT_OUT
    console.print(f"training: {train.expected_steps_hint(cfg)} -> {target}")
    train.train_all(cfg, target, stages=names)
    console.print(f"saved: {target} (load it with StableDiffusionPipeline.from_pretrained)")


@toy_app.command("fidelity")
def toy_fidelity_cmd(
    model: ModelOpt = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Rendered scenes to round-trip.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Scene seed (default: one training never used).")] = 1_000_003,
    json_out: JsonOpt = False,
) -> None:
    """Parser agreement on unseen rendered scenes after the VAE round trip: the ceiling of every toy verdict."""
    from hero_bench.model_source import DEFAULT_MODEL

    check_model(model)  # a wrong --model is refused before torch loads
    from hero_bench.toyworld.fidelity import fidelity_table, load_vae, round_trip_agreement

    scores, misses, mae = round_trip_agreement(load_vae(model or DEFAULT_MODEL), n=n, seed=seed)
    if json_out:
        print(json.dumps({"n": n, "seed": seed, "mean_abs_pixel_error": mae, "agreement": scores}))
        return
    table = Table(title=f"VAE round trip: parser agreement on {n} unseen scenes (seed {seed})")
    table.add_column("property", overflow="fold")
    table.add_column("agreement", justify="right")
    for prop, value in fidelity_table(scores):
        table.add_row(prop, f"{value:.4f}")
    console.print(table, soft_wrap=False)
    console.print(f"mean absolute pixel error {mae:.2f} (0-255); disagreements: {len(misses)}")


@toy_app.command("palette")
def toy_palette_cmd(
    model: ModelOpt = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Generated (and rendered) images per prompt.")] = 32,
    seed: SeedOpt = 0,
    prompt: Annotated[
        list[str] | None, typer.Option("--prompt", help="Prompt to measure (repeatable; default: the toy set).")
    ] = None,
    steps: StepsOpt = None,
    cfg: CfgOpt = 5.0,
    eta: EtaOpt = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """Flat colours and crisp shapes, per prompt: the share of object pixels within a palette colour and the
    share of objects whose shape sits near a judge threshold, generated vs rendered vs VAE round trip."""
    from hero_bench.model_source import DEFAULT_MODEL

    check_model(model)  # a wrong --model is refused before torch loads
    from hero_bench.evaluation import SamplingSettings, generate_images, seeded_noise
    from hero_bench.models import load_pipeline
    from hero_bench.toyworld.crispness import ShapeAmbiguity
    from hero_bench.toyworld.fidelity import round_trip
    from hero_bench.toyworld.palette import PALETTE_PROMPTS, PaletteShare, prompt_family, rendered_images

    pipe = load_pipeline(model or DEFAULT_MODEL)
    vae = pipe.vae  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = []
    for text in prompt or list(PALETTE_PROMPTS):
        settings = SamplingSettings(num_inference_steps=steps or 20, eta=eta, guidance_scale=cfg)
        generated = generate_images(pipe, [text] * n, seeded_noise(pipe, n, seed), settings, seed=seed)
        rendered = rendered_images(text, n, seed)
        trip = list(round_trip(vae, rendered))
        rows.append(
            {
                "prompt": text,
                "family": prompt_family(text) or "-",
                "generated": PaletteShare.of(generated).share,
                "rendered": PaletteShare.of(list(rendered)).share,
                "vae_round_trip": PaletteShare.of(trip).share,
                "ambiguous_generated": ShapeAmbiguity.of(generated).share,
                "ambiguous_rendered": ShapeAmbiguity.of(list(rendered)).share,
                "ambiguous_vae_round_trip": ShapeAmbiguity.of(trip).share,
            }
        )
    if json_out:
        sampling = {"steps": steps or 20, "eta": eta, "cfg": cfg}
        print(json.dumps({"model": str(model or DEFAULT_MODEL), "n": n, "seed": seed, **sampling, "prompts": rows}))
        return
    table = Table(title=f"On-palette share of object pixels and ambiguous shapes, {n} images per prompt (seed {seed})")
    columns = ("prompt", "on-palette: generated", "rendered", "VAE trip", "ambiguous: generated", "rendered",
               "VAE trip")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col == "prompt" else "right", overflow="fold")
    keys = ("generated", "rendered", "vae_round_trip", "ambiguous_generated", "ambiguous_rendered",
            "ambiguous_vae_round_trip")  # fmt: skip
    for r in rows:
        table.add_row(r["prompt"], *(f"{r[k]:.3f}" for k in keys))
    console.print(table)
