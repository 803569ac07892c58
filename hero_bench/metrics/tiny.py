"""Tiny random-weight metric models saved as local folders, for tests and smoke runs without downloads.

They are real transformers models with real tokenizers and configs at toy size, so loading and scoring
code runs exactly as with released weights; only the numbers are meaningless.
"""

from __future__ import annotations

from pathlib import Path

import torch

BERT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "red", "blue", "circle", "square", "in",
              "box", "cat", "black", "two", "rose", "##s"]


def tiny_clip_folder(folder: str | Path, seed: int = 0) -> Path:
    """A CLIPModel + CLIPTokenizer saved like the toy CLIP (64x64 images, no image processor, fp16 on disk)."""
    from transformers import CLIPConfig, CLIPModel

    from hero_bench.testing import tiny_clip_tokenizer

    folder = Path(folder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tok = tiny_clip_tokenizer(model_max_length=24)
        common = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
        config = CLIPConfig(
            text_config=dict(vocab_size=len(tok), max_position_embeddings=24, bos_token_id=tok.bos_token_id,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **common),
            vision_config=dict(image_size=64, patch_size=8, **common), projection_dim=32)
        CLIPModel(config).half().save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def tiny_blip_itm_folder(folder: str | Path, seed: int = 0) -> Path:
    """A BlipForImageTextRetrieval with its BlipProcessor (BERT tokenizer on a small vocabulary)."""
    from transformers import BertTokenizer, BlipConfig, BlipForImageTextRetrieval, BlipImageProcessor, BlipProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(BERT_VOCAB) + "\n")
    tok = BertTokenizer(str(folder / "vocab.txt"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # a small vocabulary needs explicit special-token ids (BLIP's defaults point past its end)
        config = BlipConfig(
            text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=4, max_position_embeddings=32, encoder_hidden_size=32,
                             bos_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                               image_size=32, patch_size=8),
            image_text_hidden_size=16)
        BlipForImageTextRetrieval(config).save_pretrained(folder)
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    processor.save_pretrained(folder)
    return folder
