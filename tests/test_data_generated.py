"""Generated long-range tasks: determinism by (seed, step), sharding, labels by construction."""
import itertools

import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import generated
from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError

TASKS = ('copy', 'recall', 'first_token', 'adding', 'mqar', 'parity')


def _load(name, seed=0, **overrides):
  c = data_config_defaults()
  c.update({'name': name, 'seq_len': 41, **overrides})
  return load_dataset(c, seed=seed)


@pytest.mark.parametrize('name', TASKS)
def test_deterministic_and_sharded(name):
  ds = _load(name)
  whole = ds.train_batch(5, 8)
  again = _load(name).train_batch(5, 8)
  shares = [ds.train_batch(5, 8, process_index=p, process_count=2) for p in range(2)]
  for key in whole:
    np.testing.assert_array_equal(whole[key], again[key])
    np.testing.assert_array_equal(np.concatenate([s[key] for s in shares]), whole[key])
  assert not np.array_equal(whole['inputs'], ds.train_batch(6, 8)['inputs'])
  assert not np.array_equal(whole['inputs'], _load(name, seed=1).train_batch(5, 8)['inputs'])
  assert whole['inputs'].shape[:2] == (8, 41) and ds.info.max_len == 41
  if ds.info.vocab_size:
    assert whole['inputs'].min() >= 0 and whole['inputs'].max() < ds.info.vocab_size


@pytest.mark.parametrize('name', TASKS)
def test_eval_set_is_fixed_and_separate_from_training(name):
  ds = _load(name, num_eval_examples=100)
  assert ds.num_eval_examples() == 100
  batches = list(ds.eval_batches(32))
  assert len(batches) == 4 and batches[-1]['weights'].reshape(32, -1).max(1).sum() == 4
  first = next(ds.eval_batches(32))['inputs']
  np.testing.assert_array_equal(first, next(_load(name, seed=7).eval_batches(32))['inputs'])
  assert not np.array_equal(first, ds.train_batch(0, 32)['inputs'])


def test_copy_targets_are_the_first_symbols():
  ds = _load('copy', copy_length=5)
  b = ds.train_batch(0, 16)
  np.testing.assert_array_equal(b['targets'][:, -5:], b['inputs'][:, :5])
  assert (b['inputs'][:, -6] == generated.GO).all()
  assert b['weights'].sum(1).tolist() == [5] * 16 and (b['weights'][:, -5:] == 1).all()
  assert (b['inputs'][:, 5:-6] == generated.BLANK).all()


def test_recall_label_is_the_value_of_the_query_key():
  ds = _load('recall', seq_len=22)
  b = ds.train_batch(0, 64)
  keys, values = b['inputs'][:, :-2:2], b['inputs'][:, 1:-2:2]
  num_keys = ds.info.vocab_size - 2 - ds.info.num_classes
  for k, v, query, y in zip(keys, values, b['inputs'][:, -1], b['targets']):
    assert len(set(k)) == len(k) == 10  # Distinct keys.
    assert v[list(k).index(query)] - 2 - num_keys == y
  assert (b['inputs'][:, -2] == generated.QUERY).all()


def test_first_token_label():
  ds = _load('first_token')
  b = ds.train_batch(3, 64)
  np.testing.assert_array_equal(b['targets'] + 1, b['inputs'][:, 0])
  assert ds.info.num_classes == 10 and len(set(b['targets'].tolist())) > 5


def test_adding_target_is_the_sum_of_marked_values():
  ds = _load('adding')
  b = ds.train_batch(0, 64)
  assert ds.info.kind == 'regression' and b['inputs'].shape == (64, 41, 2)
  markers = b['inputs'][..., 1]
  assert (markers.sum(1) == 2).all() and (markers[:, :20].sum(1) == 1).all()
  np.testing.assert_allclose((b['inputs'][..., 0] * markers).sum(1), b['targets'], rtol=1e-6)


def test_counter_uniform_is_uniform():
  u = generated.Counter(0, 0, np.arange(1000)).uniform(100)
  assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


@pytest.mark.parametrize('name,overrides,setting', [
    ('copy', dict(seq_len=10, copy_length=5), 'data.seq_len'),
    ('recall', dict(seq_len=40, num_keys=5), 'data.num_keys'),
    ('first_token', dict(num_classes=1), 'data.num_classes'),
    ('adding', dict(seq_len=1), 'data.seq_len'),
    ('mqar', dict(seq_len=3), 'data.seq_len'),
    ('mqar', dict(seq_len=64, num_keys=8), 'data.num_keys'),
    ('mqar', dict(seq_len=64, num_pairs=17), 'data.num_pairs'),
    ('parity', dict(eval_length_multipliers=(0,)), 'data.eval_length_multipliers'),
    ('mqar', dict(seq_len=64, eval_length_multipliers=(4,)), 'data.eval_length_multipliers'),
])
def test_bad_settings(name, overrides, setting):
  with pytest.raises(ConfigError) as e:
    _load(name, **overrides)
  assert e.value.setting == setting


def _mqar_reference(inputs, num_keys, n):
  """One row by hand: n pairs (k, v) open the row; each query key (after the BLANK gap when the
  pairs do not fill it, 4n < length // 4 * 4) is followed by a BLANK (its answer is not shown) and
  is labelled with its value; PAD fills the rest."""
  pairs = [(int(inputs[2 * i]), int(inputs[2 * i + 1])) for i in range(n)]
  table = dict(pairs)
  assert len(table) == n and all(2 <= k <= num_keys + 1 < v for k, v in pairs)  # distinct keys
  first = 2 * n if n == len(inputs) // 4 else len(inputs) - 2 * n
  assert all(x == generated.BLANK for x in inputs[2 * n:first])  # the gap
  targets, weights = [0] * len(inputs), [0.0] * len(inputs)
  queried = []
  for t in range(first, first + 2 * n, 2):
    key = int(inputs[t])
    assert int(inputs[t + 1]) == generated.BLANK
    targets[t], weights[t] = table[key], 1.0
    queried.append(key)
  assert sorted(queried) == sorted(table)  # every key queried exactly once
  assert all(x == 0 for x in inputs[first + 2 * n:])  # PAD fills seq_len % 4 (dense rows)
  return targets, weights


