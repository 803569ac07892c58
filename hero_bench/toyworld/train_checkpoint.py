"""Periodic, atomic checkpoints of one `toy train` stage, so that a stopped training resumes where it was.

Training the toy model takes longer than one sitting on a CPU. Each stage saves its model, optimiser,
learning-rate schedule, EMA and every random state every `every` steps; re-issuing the same command loads it
and continues with the same batches it would have drawn, so a resumed training gives the same weights as an
uninterrupted one (for the same thread count). A checkpoint written under other settings is refused rather
than silently mixed in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hero_bench.errors import HeroBenchError

CHECKPOINT_DIR = ".train_checkpoints"


class StageCheckpoint:
    """Save/load the full training state of one stage under `<out>/.train_checkpoints/<stage>.pt`."""

    def __init__(self, out: Path, stage: str, every: int, fingerprint: dict[str, Any]):
        self.path = Path(out) / CHECKPOINT_DIR / f"{stage}.pt"
        self.every = max(1, int(every))
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none. Settings that differ from the saved ones are an error."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != self.fingerprint:
            raise HeroBenchError(
                f"{self.path} was written with other training settings; delete it to start this stage afresh"
            )
        return state

    def due(self, step: int, total: int) -> bool:
        """Save after every `every` completed steps, and never after the last one (the stage then saves its output)."""
        done = step + 1
        return done % self.every == 0 and done < total

    def save(self, step: int, **parts: Any) -> None:
        """Write atomically (temp file + rename): a kill during the write leaves the previous checkpoint intact."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save({"fingerprint": self.fingerprint, "step": step + 1, **parts}, tmp)
        os.replace(tmp, self.path)

    def clear(self) -> None:
        """Remove the checkpoint once the stage has written its finished output."""
        self.path.unlink(missing_ok=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass


def resume(
    checkpoint: StageCheckpoint | None,
    rng: np.random.Generator,
    gen: torch.Generator | None = None,
    **stateful: Any,
) -> int:
    """Load a saved stage into its stateful parts (model, opt, sched, ema: anything with load_state_dict) and
    random states; returns the step to continue from (0 when there is nothing to resume)."""
    state = checkpoint.load() if checkpoint else None
    if state is None:
        return 0
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    restore_rng(state["rng"], rng, gen)
    return int(state["step"])


def rng_state(rng: np.random.Generator, gen: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state a stage draws from: its numpy generator, an optional torch generator, torch's global one."""
    return {
        "numpy": rng.bit_generator.state,
        "torch_gen": None if gen is None else gen.get_state(),
        "torch_global": torch.get_rng_state(),
    }


def restore_rng(state: dict[str, Any], rng: np.random.Generator, gen: torch.Generator | None = None) -> None:
    rng.bit_generator.state = state["numpy"]
    if gen is not None and state["torch_gen"] is not None:
        gen.set_state(state["torch_gen"])
    torch.set_rng_state(state["torch_global"])
