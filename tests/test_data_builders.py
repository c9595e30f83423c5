"""Our TFDS builders: offline builds into the given data dir, built once, deterministic content."""
import os
import random
import socket

import hypothesis
from hypothesis import strategies as st
import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import load_dataset
from attn_jax.data import pipeline
from attn_jax.data import scan
from attn_jax.data import tokenizers
from attn_jax.data import toy_translation as tt

SMALL = {
    'iris': {},
    'digits': {},
    'text': {'seq_len': 32},
    'toy_translation': {'num_train_examples': 300, 'num_test_examples': 50},
    'scan': {'split': 'addprim_jump'},
    'listops': {'listops_min_length': 10, 'listops_max_length': 40, 'listops_max_depth': 4,
                'listops_num_train': 100, 'listops_num_validation': 20, 'listops_num_test': 20},
}
BUILDER_DIRS = {'iris': 'attn_jax_iris', 'digits': 'attn_jax_digits', 'text': 'attn_jax_text',
                'toy_translation': 'attn_jax_toy_translation', 'scan': 'attn_jax_scan',
                'listops': 'attn_jax_listops'}


def _config(data_dir, name, **overrides):
  c = data_config_defaults()
  c.update(name=name, data_dir=str(data_dir), **SMALL[name], **overrides)
  return c


def _files(root):
  return {os.path.join(d, f): os.path.getmtime(os.path.join(d, f))
          for d, _, names in os.walk(root) for f in names}


@pytest.fixture
def no_network(monkeypatch):
  """Any attempt to open a network connection fails the test."""

  def refuse(*args, **kwargs):
    raise AssertionError(f'network access during a build: {args}')

  monkeypatch.setattr(socket.socket, 'connect', refuse)
  monkeypatch.setattr(socket, 'create_connection', refuse)


@pytest.mark.parametrize('name', sorted(SMALL))
def test_builds_offline_once_into_the_data_dir(tmp_path, no_network, name):
  data_dir = tmp_path / 'tfds'
  default_dir = os.environ['TFDS_DATA_DIR']
  before_default = _files(default_dir)
  first = load_dataset(_config(data_dir, name), seed=0)
  built = _files(data_dir)
  records = [f for f in built if '.array_record' in f]
  assert records and all(f.startswith(str(data_dir / BUILDER_DIRS[name])) for f in records)
  assert _files(default_dir) == before_default  # Nothing written outside data.data_dir.
  again = load_dataset(_config(data_dir, name), seed=0)
  assert _files(data_dir) == built  # Prepared once: the second load only reads.
  for key, value in first.train_batch(3, 8).items():
    np.testing.assert_array_equal(value, again.train_batch(3, 8)[key])


def test_scan_simple_split_is_deterministic_by_seed():
  split = lambda seed: scan.generate({'split': 'simple', 'seed': seed})
  a, b, other = split(0), split(0), split(1)
  assert a == b and a['test'] != other['test']
  assert sorted(a['train'] + a['test']) == sorted(other['train'] + other['test'])


def test_toy_translation_is_deterministic_by_seed():
  options = {'seed': 0, 'max_len': 12, 'num_train': 200, 'num_test': 30}
  a, b = tt.generate(options), tt.generate(options)
  assert a == b and a != tt.generate({**options, 'seed': 1})
  assert {len(v) for v in (a['test'], a['length'])} == {30} and len(a['train']) == 200


def reference_translation(french: str) -> str:
  """An independent translator: a word lexicon, then each adjective moved before its noun."""
  lexicon = {'le': 'the', 'la': 'the', 'les': 'the', 'un': 'a', 'une': 'a', 'des': 'some',
             'qui': 'that'}
  nouns = set()
  for fr_sg, fr_pl, en_sg, en_pl, _ in tt.NOUNS:
    lexicon.update({fr_sg: en_sg, fr_pl: en_pl})
    nouns.update((fr_sg, fr_pl))
  adjectives = set()
  for *forms, english in tt.ADJECTIVES:
    lexicon.update({f: english for f in forms})
    adjectives.update(forms)
  for fr_sg, fr_pl, en_sg, en_pl in tt.VERBS:
    lexicon.update({fr_sg: en_sg, fr_pl: en_pl})
  words = french.split()
  out = []
  for i, word in enumerate(words):
    if word in adjectives:
      assert words[i - 1] in nouns  # French: the adjective follows its noun.
      out.insert(len(out) - 1, lexicon[word])
    else:
      out.append(lexicon[word])
  return ' '.join(out)


def test_toy_translation_targets_match_an_independent_translator():
  splits = tt.generate({'seed': 3, 'max_len': 12, 'num_train': 2000, 'num_test': 200})
  pairs = [p for split in splits.values() for p in split]
  for french, english in pairs:
    assert english == reference_translation(french), french
  assert any(w in tt.ADJECTIVES[0] for f, _ in pairs for w in f.split())  # Adjectives occur.


@hypothesis.given(st.lists(st.sampled_from(['le', 'chat', 'noir', 'voit', 'zèbre', 'a.b']),
                           max_size=12))
@hypothesis.settings(max_examples=50, deadline=None)
def test_word_round_trip(words):
  tok = tokenizers.word_tokenizer(['le chat noir voit', 'zèbre a.b le'])
  text = ' '.join(words)
  assert tok.decode(tok.encode(text)) == text
  assert tok.decode(tokenizers.pad_to(tok.encode(text), 16)) == text


@pytest.mark.parametrize('process_count', [1, 2, 4])
def test_lazy_eval_reads_every_prepared_example_once(tmp_path, monkeypatch, process_count):
  """Evaluation of a split read lazily from array_record, sharded over processes."""
  in_memory = load_dataset(_config(tmp_path, 'listops'), seed=0)
  monkeypatch.setattr(pipeline, 'CACHE_BYTES', 0)
  lazy = load_dataset(_config(tmp_path, 'listops'), seed=0)
  assert isinstance(lazy.eval_sources['validation'], pipeline.ExampleSource)
  expected = sorted(tuple(x) + (y,) for b in in_memory.eval_batches(20)
                    for x, y in zip(b['inputs'], b['targets']))
  seen = []
  for p in range(process_count):
    for b in lazy.eval_batches(8, process_index=p, process_count=process_count):
      seen += [tuple(x) + (y,) for x, y, w in zip(b['inputs'], b['targets'], b['weights']) if w]
  assert len(expected) == len(set(expected)) == 20
  assert sorted(seen) == expected
