"""Sentence-pair datasets (SCAN, toy translation): one TFDS builder shape, one loader.

A pair module supplies `generate(options) -> {split: [(source, target), ...]}`; the pairs are
stored as array_record by `pair_builder`, and `load_pairs` turns them into seq2seq batches with
word tokenizers built from the training split:
`inputs` = source words, `decoder_inputs` = BOS + target, `targets` = target + EOS (then PAD).
"""
from collections.abc import Callable, Sequence

import numpy as np

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
from attn_jax.data import tokenizers
from attn_jax.task import TaskInfo

Pairs = list[tuple[str, str]]


def pair_builder(name: str, generate: Callable[[dict], dict[str, Pairs]], doc: str):
  """A GeneratorBasedBuilder registered as `name` storing `generate(options)`'s pairs."""
  tfds = tfds_utils.tfds()

  class PairBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, description=doc,
          features=tfds.features.FeaturesDict({
              'source': tfds.features.Text(), 'target': tfds.features.Text(),
              'index': np.int32}),
          supervised_keys=('source', 'target'))

    def _split_generators(self, dl_manager):
      del dl_manager
      splits = generate(self.builder_config.options)
      return {split: self._generate_examples(pairs) for split, pairs in splits.items()}

    def _generate_examples(self, pairs):
      for i, (source, target) in enumerate(pairs):
        yield i, {'source': source, 'target': target, 'index': i}

  PairBuilder.name = name
  PairBuilder.__name__ = PairBuilder.__qualname__ = name
  return PairBuilder


def read_pairs(source) -> Pairs:
  examples = sorted(tfds_utils.read_all(source), key=lambda e: e['index'])
  return [(e['source'].decode(), e['target'].decode()) for e in examples]


def encode_pairs(pairs: Pairs, source_tok, target_tok, source_len: int,
                 target_len: int) -> pipeline.ArraySource:
  """Seq2seq arrays `[num_pairs, length]` (see the module docstring)."""
  n = len(pairs)
  inputs = np.zeros((n, source_len), np.int32)
  decoder_inputs = np.zeros((n, target_len), np.int32)
  targets = np.zeros((n, target_len), np.int32)
  for i, (source, target) in enumerate(pairs):
    inputs[i] = tokenizers.pad_to(source_tok.encode(source), source_len)
    t = target_tok.encode(target)
    decoder_inputs[i] = tokenizers.pad_to([tokenizers.BOS_ID] + t, target_len)
    targets[i] = tokenizers.pad_to(t + [tokenizers.EOS_ID], target_len)
  return pipeline.ArraySource({'inputs': inputs, 'decoder_inputs': decoder_inputs,
                               'targets': targets,
                               'weights': (targets != 0).astype(np.float32)})


def load_pairs(builder_cls, config, options: dict, seed: int, *,
               eval_splits: Sequence[str]) -> pipeline.Dataset:
  """Prepares the pairs and returns a seq2seq Dataset; the first of `eval_splits` is default."""
  sources = tfds_utils.prepare(builder_cls, config.data_dir, options)
  pairs = {split: read_pairs(sources[split]) for split in ('train',) + tuple(eval_splits)}
  source_tok = tokenizers.word_tokenizer(s for s, _ in pairs['train'])
  target_tok = tokenizers.word_tokenizer(t for _, t in pairs['train'])
  all_pairs = [p for split in pairs.values() for p in split]
  source_len = max(len(s.split()) for s, _ in all_pairs)
  target_len = max(len(t.split()) for _, t in all_pairs) + 1
  arrays = {split: encode_pairs(p, source_tok, target_tok, source_len, target_len)
            for split, p in pairs.items()}
  return pipeline.Dataset(
      info=TaskInfo(kind='seq2seq', max_len=source_len, vocab_size=source_tok.vocab_size,
                    target_vocab_size=target_tok.vocab_size, target_max_len=target_len,
                    input_shape=(source_len,)),
      train_fn=pipeline.finite_train_fn(arrays['train'], seed),
      eval_sources={split: arrays[split] for split in eval_splits},
      default_eval_split=eval_splits[0],
      tokenizer=source_tok, target_tokenizer=target_tok)
