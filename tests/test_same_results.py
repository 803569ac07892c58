"""Speed-ups meant to leave results alone do (issue 15): same seed, one thread, identical results.csv (timing
columns aside), feedback log and final LoRA as the code path they replace."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file

from hero_bench import runs, snapshots
from hero_bench.config import build_run_config
from hero_bench.hero.config import HeroConfig
from hero_bench.hero.representation import FeedbackEmbedder
from hero_bench.runs import CHECKPOINT, Run
from hero_bench.timing import timing_columns

SMALL = dict(budget=8, batch=4, eval_n=4, steps=6, sample_batch_size=8)


def _run(folder: Path) -> tuple[pd.DataFrame, str, dict[str, torch.Tensor]]:
    cfg = build_run_config("toy-hand", "hero", ddpo={"k_steps": 2}, hero={"embedding_epochs": 3}, **SMALL)
    Run(cfg, folder, progress=False).execute()
    table = pd.read_csv(folder / "results.csv")
    lora = {}
    for f in sorted((folder / "final" / "lora").glob("*.safetensors")):
        lora.update(load_file(f))
    return table.drop(columns=timing_columns(table.columns)), (folder / "feedback.jsonl").read_text(), lora


def _copying_save(state, path):  # the checkpoint before issue 15: every state_dict() a deep copy
    torch.save(state(), path)


def test_live_state_checkpoints_give_the_same_run(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    live = _run(tmp_path / "live")
    monkeypatch.setattr(runs, "save_live", _copying_save)
    copied = _run(tmp_path / "copied")
    pd.testing.assert_frame_equal(live[0], copied[0])
    assert live[1] == copied[1]
    assert live[2].keys() == copied[2].keys() and all(torch.equal(live[2][k], copied[2][k]) for k in live[2])


def test_state_dict_is_a_copy_except_while_a_checkpoint_is_written(tmp_path):
    e = FeedbackEmbedder(HeroConfig(), (4, 8, 8), seed=0)
    weight = e.head.net[0].weight
    copied = e.state_dict()["head"]["net.0.weight"]
    with snapshots.live_state():
        live = e.state_dict()["head"]["net.0.weight"]
    assert copied.data_ptr() != weight.data_ptr() and live.data_ptr() == weight.data_ptr()
    # the file written from live references holds the same state as the copy
    snapshots.save_live(e.state_dict, tmp_path / CHECKPOINT)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    reference = e.state_dict()
    for part in ("embedding", "head"):
        assert all(torch.equal(saved[part][k], reference[part][k]) for k in reference[part])
    assert torch.equal(saved["generator"], reference["generator"])
    assert os.path.getsize(tmp_path / CHECKPOINT) > 4 * 27_000_000  # the network alone (float32)