@pytest.mark.parametrize('seq_len,num_pairs', [(16, 0), (43, 0), (64, 4), (33, 3), (20, 5)])
def test_mqar_labels_match_a_python_reference(seq_len, num_pairs):
  ds = _load('mqar', seq_len=seq_len, num_classes=7, num_pairs=num_pairs)
  b = ds.train_batch(2, 32)
  num_keys = ds.info.vocab_size - 2 - 7
  assert ds.info.kind == 'lm' and b['inputs'].shape == (32, seq_len) and num_keys == 32
  n = num_pairs or seq_len // 4
  for inputs, targets, weights in zip(b['inputs'], b['targets'], b['weights']):
    expected_targets, expected_weights = _mqar_reference(inputs.tolist(), num_keys, n)
    assert targets.tolist() == expected_targets and weights.tolist() == expected_weights
  assert len(np.unique(b['targets'][b['weights'] > 0])) == 7  # every value occurs


def _parity_reference(bits):
  parity, out = 0, []
  for bit in bits:
    parity ^= bit
    out.append(parity)
  return out


def test_parity_labels_match_a_python_reference():
  ds = _load('parity', seq_len=20)
  b = ds.train_batch(4, 32)
  assert ds.info.kind == 'lm' and ds.info.vocab_size == ds.info.target_vocab_size == 3
  assert b['inputs'].shape == (32, 20) and (b['weights'] == 1).all()
  bits = b['inputs'] - generated.BIT
  assert set(np.unique(bits)) == {0, 1}
  for row_bits, targets in zip(bits, b['targets']):
    assert (targets - generated.BIT).tolist() == _parity_reference(row_bits.tolist())


@pytest.mark.parametrize('name', ['parity', 'mqar', 'first_token'])
def test_longer_evaluation_splits(name):
  ds = _load(name, seq_len=16, eval_length_multipliers=(2, 4), num_eval_examples=10)
  assert ds.eval_splits == ('test', 'test_2x', 'test_4x') and ds.default_eval_split == 'test'
  assert ds.info.max_len == 16
  for split, length in (('test', 16), ('test_2x', 32), ('test_4x', 64)):
    batch = next(ds.eval_batches(16, split=split))
    assert batch['inputs'].shape == (16, length) and ds.num_eval_examples(split) == 10
    assert batch['weights'].shape[1:] == batch['inputs'].shape[1:] or name == 'first_token'
    assert batch['inputs'].max() < ds.info.vocab_size
  long = next(ds.eval_batches(10, split='test_4x'))
  np.testing.assert_array_equal(long['inputs'], next(_load(
      name, seq_len=64, num_eval_examples=10).eval_batches(10))['inputs'])  # the same task at 4L
  if name == 'parity':
    for row_bits, targets in zip(long['inputs'] - 1, long['targets'] - 1):
      assert targets.tolist() == _parity_reference(row_bits.tolist())


@pytest.mark.parametrize('draws,categories', [(1, 5), (2, 10), (3, 3), (4, 10), (5, 4)])
def test_most_frequent_share_matches_enumeration(draws, categories):
  """Every one of the categories**draws equally likely contexts, counted in Python."""
  total = sum(max(context.count(v) for v in set(context))
              for context in itertools.product(range(categories), repeat=draws))
  expected = total / categories**draws / draws
  assert generated.most_frequent_share(draws, categories) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize('name,seq_len,num_classes,num_pairs', [
    ('mqar', 16, 10, 0), ('mqar', 64, 10, 0), ('mqar', 32, 32, 0), ('mqar', 64, 16, 4),
    ('recall', 18, 5, 0)])
def test_guessing_level_is_the_most_frequent_context_value(name, seq_len, num_classes, num_pairs):
  """The stated guessing level equals the held-out accuracy of answering, at every weighted
  position, the most frequent value among the context's values (4000 examples: within 0.015)."""
  ds = _load(name, seq_len=seq_len, num_classes=num_classes, num_eval_examples=4000,
             **({'num_pairs': num_pairs} if num_pairs else {}))
  batch = next(ds.eval_batches(4000))
  pairs = (num_pairs or seq_len // 4) if name == 'mqar' else (seq_len - 2) // 2
  start = 0 if name == 'mqar' else seq_len - 2 * pairs - 2
  values = batch['inputs'][:, start + 1:start + 2 * pairs:2]  # [examples, pairs]
  guess = np.array([np.bincount(row).argmax() for row in values])
  targets = batch['targets'] if name == 'mqar' else batch['targets'] + ds.info.vocab_size - num_classes
  weights = batch['weights'].reshape(len(guess), -1)
  correct = (targets.reshape(len(guess), -1) == guess[:, None]) * weights
  measured = correct.sum() / weights.sum()
  assert ds.guessing_accuracy == pytest.approx(measured, abs=0.015)


def test_guessing_levels_of_the_other_tasks():
  assert _load('first_token', num_classes=8).guessing_accuracy == 1 / 8
  assert _load('parity').guessing_accuracy == 0.5
  assert _load('copy', num_symbols=6).guessing_accuracy == 1 / 6
  assert np.isnan(_load('adding').guessing_accuracy)
