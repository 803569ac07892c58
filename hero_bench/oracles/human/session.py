"""What the labelling page and the blocked `judge` call share: the batch on offer, submissions, progress.

Kept free of HTTP so that the rules (what a valid submission is, when a post is a replay) are plain
functions and methods; `server.py` only maps them to routes and status codes.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from hero_bench.oracles.human.store import AlreadyLabelled, LabelStore, StoredLabels


class SubmissionError(Exception):
    """A rejected post; `status` is the HTTP status, the message tells the person what to do."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class PendingBatch:
    """A batch waiting for a person: images (PNG bytes), what to show, and its identity."""

    epoch: int
    batch_hash: str
    images: list[bytes]
    prompts: list[str]
    task_name: str
    success_condition: str
    index: int  # 1-based position in the run
    n_batches: int | None

    @property
    def batch_id(self) -> str:
        """Unique per run: the epoch and (a prefix of) the image hash."""
        return f"{self.epoch}-{self.batch_hash[:16]}"

    @property
    def n(self) -> int:
        return len(self.images)

    @property
    def shared_prompt(self) -> str | None:
        """The prompt when every image has the same one (shown once), else None (shown per image)."""
        return self.prompts[0] if len(set(self.prompts)) == 1 else None


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def validate_submission(payload: Any, n: int) -> tuple[list[bool], int | None]:
    """Check a posted `{"batch_id", "good": [bool]*n, "best": int|null}`; return (good, best).

    Raises SubmissionError(422) with a message the page shows as is.
    """
    if not isinstance(payload, dict):
        raise SubmissionError(422, 'the body must be a JSON object {"batch_id", "good", "best"}')
    extra = sorted(set(payload) - {"batch_id", "good", "best"})
    if extra:
        raise SubmissionError(422, f"unknown field(s) {', '.join(extra)}; send only batch_id, good and best")
    good = payload.get("good")
    if not isinstance(good, list):
        raise SubmissionError(422, '"good" must be a list with one true/false label per image')
    if len(good) != n:
        raise SubmissionError(422, f"this batch has {n} images but {len(good)} labels were sent: label every image")
    unlabelled = [i + 1 for i, g in enumerate(good) if g is None]
    if unlabelled:
        raise SubmissionError(422, f"image(s) {', '.join(map(str, unlabelled))} not labelled: label every image")
    if any(not isinstance(g, bool) for g in good):
        raise SubmissionError(422, '"good" entries must be true or false')
    if "best" not in payload:
        raise SubmissionError(422, '"best" is missing: the index of the best good image, or null if none is good')
    best = payload["best"]
    if best is not None and (isinstance(best, bool) or not isinstance(best, int)):
        raise SubmissionError(422, '"best" must be an image index or null')
    if best is None:
        if any(good):
            raise SubmissionError(422, "pick one best image among the good ones")
    else:
        if not 0 <= best < n:
            raise SubmissionError(422, f'"best" must be an image index from 0 to {n - 1}, got {best}')
        if not good[best]:
            raise SubmissionError(422, f"the best image (#{best + 1}) must be one of the good ones")
    return list(good), best


