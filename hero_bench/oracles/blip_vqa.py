"""The BLIP-VQA proxy oracle: an image is good when every yes/no question of the task gets its expected answer.

Why constrained yes/no scoring instead of free generation: BLIP VQA answers "yes"/"no" as single tokens,
so comparing the decoder's first-token logits for "yes" and "no" gives the same answer as greedy decoding
would on these questions, never produces an unparseable answer ("yes it is", "blue"), and yields a
confidence. The best image is the good one whose answers are most confident (mean probability of the
expected answer, with the probability renormalised over {yes, no}).

Weights: a `BlipForQuestionAnswering` folder or hub id with its processor (default
`Salesforce/blip-vqa-base`; offline, download it first and pass the folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hero_bench.oracles.base import Feedback, Oracle
from hero_bench.oracles.clip import OracleSetupError, load_local_or_hub
from hero_bench.tasks.base import Task, VQAItem
from hero_bench.tasks.fit import task_text

DEFAULT_BLIP = "Salesforce/blip-vqa-base"
_FIX = (
    "Download the weights where there is network (`huggingface-cli download Salesforce/blip-vqa-base --local-dir "
    "<folder>`), then pass the folder as --oracle-model (--judge-model when BLIP VQA judges)."
)


@dataclass(frozen=True)
class VQAVerdicts:
    """Per image: pass/fail of each question, whether all passed, and the confidence used to rank."""

    passed: np.ndarray  # bool [n_images, n_questions]
    good: list[bool]
    confidence: np.ndarray  # float [n_images]: mean P(expected answer | yes or no)


def decide(yes_minus_no: np.ndarray, items: Sequence[VQAItem]) -> VQAVerdicts:
    """Turn log-odds of "yes" over "no" (shape [n_images, n_questions]) into verdicts for `items`.

    A question passes when the expected answer is strictly more likely; an exact tie fails (no answer).
    """
    logits = np.asarray(yes_minus_no, dtype=float)
    if logits.ndim != 2 or logits.shape[1] != len(items):
        raise ValueError(f"expected log-odds of shape [n, {len(items)}], got {logits.shape}")
    sign = np.array([1.0 if it.answer == "yes" else -1.0 for it in items])
    towards = logits * sign  # log-odds in favour of the expected answer
    passed = towards > 0
    confidence = (1.0 / (1.0 + np.exp(-towards))).mean(axis=1) if len(items) else np.ones(len(logits))
    return VQAVerdicts(passed=passed, good=[bool(p.all()) for p in passed], confidence=confidence)


class BlipVQAOracle(Oracle):
    """Asks BLIP each of the task's yes/no questions about each image; good when all are answered as expected."""

    name = "blip-vqa"

    def __init__(
        self,
        model: str | Path = DEFAULT_BLIP,
        device: str = "cpu",
        batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        """`seed` is accepted for a uniform oracle interface; the answers are deterministic."""
        from transformers import AutoProcessor, BlipForQuestionAnswering

        self.source = str(model)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.seed = seed
        self.model = load_local_or_hub(
            lambda s, **kw: BlipForQuestionAnswering.from_pretrained(s, dtype=torch.float32, **kw),
            model, "BLIP VQA weights", _FIX,
        ).to(self.device).eval()
        self.processor = load_local_or_hub(
            lambda s, **kw: AutoProcessor.from_pretrained(s, **kw), model, "BLIP VQA processor", _FIX
        )
        tok = self.processor.tokenizer
        ids = {w: tok(w, add_special_tokens=False).input_ids for w in ("yes", "no")}
        if any(len(v) != 1 or v[0] == tok.unk_token_id for v in ids.values()):
            raise OracleSetupError(
                f"the BLIP tokenizer in {model} does not have 'yes' and 'no' as single tokens ({ids}); "
                "use a BLIP VQA checkpoint such as Salesforce/blip-vqa-base"
            )
        self.yes_id, self.no_id = ids["yes"][0], ids["no"][0]

    @torch.no_grad()
    def log_odds(self, images: Sequence[Image.Image], questions: Sequence[str]) -> np.ndarray:
        """log P(yes) - log P(no) for the first answer token, shape [n_images, n_questions]."""
        m = self.model
        text = self.processor.tokenizer(list(questions), padding=True, return_tensors="pt").to(self.device)
        n_q = len(questions)
        rows = []
        for start in range(0, len(images), self.batch_size):
            chunk = [im.convert("RGB") for im in images[start : start + self.batch_size]]
            pixels = self.processor.image_processor(chunk, return_tensors="pt").pixel_values.to(self.device)
            image_embeds = m.vision_model(pixel_values=pixels).last_hidden_state.repeat_interleave(n_q, dim=0)
            ids = text.input_ids.repeat(len(chunk), 1)
            mask = text.attention_mask.repeat(len(chunk), 1)
            question = m.text_encoder(
                input_ids=ids,
                attention_mask=mask,
                encoder_hidden_states=image_embeds,
                encoder_attention_mask=torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=self.device),
            ).last_hidden_state
            start_ids = torch.full((len(ids), 1), m.decoder_start_token_id, dtype=torch.long, device=self.device)
            logits = m.text_decoder(
                input_ids=start_ids, encoder_hidden_states=question, encoder_attention_mask=mask
            ).logits[:, -1].float()
            rows.append((logits[:, self.yes_id] - logits[:, self.no_id]).view(len(chunk), n_q))
        return torch.cat(rows).cpu().numpy() if rows else np.zeros((0, n_q))

    def judge(
        self, images: Sequence[Image.Image], task: Task, prompts: Sequence[str] | None = None
    ) -> Feedback:
        """`prompts` is ignored: the task's questions describe success for every evaluation prompt."""
        images = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im)) for im in images]
        vqa = task_text(task, "blip-vqa")
        verdicts = decide(self.log_odds(images, [it.question for it in vqa]), vqa)
        good_idx = [i for i, g in enumerate(verdicts.good) if g]
        best = max(good_idx, key=lambda i: (verdicts.confidence[i], -i)) if good_idx else None
        reasons = [
            [f"{it.question} expected {it.answer}" for it, ok in zip(vqa, row, strict=True) if not ok]
            for row in verdicts.passed
        ]
        return Feedback(good=verdicts.good, best=best, scores=list(verdicts.confidence), reasons=reasons)
