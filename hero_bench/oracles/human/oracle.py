"""The human oracle: `judge` shows the batch on a local web page and blocks until a person submits labels.

Resuming: each batch is keyed by run id + epoch + a hash of its images. `epoch` is the number of batches
this oracle has judged before (kept in `state_dict`, so a resumed run continues the count). A restarted
run that regenerates an already-labelled batch gets the stored labels back at once, so it reaches the
first unlabelled batch without asking the person anything twice.
"""

from __future__ import annotations

import atexit
import hashlib
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hero_bench.errors import HeroBenchError
from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.oracles.human.serve import LOOPBACK, BackgroundServer, is_loopback
from hero_bench.oracles.human.session import LabelingSession, make_batch
from hero_bench.oracles.human.store import LabelStore
from hero_bench.tasks.base import Task

DEFAULT_STORE = Path("runs") / "human_labels.sqlite"
DEFAULT_PORT = 8765


def judge_page_port(oracle: str) -> int:
    """The port of a run's labelling page for a person who judges, unless the options name one: any free port
    (0) when a person also gives the feedback, whose page holds DEFAULT_PORT."""
    return 0 if oracle == "human" else DEFAULT_PORT


class HumanTimeoutError(HeroBenchError):
    """Nobody labelled the batch in time. Labels given so far are stored; resuming asks only for the rest."""


def batch_hash(images: Sequence[Image.Image]) -> str:
    """sha256 over every image's size and RGB pixels, in order: the same batch always gets the same hash."""
    h = hashlib.sha256()
    for im in images:
        rgb = im.convert("RGB")
        h.update(f"{rgb.width}x{rgb.height};".encode())
        h.update(rgb.tobytes())
    return h.hexdigest()


def _announce(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class HumanOracle(Oracle):
    """A person labels each batch in the browser (good/bad, one best). Serves 127.0.0.1 unless told otherwise."""

    name = "human"

    def __init__(
        self,
        run_id: str | None = None,
        store: str | Path = DEFAULT_STORE,
        host: str = LOOPBACK,
        port: int = DEFAULT_PORT,
        budget: int | None = None,
        timeout: float | None = None,
        seed: int = 0,
        announce: Callable[[str], None] = _announce,
        finish_grace: float = 1.5,
    ) -> None:
        """`run_id` defaults to "<task>-seed<seed>" at the first batch. `store`: the SQLite label file.
        `host`: another address than 127.0.0.1 exposes the page to the network, deliberately.
        `port`: 0 picks a free port. `budget`: total feedback, for "batch i of n" (the run may also report
        it). `timeout`: seconds to wait for one batch (None: wait as long as it takes). `finish_grace`: on
        `close`, seconds to wait for an open page's next poll so that it shows "finished", not "lost".
        """
        self.run_id = run_id
        self.store = LabelStore(store)
        self.host = host
        self.port = port
        self.budget = budget
        self.timeout = timeout
        self.seed = seed
        self.announce = announce
        self.finish_grace = finish_grace
        self.epoch = 0
        self.feedback_used = 0
        self.last_from_store = False
        """Whether the last `judge` returned stored labels (True) or asked the person (False)."""
        self.session: LabelingSession | None = None
        self._server: BackgroundServer | None = None

    # -- serving ---------------------------------------------------------------------------------------
    def _ensure_session(self, task: Task | None) -> LabelingSession:
        """The run's session (token, progress) without starting the server: stored batches need no page."""
        if self.session is None:
            if self.run_id is None:
                if task is None:
                    raise ValueError("start() needs the task when no run_id was given")
                self.run_id = f"{task.name}-seed{self.seed}"
            token = self.store.token_for(self.run_id, task.name if task else None)
            self.session = LabelingSession(self.store, self.run_id, token)
            if self.budget is not None and self.session.progress.budget is None:
                self.session.progress.budget = self.budget
        return self.session

    def start(self, task: Task | None = None) -> str:
        """Start the page (once) and return its URL. `judge` calls this when a batch needs a person, so a
        resumed run brings the page up only once it reaches the first unlabelled batch."""
        session = self._ensure_session(task)
        if self._server is None:
            from hero_bench.oracles.human.server import create_app

            self._server = BackgroundServer(create_app(session), host=self.host, port=self.port)
            atexit.register(self.close)
            if not is_loopback(self.host):
                elsewhere = (f"; from another machine, put this machine's address in place of {self.host}"
                             if self.host in ("0.0.0.0", "::") else "")
                self.announce(f"warning: the labelling page is exposed on {self.host}; anyone who can reach this "
                              f"machine and knows the URL can label{elsewhere}")
            self.announce(f"hero-bench: labels are saved to {self.store.path} as each batch is submitted")
            self.announce(f"hero-bench: label the images at {self.url}")
        return self.url

    @property
    def url(self) -> str:
        if self._server is None or self.session is None:
            raise RuntimeError("the labelling page is not running; call start() or judge() first")
        return f"{self._server.base_url}/?token={self.session.token}"

    def close(self) -> None:
        """Stop serving (the labels are already on disk)."""
        if self.session is not None:
            if self._server is not None:
                self.session.finish(self.finish_grace)
            self.session.finished = True
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> HumanOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- judging ---------------------------------------------------------------------------------------
    def n_batches(self, batch_size: int) -> int | None:
        budget = self.budget if self.budget is not None else (self.session.progress.budget if self.session else None)
        return math.ceil(budget / batch_size) if budget else None

    def judge(
        self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str] | None = None
    ) -> Feedback:
        """Stored labels for this batch if it was labelled before, else ask the person and wait."""
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        if not images:
            raise ValueError("cannot ask a person to label an empty batch")
        prompts = list(prompts) if prompts is not None else [task.prompt] * len(images)
        if len(prompts) != len(images):
            raise ValueError(f"got {len(prompts)} prompts for {len(images)} images")
        session = self._ensure_session(task)
        assert self.run_id is not None
        digest = batch_hash(images)
        stored = self.store.lookup(self.run_id, self.epoch, digest)
        self.last_from_store = stored is not None
        if stored is None:
            self.start(task)
            batch = make_batch(images, prompts, self.epoch, digest, task.name, task.success_condition,
                               index=self.epoch + 1, n_batches=self.n_batches(len(images)))
            session.offer(batch)
            stored = session.wait_for_labels(batch, self.timeout)
            if stored is None:
                raise HumanTimeoutError(
                    f"no labels for batch {batch.index} within {self.timeout:g} s; the labels given so far are "
                    "stored, so resuming the run asks only for the rest"
                )
        if len(stored.good) != len(images):
            raise HeroBenchError(f"stored labels for epoch {self.epoch} cover {len(stored.good)} images, not "
                                 f"{len(images)}: the label store {self.store.path} belongs to another run")
        self.epoch += 1
        self.feedback_used += len(images)
        session.count_feedback(len(images))
        return Feedback(good=stored.good, best=stored.best)

    def report_progress(
        self, epoch: int, feedback_used: int, budget: int | None = None, success_rate: float | None = None
    ) -> None:
        """A point for the page's success chart and its progress line (call after each evaluation)."""
        if budget is not None:
            self.budget = budget
        if self.session is None and self.run_id is None:
            return  # nothing is shown before the first batch names the run
        self._ensure_session(None).update_progress(epoch, feedback_used, budget, success_rate)

    # -- checkpointing ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "feedback_used": self.feedback_used, "run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.feedback_used = int(state.get("feedback_used", 0))
        if self.run_id is None:
            self.run_id = state.get("run_id")
