"""The `digits` dataset: the shipped UCI file read back exactly, a fixed stratified split."""
import csv
import gzip
import importlib.resources

import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import digits
from attn_jax.data import labelled_table
from attn_jax.data import load_dataset


def reference_table() -> tuple[np.ndarray, np.ndarray]:
  """The file parsed with the csv module: pixels `[1797, 64]` (0..16), labels `[1797]`."""
  path = importlib.resources.files('attn_jax.data').joinpath('files/digits.csv.gz')
  with path.open('rb') as raw, gzip.open(raw, 'rt') as f:
    rows = [[int(v) for v in row] for row in csv.reader(f)]
  table = np.array(rows)
  return table[:, :64], table[:, 64]


def _load(data_dir, **overrides):
  c = data_config_defaults()
  c.update(name='digits', data_dir=str(data_dir), **overrides)
  return load_dataset(c, seed=0)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  return _load(tmp_path_factory.mktemp('tfds'))


def test_splits_are_stratified_and_cover_every_image_once(dataset):
  pixels, labels = reference_table()
  assert pixels.shape == (1797, 64)
  test, train = dataset.eval_sources['test'], dataset.eval_sources['train']
  assert (len(train), len(test)) == (1437, 360)
  assert np.bincount(test.arrays['targets'], minlength=10).tolist() == [36] * 10
  assert (np.bincount(train.arrays['targets'], minlength=10)
          == np.bincount(labels, minlength=10) - 36).all()
  split = labelled_table.stratified_split(labels, digits.NUM_CLASSES, digits.TEST_PER_CLASS, 0)
  assert not set(split['train']) & set(split['test'])
  assert sorted([*split['train'], *split['test']]) == list(range(1797))


def test_images_are_the_file_scaled_to_unit_range(dataset):
  pixels, labels = reference_table()
  split = labelled_table.stratified_split(labels, digits.NUM_CLASSES, digits.TEST_PER_CLASS, 0)
  for name in ('train', 'test'):
    arrays = dataset.eval_sources[name].arrays
    assert arrays['inputs'].dtype == np.float32 and arrays['inputs'].shape[1:] == (8, 8, 1)
    assert arrays['inputs'].min() == 0.0 and arrays['inputs'].max() == 1.0
    expected = pixels[split[name]].reshape(-1, 8, 8, 1) / 16
    np.testing.assert_array_equal(arrays['inputs'], expected.astype(np.float32))
    np.testing.assert_array_equal(arrays['targets'], labels[split[name]])
    assert set(arrays['targets'].tolist()) == set(range(10))
  info = dataset.info
  assert (info.kind, info.num_classes, info.input_shape) == ('classification', 10, (8, 8, 1))
  batch = dataset.train_batch(0, 16)
  assert batch['inputs'].shape == (16, 8, 8, 1) and batch['targets'].shape == (16,)


def test_split_is_deterministic_and_chosen_by_build_seed(tmp_path, dataset):
  again = _load(tmp_path / 'again')
  for name in ('train', 'test'):
    for key, value in dataset.eval_sources[name].arrays.items():
      np.testing.assert_array_equal(value, again.eval_sources[name].arrays[key])
  other = _load(tmp_path / 'again', build_seed=1)
  assert not np.array_equal(other.eval_sources['test'].arrays['inputs'],
                            dataset.eval_sources['test'].arrays['inputs'])
