"""Iris (Fisher 1936): 150 flowers, 4 measurements (cm), 3 species. Shipped as `files/iris.csv`.

Split 120/30 stratified (10 test flowers per species, chosen by `data.build_seed`); features are
standardised with the training split's mean and standard deviation.
"""
import csv
import functools
import importlib.resources

import numpy as np

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
from attn_jax.task import TaskInfo

SPECIES = ('setosa', 'versicolor', 'virginica')
FEATURES = ('sepal_length', 'sepal_width', 'petal_length', 'petal_width')
TEST_PER_CLASS = 10


def read_csv() -> tuple[np.ndarray, np.ndarray]:
  """The shipped table: features float32 `[150, 4]`, labels int32 `[150]`."""
  text = importlib.resources.files('attn_jax.data').joinpath('files/iris.csv').read_text()
  rows = list(csv.DictReader(text.splitlines()))
  x = np.array([[float(r[f]) for f in FEATURES] for r in rows], np.float32)
  y = np.array([SPECIES.index(r['species']) for r in rows], np.int32)
  return x, y


def split_indices(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
  """Stratified train/test indices: `TEST_PER_CLASS` random flowers of each species to test."""
  rng = np.random.default_rng(seed)
  test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:TEST_PER_CLASS]
                         for c in range(len(SPECIES))])
  return {'train': np.setdiff1d(np.arange(len(labels)), test), 'test': np.sort(test)}


@functools.cache
def builder_cls():
  tfds = tfds_utils.tfds()

  class AttnJaxIris(tfds.core.GeneratorBasedBuilder):
    """Iris from the CSV shipped with attn_jax."""
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          features=tfds.features.FeaturesDict({
              'features': tfds.features.Tensor(shape=(4,), dtype=np.float32),
              'label': tfds.features.ClassLabel(names=SPECIES),
              'index': np.int32,
          }),
          supervised_keys=('features', 'label'))

    def _split_generators(self, dl_manager):
      del dl_manager
      x, y = read_csv()
      split = split_indices(y, self.builder_config.options['seed'])
      return {name: self._generate_examples(x, y, idx) for name, idx in split.items()}

    def _generate_examples(self, x, y, indices):
      for i in indices:
        yield int(i), {'features': x[i], 'label': int(y[i]), 'index': int(i)}

  return AttnJaxIris


def load(config, seed: int) -> pipeline.Dataset:
  sources = tfds_utils.prepare(builder_cls(), config.data_dir, {'seed': config.build_seed})
  arrays = {}
  for split in ('train', 'test'):
    examples = sorted(tfds_utils.read_all(sources[split]), key=lambda e: e['index'])
    arrays[split] = (np.stack([e['features'] for e in examples]).astype(np.float32),
                     np.array([e['label'] for e in examples], np.int32))
  mean, std = arrays['train'][0].mean(0), arrays['train'][0].std(0)

  def source(split):
    x, y = arrays[split]
    return pipeline.ArraySource({'inputs': (x - mean) / std, 'targets': y,
                                 'weights': np.ones(len(y), np.float32)})

  train = source('train')
  return pipeline.Dataset(
      info=TaskInfo(kind='classification', input_dim=4, num_classes=3, input_shape=(4,)),
      train_fn=pipeline.finite_train_fn(train, seed),
      eval_sources={'test': source('test'), 'train': train},
      default_eval_split='test')
