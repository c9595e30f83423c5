"""Handwritten digits (UCI optical digits, Alpaydin & Kaynak 1998): 1,797 images of 8x8 pixels,
10 classes. Shipped as `files/digits.csv.gz` (CC BY 4.0; source and citation in
`files/digits.README.md`), the copy scikit-learn ships as `load_digits`.

The file has no train/test split of its own, so ours is fixed and stratified: `TEST_PER_CLASS`
= 36 random images of each digit go to `test` (360), the other 1,437 to `train`; which ones is
chosen by `data.build_seed` (default 0, the split every number in this project was measured on).
Images are float32 `[8, 8, 1]`: the pixel counts 0..16 divided by 16, so in [0, 1].
"""
import functools
import gzip
import importlib.resources

import numpy as np

from attn_jax.data import labelled_table
from attn_jax.data import pipeline
from attn_jax.task import TaskInfo

NUM_CLASSES = 10
IMAGE_SHAPE = (8, 8, 1)
MAX_PIXEL = 16.0  # each pixel counts the set pixels of a 4x4 block of the original 32x32 bitmap
TEST_PER_CLASS = 36


def read_csv() -> tuple[np.ndarray, np.ndarray]:
  """The shipped table: images float32 `[1797, 8, 8, 1]` in [0, 1], labels int32 `[1797]`."""
  raw = importlib.resources.files('attn_jax.data').joinpath('files/digits.csv.gz').read_bytes()
  table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=',', dtype=np.int64)
  images = (table[:, :-1] / MAX_PIXEL).astype(np.float32).reshape(-1, *IMAGE_SHAPE)
  return images, table[:, -1].astype(np.int32)


builder_cls = functools.cache(lambda: labelled_table.table_builder(
    'attn_jax_digits', read_csv, IMAGE_SHAPE, NUM_CLASSES, TEST_PER_CLASS, __doc__))


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('data_dir', 'build_seed')


def load(config, seed: int) -> pipeline.Dataset:
  splits = labelled_table.read_splits(builder_cls(), config)
  source = lambda split: pipeline.ArraySource({
      'inputs': splits[split][0], 'targets': splits[split][1],
      'weights': np.ones(len(splits[split][1]), np.float32)})
  train = source('train')
  return pipeline.Dataset(
      info=TaskInfo(kind='classification', input_dim=int(np.prod(IMAGE_SHAPE)),
                    num_classes=NUM_CLASSES, input_shape=IMAGE_SHAPE),
      train_fn=pipeline.finite_train_fn(train, seed),
      eval_sources={'test': source('test'), 'train': train},
      default_eval_split='test')
