"""Speed-ups meant to leave results alone do (issue 15): same seed, one thread, identical results.csv (timing
columns aside), feedback log and final LoRA as the code path they replace."""

from __future__ import annotations

import copy
import os
import time
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


def _copied_state(state):  # the checkpoint before issue 15: every state_dict() a deep copy
    return state()


def test_live_state_checkpoints_give_the_same_run(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    live = _run(tmp_path / "live")
    monkeypatch.setattr(runs, "live_snapshot", _copied_state)
    copied = _run(tmp_path / "copied")
    pd.testing.assert_frame_equal(live[0], copied[0])
    assert live[1] == copied[1]
    assert live[2].keys() == copied[2].keys() and all(torch.equal(live[2][k], copied[2][k]) for k in live[2])


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)  # NaN rows of epoch 0


def test_checkpoints_written_beside_the_next_epoch_hold_the_state_of_their_own(tmp_path, monkeypatch):
    """Each epoch's checkpoint is written on a thread while the next epoch samples. Every file must hold the
    state as it was when its epoch ended (a deep copy taken then), not what the next epoch made of it. The
    writer is slowed down so that the next epoch's sampling surely runs before it reads anything."""
    torch.set_num_threads(1)
    folder = tmp_path / "run"
    copies, written = [], []
    real_snapshot, real_wait, real_save = runs.live_snapshot, snapshots.BackgroundWriter.wait, torch.save
    monkeypatch.setattr(
        runs, "live_snapshot", lambda state: (copies.append(copy.deepcopy(state())), real_snapshot(state))[1]
    )

    def slow_save(obj, path, *args, **kwargs):
        time.sleep(0.5)
        return real_save(obj, path, *args, **kwargs)

    def wait(writer, raise_error=True):
        pending = writer._thread is not None
        real_wait(writer, raise_error)
        if pending:
            written.append(torch.load(folder / CHECKPOINT, weights_only=False))

    monkeypatch.setattr(runs.torch, "save", slow_save)
    monkeypatch.setattr(snapshots.BackgroundWriter, "wait", wait)
    cfg = build_run_config("toy-hand", "hero", ddpo={"k_steps": 2}, hero={"embedding_epochs": 3}, **SMALL)
    Run(cfg, folder, progress=False).execute()
    assert len(copies) == len(written) == 3  # epochs 0, 1, 2
    assert [c["epoch"] for c in written] == [0, 1, 2]
    assert all(_same(c, w) for c, w in zip(copies, written, strict=True))


def test_state_dict_is_a_copy_except_while_a_checkpoint_is_written(tmp_path):
    e = FeedbackEmbedder(HeroConfig(), (4, 8, 8), seed=0)
    weight = e.head.net[0].weight
    copied = e.state_dict()["head"]["net.0.weight"]
    with snapshots.live_state():
        live = e.state_dict()["head"]["net.0.weight"]
    assert copied.data_ptr() != weight.data_ptr() and live.data_ptr() == weight.data_ptr()
    # the file written from live references holds the same state as the copy
    state = snapshots.live_snapshot(e.state_dict)
    assert state["head"]["net.0.weight"].data_ptr() == weight.data_ptr()  # tensors shared, not copied
    rows, w = [{"epoch": 0}], torch.zeros(3)  # what the run loop goes on to change is copied, tensors are not
    taken = snapshots.live_snapshot(lambda: {"rows": rows, "nested": [(w,)]})
    rows.append({"epoch": 1})
    rows[0]["epoch"] = 5
    assert taken["rows"] == [{"epoch": 0}] and taken["nested"][0][0] is w
    torch.save(state, tmp_path / CHECKPOINT)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    reference = e.state_dict()
    for part in ("embedding", "head"):
        assert all(torch.equal(saved[part][k], reference[part][k]) for k in reference[part])
    assert torch.equal(saved["generator"], reference["generator"])
    assert os.path.getsize(tmp_path / CHECKPOINT) > 4 * 27_000_000  # the network alone (float32)
