"""Byte-pair encoding learnt from the toy captions, the same way every time.

Why not `tokenizers.trainers.BpeTrainer`: with an end-of-word suffix it numbers the suffixed characters (`e</w>`)
in hash-map order, which changes from one process to the next, and merges of equal count are then ordered by
those numbers (huggingface/tokenizers issue 1794). Two `hero-bench toy train` runs with the same seed got
different vocabularies, so different text encoders and UNets. The captions are a few hundred distinct words, so
the classic algorithm in plain Python takes well under a second, with ties broken by the pair's text.

The result is CLIP's format (vocab.json, merges.txt with `</w>` word ends), read by `CLIPTokenizer`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

END = "</w>"
SPECIALS = ("<|startoftext|>", "<|endoftext|>")
_WORDS = re.compile(r"\w+|[^\w\s]+")  # what tokenizers' Whitespace pre-tokenizer splits on


def learn_bpe(texts: list[str], vocab_size: int, alphabet: str = "") -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The vocabulary (token -> id) and the merges in the order learnt, from lower-cased `texts`.

    Ids: the special tokens, then every character of the texts and of `alphabet`, then each of those characters
    as a word's last one (`a</w>`: so a word ending in any of them has a token), then one per merge. A merge
    joins the most frequent adjacent pair over all words (weighted by how often each word occurs); among pairs
    of equal count, the one first in text order."""
    words = Counter(w for text in texts for w in _WORDS.findall(text.lower()))
    chars = sorted(set(alphabet) | {c for w in words for c in w})
    vocab = {token: i for i, token in enumerate([*SPECIALS, *chars, *(c + END for c in chars)])}
    split = {tuple(w[:-1]) + (w[-1] + END,): n for w, n in words.items()}
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, n in split.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += n
        if not pairs:
            break  # every word is one token already
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        vocab[best[0] + best[1]] = len(vocab)
        split = {_merge(symbols, best): n for symbols, n in split.items()}
    return vocab, merges


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def write_bpe(vocab: dict[str, int], merges: list[tuple[str, str]], folder: Path) -> tuple[Path, Path]:
    """vocab.json and merges.txt (with the `#version` line CLIP's loader skips) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab_file, merges_file
