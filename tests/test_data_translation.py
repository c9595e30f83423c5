"""Toy French -> English translation: agreement, word order, splits by length."""
import random

import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import load_dataset
from attn_jax.data import toy_translation as tt
from attn_jax.errors import ConfigError

FR_NOUN = {n[i]: (n[4], i == 1) for n in tt.NOUNS for i in (0, 1)}
EN_NOUN_PLURAL = {n[3] for n in tt.NOUNS}


def test_agreement_and_adjective_order():
  rng = random.Random(0)
  adjectives_fr = {a[i]: a[4] for a in tt.ADJECTIVES for i in range(4)}
  for _ in range(500):
    fr, en = tt.sentence(rng)
    fr, en = fr.split(), en.split()
    for i, word in enumerate(fr):
      if word in FR_NOUN:
        gender, plural = FR_NOUN[word]
        det = fr[i - 1]
        assert det in ({'les', 'des'} if plural else
                       ({'le', 'un'} if gender == 'm' else {'la', 'une'}))
        if i + 1 < len(fr) and fr[i + 1] in adjectives_fr:
          adjective = next(a for a in tt.ADJECTIVES if fr[i + 1] in a[:4])
          assert fr[i + 1] == adjective[2 * plural + (gender == 'f')]
    # English: adjectives come before nouns; the word counts match.
    assert len(fr) == len(en)
    for i, word in enumerate(en):
      if word in {a[4] for a in tt.ADJECTIVES}:
        assert en[i + 1] in {n[2] for n in tt.NOUNS} | EN_NOUN_PLURAL


def test_known_sentence():
  words = {'le': 'the', 'chat': 'cat', 'noir': 'black', 'qui': 'that', 'voit': 'sees',
           'les': 'the', 'filles': 'girls', 'mange': 'eats', 'une': 'a', 'table': 'table'}
  fr = 'le chat noir qui voit les filles mange une table'
  assert ' '.join(words[w] for w in fr.split()) == \
      'the cat black that sees the girls eats a table'  # Word by word: order must change.
  rng = random.Random(0)
  pairs = dict(tt.sentence(rng) for _ in range(20000))
  if fr in pairs:
    assert pairs[fr] == 'the black cat that sees the girls eats a table'


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  c = data_config_defaults()
  c.update(name='toy_translation', data_dir=str(tmp_path_factory.mktemp('tt')),
           num_train_examples=2000, num_test_examples=200, max_len=10)
  return load_dataset(c, seed=0)


def test_splits(dataset):
  assert dataset.info.kind == 'seq2seq'
  assert dataset.eval_splits == ('test', 'length')
  assert dataset.num_eval_examples() == dataset.num_eval_examples('length') == 200
  assert dataset.tokenizer.vocab_size <= 4 + 59 and dataset.target_tokenizer.vocab_size <= 44
  lengths = {}
  for split in ('test', 'length'):
    b = next(dataset.eval_batches(200, split=split))
    lengths[split] = (b['inputs'] != 0).sum(1)
  assert lengths['test'].max() <= 10 < lengths['length'].min()
  train = dataset.train_batch(0, 2000)
  train_set = {tuple(x) for x in train['inputs']}
  test = next(dataset.eval_batches(200))
  assert not train_set & {tuple(x) for x in test['inputs']}
  np.testing.assert_array_equal(train['decoder_inputs'][:, 0], 1)


def test_max_len_bounds(tmp_path):
  c = data_config_defaults()
  c.update(name='toy_translation', data_dir=str(tmp_path), max_len=30)
  with pytest.raises(ConfigError) as e:
    load_dataset(c, seed=0)
  assert e.value.setting == 'data.max_len'
