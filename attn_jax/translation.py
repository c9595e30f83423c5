"""Evaluating a seq2seq model by decoding: exact match, BLEU, and exact match by source length.

Teacher-forced token accuracy flatters a translator (every step sees the right prefix); decoding
the evaluation split (greedy, or beam search) and comparing whole outputs measures what a user
gets: `exact_match` (the output equals the reference token for token) and corpus `bleu`
(sacrebleu, 0-100, on the detokenized words).
"""
import collections
import dataclasses

import numpy as np
import sacrebleu

from attn_jax import decoding, progress
from attn_jax.data.tokenizers import pad_to
from attn_jax.models.embedding import token_lengths

# Inside the training loop: examples decoded per evaluation (the whole split when smaller), and
# how many at once (on one device; independent of train.eval_batch_size).
EVAL_LIMIT = 8192
DECODE_BATCH = 256


@dataclasses.dataclass
class Decoded:
  """One decoded split: per example, the source length and the output and reference tokens."""
  source_lengths: list[int]
  outputs: list[list[int]]
  references: list[list[int]]

  @property
  def matches(self) -> np.ndarray:
    return np.array([o == r for o, r in zip(self.outputs, self.references)], bool)


def translate_texts(model, params, dataset, sources: list[str], beam_size: int) -> list[str]:
  """Source sentences -> their translations (beam search, or greedy for beam_size 1)."""
  inputs = np.stack([pad_to(dataset.tokenizer.encode(s), dataset.info.max_len) for s in sources])
  outputs = decoding.translate(model, params, inputs, dataset.info.target_max_len, beam_size)
  return [dataset.target_tokenizer.decode(decoding.until_eos(row)) for row in outputs]


def decode_split(model, params, dataset, *, batch_size: int, split=None, beam_size: int = 1,
                 max_examples: int = 0, show_progress: bool = False) -> Decoded:
  """Decodes every example of `split` (the first `max_examples` if > 0), skipping padding rows.

  Args:
    model, params: a seq2seq model and its (unreplicated) parameters.
    dataset: a seq2seq `Dataset`.
    batch_size: examples decoded together.
    split: evaluation split (default: the dataset's).
    beam_size: 1 for greedy decoding, else beam search.
    max_examples: stop after this many examples (0: all).
    show_progress: report the examples decoded so far (a study's long decoding; the training
      loop's evaluation keeps to its own bar).
  """
  decoded = Decoded([], [], [])
  total = dataset.num_eval_examples(split)
  bar = progress.bar(total=min(total, max_examples or total), unit='example', desc='decoding',
                     disable=not show_progress)
  for batch in dataset.eval_batches(batch_size, split=split):
    real = batch['weights'].sum(axis=1) > 0
    outputs = decoding.translate(model, params, batch['inputs'], dataset.info.target_max_len,
                                 beam_size)
    lengths = np.asarray(token_lengths(batch['inputs']))
    for i in np.flatnonzero(real):
      decoded.source_lengths.append(int(lengths[i]))
      decoded.outputs.append(decoding.until_eos(outputs[i]))
      decoded.references.append(decoding.until_eos(batch['targets'][i]))
    bar.update(int(real.sum()))
    if max_examples and len(decoded.outputs) >= max_examples:
      break
  bar.close()
  return decoded


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
  """Corpus BLEU (sacrebleu defaults: 13a tokenization, 4-grams), 0 to 100."""
  return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def scores(decoded: Decoded, target_tokenizer) -> dict[str, float]:
  """`exact_match` (fraction of outputs equal to their reference) and corpus `bleu`."""
  decode = target_tokenizer.decode
  return {'exact_match': float(decoded.matches.mean()) if decoded.outputs else 0.0,
          'bleu': corpus_bleu([decode(o) for o in decoded.outputs],
                              [decode(r) for r in decoded.references])}


def exact_match_by_length(decoded: Decoded, of: str = 'source') -> dict[int, tuple[float, int]]:
  """Length -> (exact match, number of examples), the length of the source (`of='source'`) or
  of the reference output (`of='target'`, tokens before EOS)."""
  if of not in ('source', 'target'):
    raise ValueError(f"of={of!r}; accepted: 'source', 'target'")
  lengths = (decoded.source_lengths if of == 'source'
             else [len(reference) for reference in decoded.references])
  groups = collections.defaultdict(list)
  for length, match in zip(lengths, decoded.matches):
    groups[length].append(match)
  return {length: (float(np.mean(m)), len(m)) for length, m in sorted(groups.items())}


def length_errors(decoded: Decoded) -> dict[str, float]:
  """How the wrong outputs go wrong in length, as fractions of all examples: `shorter` and
  `longer` than their reference, and `stopped_early`: a strict prefix of the reference (every
  token right, EOS too soon; the failure Newman et al. 2020 trace on SCAN's length split)."""
  pairs = list(zip(decoded.outputs, decoded.references))
  if not pairs:
    return {'shorter': 0.0, 'longer': 0.0, 'stopped_early': 0.0}
  return {'shorter': float(np.mean([len(o) < len(r) for o, r in pairs])),
          'longer': float(np.mean([len(o) > len(r) for o, r in pairs])),
          'stopped_early': float(np.mean([len(o) < len(r) and r[:len(o)] == o
                                          for o, r in pairs]))}


def evaluate(model, params, dataset, *, batch_size: int, split=None, beam_size: int = 1,
             max_examples: int = 0) -> dict[str, float]:
  """`exact_match` and `bleu` of decoding `split` (see `decode_split` for the arguments)."""
  decoded = decode_split(model, params, dataset, batch_size=batch_size, split=split,
                         beam_size=beam_size, max_examples=max_examples)
  return scores(decoded, dataset.target_tokenizer)