@dataclass
class Progress:
    """What the page shows above the grid and in the chart."""

    epoch: int = 0
    feedback_used: int = 0
    budget: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class LabelingSession:
    """Shared between the run (which offers a batch and waits) and the web app (which shows and stores it)."""

    def __init__(self, store: LabelStore, run_id: str, token: str) -> None:
        self.store = store
        self.run_id = run_id
        self.token = token
        self._cond = threading.Condition()
        self.pending: PendingBatch | None = None
        self.progress = Progress(history=store.progress(run_id))
        if self.progress.history:
            last = self.progress.history[-1]
            self.progress.epoch, self.progress.feedback_used = last["epoch"], last["feedback_used"]
            self.progress.budget = last["budget"]
        self.finished = False
        self.last_poll = 0.0
        """monotonic time of the page's last /api/state request (0: never)."""

    # -- the run's side --------------------------------------------------------------------------------
    def offer(self, batch: PendingBatch) -> None:
        with self._cond:
            self.pending = batch
            self._cond.notify_all()

    def wait_for_labels(self, batch: PendingBatch, timeout: float | None = None) -> StoredLabels | None:
        """Block until the batch is labelled (None on timeout). Short waits keep Ctrl-C responsive."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                stored = self.store.lookup(self.run_id, batch.epoch, batch.batch_hash)
                if stored is not None:
                    if self.pending is batch:
                        self.pending = None
                    return stored
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(0.5 if left is None else min(0.5, left))

    def update_progress(
        self, epoch: int, feedback_used: int, budget: int | None, success_rate: float | None
    ) -> None:
        """Record a chart point (durable) and the numbers shown above the grid."""
        self.store.record_progress(self.run_id, epoch, feedback_used, budget, success_rate)
        with self._cond:
            self.progress.epoch, self.progress.feedback_used = epoch, feedback_used
            if budget is not None:
                self.progress.budget = budget
            self.progress.history = self.store.progress(self.run_id)

    def count_feedback(self, n: int) -> None:
        with self._cond:
            self.progress.feedback_used += n

    # -- the page's side -------------------------------------------------------------------------------
    def submit(self, payload: Any) -> StoredLabels:
        """Validate and store a posted batch, then wake the run. Replays and stale posts are rejected."""
        batch_id = payload.get("batch_id") if isinstance(payload, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise SubmissionError(422, '"batch_id" is missing: reload the page and label the batch shown')
        with self._cond:
            batch = self.pending
        if batch is None or batch.batch_id != batch_id:
            done = [b for b in self.store.batches(self.run_id) if f"{b.epoch}-{b.batch_hash[:16]}" == batch_id]
            if done:
                raise SubmissionError(
                    409, f"batch {batch_id} was already labelled (the first submission is kept); reload the page"
                )
            raise SubmissionError(409, f"batch {batch_id} is not the batch being labelled; reload the page")
        good, best = validate_submission(payload, batch.n)
        try:
            stored = self.store.save(self.run_id, batch.epoch, batch.batch_hash, good, best)
        except AlreadyLabelled:
            raise SubmissionError(
                409, f"batch {batch_id} was already labelled (the first submission is kept); reload the page"
            ) from None
        with self._cond:
            if self.pending is batch:
                self.pending = None
            self._cond.notify_all()
        return stored

    def finish(self, grace: float = 1.5) -> None:
        """Mark the run finished; if a page is open (polled in the last 5 s), give it one poll to see that."""
        with self._cond:
            self.finished = True
            asked = time.monotonic()
            if asked - self.last_poll < 5.0:
                self._cond.wait_for(lambda: self.last_poll > asked, timeout=grace)

    def state(self) -> dict[str, Any]:
        """What the page polls: the batch on offer (if any), progress and the chart's points."""
        with self._cond:
            self.last_poll = time.monotonic()
            self._cond.notify_all()
            b, p = self.pending, self.progress
            n_batches = b.n_batches if b else None
            return {
                "run_id": self.run_id,
                "finished": self.finished,
                "batch": None if b is None else {"batch_id": b.batch_id, "index": b.index, "n_batches": n_batches,
                                                 "n_images": b.n, "epoch": b.epoch},
                "progress": {"epoch": p.epoch, "feedback_used": p.feedback_used, "budget": p.budget},
                "history": [
                    {"epoch": h["epoch"], "feedback_used": h["feedback_used"], "success_rate": h["success_rate"]}
                    for h in p.history
                ],
            }

    def image(self, batch_id: str, index: int) -> bytes | None:
        with self._cond:
            b = self.pending
        if b is None or b.batch_id != batch_id or not 0 <= index < b.n:
            return None
        return b.images[index]


def make_batch(
    images: Sequence[Image.Image], prompts: Sequence[str], epoch: int, batch_hash: str, task_name: str,
    success_condition: str, index: int, n_batches: int | None,
) -> PendingBatch:
    return PendingBatch(epoch, batch_hash, [png_bytes(im) for im in images], list(prompts), task_name,
                        success_condition, index, n_batches)
