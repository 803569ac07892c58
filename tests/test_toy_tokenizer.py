"""The toy model's tokenizer is learnt the same way in every process (`hero-bench toy train` reproduces its
weights), and every caption of the toy world is tokenized into known tokens."""

from __future__ import annotations

import subprocess
import sys

from hero_bench.toyworld import train
from hero_bench.toyworld.bpe import END, learn_bpe
from hero_bench.toyworld.dataset import sample_examples

_LEARN = """
import sys
from pathlib import Path
from hero_bench.toyworld import train
from hero_bench.toyworld.dataset import sample_examples
captions = [e.caption for e in sample_examples(0, 2000)]
train.train_tokenizer(captions, train.TrainConfig(seed=0), Path(sys.argv[1]))
"""


def test_two_processes_learn_the_same_tokenizer(tmp_path):
    """tokenizers' own BPE trainer numbered `x</w>` tokens in hash order, so each process learnt another one."""
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", _LEARN, str(tmp_path / name)], check=True, capture_output=True)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "tokenizer_config.json" in files and files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_merges_follow_counts_then_text():
    vocab, merges = learn_bpe(["cd cd", "ab", "ab"], vocab_size=100)
    assert merges == [("a", "b" + END), ("c", "d" + END)]  # "ab" is one word of both texts; "cd" twice in one
    vocab, merges = learn_bpe(["cd", "ab"], vocab_size=100)
    assert merges == [("a", "b" + END), ("c", "d" + END)]  # a tie: text order
    assert list(vocab)[:2] == ["<|startoftext|>", "<|endoftext|>"] and list(vocab.values()) == list(range(len(vocab)))
    _, merges = learn_bpe(["abc abd"], vocab_size=2 + 4 * 2 + 1)  # room for one merge
    assert merges == [("a", "b")]


def test_every_toy_caption_is_known_tokens(tmp_path):
    captions = sorted({e.caption for e in sample_examples(1, 3000)})
    tok = train.train_tokenizer(captions, train.TrainConfig(seed=1), tmp_path / "tok")
    unknown = tok.unk_token_id
    for caption in captions:
        ids = tok(caption).input_ids
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        assert unknown not in ids[1:-1], caption
    assert tok.convert_ids_to_tokens(tok("a yellow square").input_ids)[1:-1] == ["a</w>", "yellow</w>", "square</w>"]
