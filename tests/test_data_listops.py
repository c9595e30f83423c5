"""ListOps: generation is deterministic, within its bounds, and labelled right."""
import random

import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import listops
from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError

SMALL = dict(listops_min_length=10, listops_max_length=60, listops_max_depth=5,
             listops_num_train=300, listops_num_validation=50, listops_num_test=50)


def reference_value(tokens):
  """An independent evaluator: recursive descent, median from the sorted middle."""

  def parse(i):
    token = tokens[i]
    if token.isdigit():
      return int(token), i + 1
    args, i = [], i + 1
    while tokens[i] != ']':
      value, i = parse(i)
      args.append(value)
    ordered = sorted(args)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2
    return {'[MAX': max(args), '[MIN': min(args), '[MED': median,
            '[SM': sum(args) % 10}[token], i + 1

  value, end = parse(0)
  assert end == len(tokens)
  return value


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  c = data_config_defaults()
  c.update(name='listops', data_dir=str(tmp_path_factory.mktemp('listops')), **SMALL)
  return load_dataset(c, seed=0)


def test_evaluator_on_known_expressions():
  for text, value in [('[MAX 2 9 ]', 9), ('[MIN 4 [MAX 2 9 ] 3 ]', 3), ('[MED 1 8 ]', 4),
                      ('[MED 1 8 3 ]', 3), ('[SM 5 6 7 ]', 8), ('7', 7)]:
    assert listops.evaluate(text.split()) == value == reference_value(text.split())


def test_random_expressions_agree_with_the_reference():
  rng = random.Random(1)
  options = listops._options(data_config_defaults())
  options.update(min_length=2, max_length=300)
  found = [e for e in (listops.expression(rng, options) for _ in range(3000)) if e]
  assert len(found) > 100
  for tokens in found:
    assert listops.evaluate(tokens) == reference_value(tokens)


def test_dataset_bounds_labels_and_determinism(dataset, tmp_path):
  assert dataset.info.kind == 'classification' and dataset.info.num_classes == 10
  assert dataset.info.max_len == 60 and dataset.info.vocab_size == 19
  assert dataset.num_eval_examples() == 50 and dataset.num_eval_examples('test') == 50
  seen = []
  for split in ('validation', 'test'):
    for b in dataset.eval_batches(50, split=split):
      for x, y in zip(b['inputs'], b['targets']):
        tokens = dataset.tokenizer.decode(x).split()
        assert 10 <= len(tokens) <= 60 and tokens.count(']') == sum(
            t.startswith('[') for t in tokens)
        assert reference_value(tokens) == y
        seen.append(tuple(tokens))
  assert len(set(seen)) == len(seen)  # Distinct expressions across splits.
  c = data_config_defaults()
  c.update(name='listops', data_dir=str(tmp_path), **SMALL)
  again = load_dataset(c, seed=0)  # Built again in a fresh directory.
  np.testing.assert_array_equal(next(again.eval_batches(50))['inputs'],
                                next(dataset.eval_batches(50))['inputs'])


def test_bad_options(tmp_path):
  c = data_config_defaults()
  c.update(name='listops', data_dir=str(tmp_path), **SMALL)
  c.listops_min_length = 100
  with pytest.raises(ConfigError) as e:
    load_dataset(c, seed=0)
  assert e.value.setting == 'data.listops_min_length'
