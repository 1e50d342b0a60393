"""The tiny preset's own tokenizer, built with the `tokenizers` library (no download).

A word-level vocabulary over the words of our tasks, digits (numbers are split into digits) and
operators, with the Qwen2-VL special tokens at fixed ids 0-7 so that the tiny backbone config can
name them. Words carry a "▁" prefix when a space precedes them (SentencePiece's metaspace), so
decoding restores the text exactly, including punctuation glued to words:
"the board says 3 + 4; 3 + 4 = 7; the card 7 is second from the left" round-trips. Text is
lower-cased; a word outside the vocabulary becomes [UNK].

The paper preset uses the operator's local Qwen2-VL tokenizer instead (same special tokens).
"""
from __future__ import annotations

from functools import lru_cache

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>", "[UNK]")

TASK_WORDS = """
the a an of to in on at from is are be it its this that these those and or so then than not no yes
board says say said card cards toy toys cup cups block blocks ball object objects item table
pick place put move take grasp release push give drop hold open close lift
left right first second third fourth fifth last middle center top bottom front back next between
near far above below behind beside under over up down
equation answer answers result sum difference product plus minus times equals
which what where who how many number numbers math game task
red green blue yellow white black orange purple pink brown gray
i you we see shows show write written reads read there here
user assistant
""".split()

SYMBOLS = tuple("0123456789") + ("+", "-", "x", "=", "?", ";", ",", ".", ":", "!", "*", "/", "(", ")", "'")

METASPACE = "\u2581"
# Pre-tokenisation: after metaspace, isolate an optionally space-prefixed word, digit, symbol or
# newline, so "4;" becomes "▁4" ";" and "12" becomes "▁1" "2".
SPLIT_PATTERN = METASPACE + r"?[a-z]+|" + METASPACE + r"?\d|" + METASPACE + r"?[^\sa-z\d" + METASPACE + r"]|\n|" + METASPACE


@lru_cache(maxsize=1)
def tiny_vocabulary() -> tuple[str, ...]:
    """All tokens, ids in order: special tokens, newline, bare space, then words and symbols in
    both the space-prefixed and the glued form."""
    words: list[str] = list(dict.fromkeys(TASK_WORDS + list(SYMBOLS)))
    vocabulary = list(SPECIAL_TOKENS) + ["\n", METASPACE]
    for word in words:
        vocabulary += [METASPACE + word, word]
    return tuple(vocabulary)


def tiny_special_token_ids() -> dict[str, int]:
    return {token: index for index, token in enumerate(SPECIAL_TOKENS)}


def build_tiny_tokenizer():
    """A transformers fast tokenizer (PreTrainedTokenizerFast) over `tiny_vocabulary()`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {token: index for index, token in enumerate(tiny_vocabulary())}
    core = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="never"),
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
    ])
    core.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="never")
    core.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="<|endoftext|>", eos_token="<|im_end|>",
        bos_token=None, additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("[UNK]",)],
    )
