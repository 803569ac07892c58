"""The VLM judge with a local transformers model: a tiny LLaVA built from configs, saved, loaded from a folder.

Its weights are random except that the final norm is zeroed, so every logit is equal and greedy decoding
always emits token 0; the tokenizer's token 0 is a whole JSON verdict (or, for the malformed model, a
word). That makes a real model, chat template and generate() loop produce a known reply.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from hero_bench.oracles.clip import OracleSetupError
from hero_bench.oracles.vlm import LocalVLMTransport, VLMOracle, VLMReplyError
from hero_bench.tasks import load_task

VERDICT = '{"good": true, "score": 7, "reason": "one blue circle in a box"}'


def save_tiny_llava(folder: Path, first_token: str) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = [first_token, "<unk>", "<pad>", "<s>", "</s>", "<image>", *"the image prompt success condition".split()]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", additional_special_tokens=["<image>"])
    template = ("{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
                "{% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", chat_template=template,
        num_additional_image_tokens=1, image_token="<image>",
    )
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(image_size=32, patch_size=8, projection_dim=32, **small),
        text_config=LlamaConfig(vocab_size=len(tok), num_key_value_heads=2, max_position_embeddings=256,
                                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                eos_token_id=tok.eos_token_id, **small),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.model.language_model.norm.weight.zero_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llava(tmp_path_factory) -> Path:
    return save_tiny_llava(tmp_path_factory.mktemp("llava"), VERDICT)


def test_local_model_from_a_folder_judges_through_its_chat_template(llava, tmp_path) -> None:
    task = load_task("toy-blue-circle")
    oracle = VLMOracle(model=str(llava), cache=tmp_path / "c.sqlite", max_new_tokens=2)
    assert isinstance(oracle.transport, LocalVLMTransport) and oracle.concurrency == 1
    images = [Image.new("RGB", (64, 64), (0, 0, 255)), Image.new("RGB", (64, 64), (255, 0, 0))]
    fb = oracle.judge(images, task)
    assert fb.good == [True, True] and fb.scores == [7.0, 7.0] and fb.best == 0
    assert oracle.requests_sent == 2
    assert VLMOracle(model=str(llava), cache=tmp_path / "c.sqlite", max_new_tokens=2).judge(images, task) == fb


def test_local_model_that_never_answers_in_json(tmp_path) -> None:
    folder = save_tiny_llava(tmp_path / "chatty", "hello")
    task = load_task("toy-hand")
    image = Image.new("RGB", (64, 64), (255, 255, 0))
    with pytest.raises(VLMReplyError, match="no valid verdict in 2 tries"):
        VLMOracle(model=str(folder), cache=False, max_new_tokens=2, max_retries=1).judge([image], task)
    fb = VLMOracle(model=str(folder), cache=False, max_new_tokens=2, max_retries=0, on_malformed="bad").judge(
        [image], task)
    assert fb.good == [False] and fb.best is None


def test_missing_local_weights_name_the_fix(tmp_path, monkeypatch) -> None:
    for name in ("HERO_VLM_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(OracleSetupError, match="no config.json.*HERO_VLM_BASE_URL"):
        VLMOracle(model=str(tmp_path), cache=False)
    with pytest.raises(OracleSetupError, match="neither an existing folder nor a hub id.*HERO_VLM_BASE_URL"):
        VLMOracle(model=str(tmp_path / "absent"), cache=False)
