"""Iris (Fisher 1936): 150 flowers, 4 measurements (cm), 3 species. Shipped as `files/iris.csv`.

Split 120/30 stratified (10 test flowers per species, chosen by `data.build_seed`); features are
standardised with the training split's mean and standard deviation.
"""
import csv
import functools
import importlib.resources

import numpy as np

from attn_jax.data import labelled_table
from attn_jax.data import pipeline
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


builder_cls = functools.cache(lambda: labelled_table.table_builder(
    'attn_jax_iris', read_csv, (len(FEATURES),), len(SPECIES), TEST_PER_CLASS, __doc__))


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('data_dir', 'build_seed')


def load(config, seed: int) -> pipeline.Dataset:
  arrays = labelled_table.read_splits(builder_cls(), config)
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
