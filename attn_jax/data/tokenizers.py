"""Tokenizers (byte, character, word) and the helpers around them: padding.

Every tokenizer reserves the same special ids: PAD=0, BOS=1, EOS=2, UNK=3; real tokens start at
`NUM_SPECIAL`. `encode(text) -> list[int]` never adds BOS/EOS (the pipeline does, where a task
needs them); `decode(ids) -> str` drops PAD/BOS/EOS and writes UNK as `UNK_TEXT`.
"""
import collections
from collections.abc import Iterable, Sequence

import numpy as np

from attn_jax.errors import ConfigError
from attn_jax.task import BOS_ID, EOS_ID, PAD_ID  # noqa: F401  (BOS/EOS: the data package reads them here)

UNK_ID = 3
NUM_SPECIAL = 4
SPECIAL_TOKENS = ('<pad>', '<bos>', '<eos>', '<unk>')
UNK_TEXT = '\ufffd'


class _Tokenizer:
  """Shared decoding checks; subclasses define `vocab_size`, `encode` and `_piece`."""
  vocab_size: int

  def _check_ids(self, ids: Sequence[int]) -> list[int]:
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    bad = [i for i in ids if not 0 <= i < self.vocab_size]
    if bad:
      raise ConfigError('data.tokenizer', f'token id {bad[0]} is outside the vocabulary '
                        f'(accepted: 0..{self.vocab_size - 1})')
    return ids

  def decode(self, ids: Sequence[int]) -> str:
    raise NotImplementedError


class ByteTokenizer(_Tokenizer):
  """UTF-8 bytes: id = byte + NUM_SPECIAL (vocabulary 260). Never produces UNK."""

  vocab_size = 256 + NUM_SPECIAL

  def encode(self, text: str | bytes) -> list[int]:
    data = text.encode('utf-8') if isinstance(text, str) else bytes(text)
    return [b + NUM_SPECIAL for b in data]

  def encode_array(self, text: str | bytes) -> np.ndarray:
    data = text.encode('utf-8') if isinstance(text, str) else bytes(text)
    return np.frombuffer(data, np.uint8).astype(np.int32) + NUM_SPECIAL

  def decode(self, ids: Sequence[int]) -> str:
    ids = self._check_ids(ids)
    data = bytes(i - NUM_SPECIAL for i in ids if i >= NUM_SPECIAL)
    unk = sum(i == UNK_ID for i in ids)
    return data.decode('utf-8', errors='replace') + UNK_TEXT * unk


class VocabTokenizer(_Tokenizer):
  """A fixed list of tokens (characters or words) after the 4 special ids."""

  def __init__(self, tokens: Sequence[str], separator: str):
    self.tokens = list(SPECIAL_TOKENS) + list(tokens)
    self.ids = {t: i for i, t in enumerate(self.tokens) if i >= NUM_SPECIAL}
    self.separator = separator
    self.vocab_size = len(self.tokens)

  def split(self, text: str) -> list[str]:
    return text.split() if self.separator else list(text)

  def encode(self, text: str) -> list[int]:
    return [self.ids.get(t, UNK_ID) for t in self.split(text)]

  def decode(self, ids: Sequence[int]) -> str:
    pieces = []
    for i in self._check_ids(ids):
      if i == UNK_ID:
        pieces.append(UNK_TEXT)
      elif i >= NUM_SPECIAL:
        pieces.append(self.tokens[i])
    return self.separator.join(pieces)


def char_tokenizer(corpus: str) -> VocabTokenizer:
  """Characters of `corpus` (the training split), sorted, as the vocabulary."""
  return VocabTokenizer(sorted(set(corpus)), separator='')


def word_tokenizer(texts: Iterable[str], *, min_count: int = 1) -> VocabTokenizer:
  """Whitespace-separated words of `texts` seen at least `min_count` times, by frequency."""
  counts = collections.Counter(w for t in texts for w in t.split())
  words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
  return VocabTokenizer(words, separator=' ')


def pad_to(ids: Sequence[int], length: int, *, dtype=np.int32) -> np.ndarray:
  """`ids` truncated or padded with PAD to exactly `length` entries."""
  out = np.full((length,), PAD_ID, dtype)
  ids = np.asarray(ids[:length], dtype)
  out[:len(ids)] = ids
  return out
