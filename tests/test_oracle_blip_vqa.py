"""The BLIP-VQA proxy: loads a real (tiny, random) BLIP from a folder; all questions must pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hero_bench.oracles import ORACLES
from hero_bench.oracles.blip_vqa import BlipVQAOracle, decide
from hero_bench.oracles.clip import OracleSetupError
from hero_bench.tasks import VQAItem, load_task

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "yes", "no", "is", "there", "a", "blue",
         "circle", "?", "the", "inside", "box", "are", "two", "or", "more", "circles", "in", "square"]


def save_tiny_blip(folder: Path, seed: int = 0, bias: dict[str, float] | None = None) -> Path:
    """A random BLIP VQA model + processor; `bias` adds to the answer decoder's output bias per word.

    Tiny configs must set bos (the decoder start, [DEC]), sep and pad ids for the small vocabulary.
    """
    from transformers import BertTokenizer, BlipConfig, BlipForQuestionAnswering, BlipImageProcessor, BlipProcessor

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    tok = BertTokenizer(str(folder / "vocab.txt"))
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                 initializer_range=0.5)  # large random weights: answers depend on the image and question
    config = BlipConfig(
        text_config=dict(vocab_size=len(tok), max_position_embeddings=32, bos_token_id=WORDS.index("[DEC]"),
                         sep_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id, **small),
        vision_config=dict(image_size=32, patch_size=8, **small),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = BlipForQuestionAnswering(config).eval()
    with torch.no_grad():
        for word, value in (bias or {}).items():
            model.text_decoder.cls.predictions.bias[WORDS.index(word)] += value
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def blip_folder(tmp_path_factory) -> Path:
    """Yes and no both lifted far above the other words, so which of them wins is up to the random weights."""
    return save_tiny_blip(tmp_path_factory.mktemp("blip"), bias={"yes": 20.0, "no": 20.0})


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(5)]


def items(*answers: str) -> list[VQAItem]:
    return [VQAItem(question=f"is there a blue circle {i}?", answer=a) for i, a in enumerate(answers)]


def test_decide_needs_every_expected_answer() -> None:
    odds = np.array([[2.0, -1.0, 3.0], [2.0, 1.0, 3.0], [-0.5, -1.0, 0.0]])
    v = decide(odds, items("yes", "no", "yes"))
    assert v.good == [True, False, False]
    assert v.passed.tolist() == [[True, True, True], [True, False, True], [False, True, False]]  # tie fails
    assert v.confidence[0] > v.confidence[1] > v.confidence[2]
    with pytest.raises(ValueError, match="shape"):
        decide(odds, items("yes"))


def test_loads_from_a_folder_and_scores_each_question(blip_folder, images) -> None:
    oracle = BlipVQAOracle(model=str(blip_folder), batch_size=2)
    questions = ["is there a blue circle?", "are there two or more circles?", "is the circle inside the box?"]
    odds = oracle.log_odds(images, questions)
    assert odds.shape == (5, 3) and np.isfinite(odds).all()
    # Batching and padding must not change a question's answer: score one image, one question at a time.
    single = oracle.log_odds(images[3:4], questions[1:2])
    assert single[0, 0] == pytest.approx(odds[3, 1], abs=1e-4)
    # The first-token log-odds give the same answer as BLIP's own greedy generate().
    answers = []
    for i, image in enumerate(images):
        for j, question in enumerate(questions):
            inputs = oracle.processor(images=[image], text=[question], return_tensors="pt")
            first = oracle.model.generate(**inputs, max_new_tokens=1)[0, -1].item()
            assert first in (oracle.yes_id, oracle.no_id)
            assert (first == oracle.yes_id) == (odds[i, j] > 0)
            answers.append(first)
    assert len(set(answers)) == 2  # the random model says both, so the agreement above is not vacuous


def test_a_model_that_always_says_yes_fails_tasks_that_expect_a_no(tmp_path, images) -> None:
    folder = save_tiny_blip(tmp_path / "yes", bias={"yes": 50.0})
    oracle = ORACLES.create("blip-vqa", model=str(folder), seed=1)
    inputs = oracle.processor(images=images[:1], text=["is there a blue circle?"], return_tensors="pt")
    assert oracle.processor.tokenizer.decode(oracle.model.generate(**inputs, max_new_tokens=1)[0, -1:]) == "yes"

    task = load_task("toy-blue-circle")  # questions: blue circle? yes; inside? yes; two or more? no
    fb = oracle.judge(images, task)
    assert fb.good == [False] * 5 and fb.best is None
    assert all(r == ["Are there two or more circles? expected no"] for r in fb.reasons)

    all_yes = task.model_copy(update={"vqa": [it for it in task.vqa if it.answer == "yes"]})
    fb = oracle.judge(images, all_yes)
    assert fb.good == [True] * 5
    assert fb.best == int(np.argmax(fb.scores))


def test_missing_weights_name_the_fix(tmp_path) -> None:
    with pytest.raises(OracleSetupError, match="huggingface-cli download Salesforce/blip-vqa-base"):
        BlipVQAOracle()  # the default hub id; HF_HUB_OFFLINE=1 in tests
    with pytest.raises(OracleSetupError, match="no config.json"):
        BlipVQAOracle(model=str(tmp_path))
    with pytest.raises(OracleSetupError, match="neither an existing folder nor a hub id.*huggingface-cli download"):
        BlipVQAOracle(model=str(tmp_path / "absent"))


def test_cli_run_with_missing_oracle_weights_names_the_fix(tmp_path, monkeypatch, capsys) -> None:
    """Through `hero-bench run`: exit status 2 and the fix, no traceback, before any model is loaded."""
    from hero_bench import cli

    monkeypatch.setattr("sys.argv", ["hero-bench", "run", "--task", "toy-blue-circle", "--oracle", "blip-vqa",
                                     "--oracle-model", str(tmp_path / "absent"), "--out", str(tmp_path / "runs")])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "neither an existing folder nor a hub id" in err and "huggingface-cli download" in err
