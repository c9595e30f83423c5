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

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
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


def split_indices(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
  """Stratified train/test indices: `TEST_PER_CLASS` random images of each digit to test."""
  rng = np.random.default_rng(seed)
  test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:TEST_PER_CLASS]
                         for c in range(NUM_CLASSES)])
  return {'train': np.setdiff1d(np.arange(len(labels)), test), 'test': np.sort(test)}


@functools.cache
def builder_cls():
  tfds = tfds_utils.tfds()

  class AttnJaxDigits(tfds.core.GeneratorBasedBuilder):
    """UCI optical digits (8x8) from the file shipped with attn_jax."""
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          features=tfds.features.FeaturesDict({
              'image': tfds.features.Tensor(shape=IMAGE_SHAPE, dtype=np.float32),
              'label': tfds.features.ClassLabel(num_classes=NUM_CLASSES),
              'index': np.int32,
          }),
          supervised_keys=('image', 'label'))

    def _split_generators(self, dl_manager):
      del dl_manager
      x, y = read_csv()
      split = split_indices(y, self.builder_config.options['seed'])
      return {name: self._generate_examples(x, y, idx) for name, idx in split.items()}

    def _generate_examples(self, x, y, indices):
      for i in indices:
        yield int(i), {'image': x[i], 'label': int(y[i]), 'index': int(i)}

  return AttnJaxDigits


def load(config, seed: int) -> pipeline.Dataset:
  sources = tfds_utils.prepare(builder_cls(), config.data_dir, {'seed': config.build_seed})

  def source(split):
    examples = sorted(tfds_utils.read_all(sources[split]), key=lambda e: e['index'])
    return pipeline.ArraySource({
        'inputs': np.stack([e['image'] for e in examples]).astype(np.float32),
        'targets': np.array([e['label'] for e in examples], np.int32),
        'weights': np.ones(len(examples), np.float32)})

  train = source('train')
  return pipeline.Dataset(
      info=TaskInfo(kind='classification', input_dim=int(np.prod(IMAGE_SHAPE)),
                    num_classes=NUM_CLASSES, input_shape=IMAGE_SHAPE),
      train_fn=pipeline.finite_train_fn(train, seed),
      eval_sources={'test': source('test'), 'train': train},
      default_eval_split='test')
