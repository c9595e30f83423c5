"""Small labelled tables shipped inside the package (iris, digits): one TFDS builder shape.

A table module supplies `read_table() -> (inputs [rows, ...] float32, labels [rows] int32)`; the
rows are split by `stratified_split` (a fixed number of random rows of each class to `test`,
chosen by `data.build_seed`), stored as array_record by `table_builder`, and read back in file
order by `read_splits`.
"""
from collections.abc import Callable

import numpy as np

from attn_jax.data import tfds_utils

Table = tuple[np.ndarray, np.ndarray]


def stratified_split(labels: np.ndarray, num_classes: int, test_per_class: int,
                     seed: int) -> dict[str, np.ndarray]:
  """Row indices: `test_per_class` random rows of each class to 'test', the rest to 'train'."""
  rng = np.random.default_rng(seed)
  test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:test_per_class]
                         for c in range(num_classes)])
  return {'train': np.setdiff1d(np.arange(len(labels)), test), 'test': np.sort(test)}


def table_builder(name: str, read_table: Callable[[], Table], input_shape: tuple[int, ...],
                  num_classes: int, test_per_class: int, doc: str):
  """A GeneratorBasedBuilder registered as `name` storing `read_table()`'s rows, split by
  `stratified_split` with the builder option `seed`."""
  tfds = tfds_utils.tfds()

  class TableBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version('1.1.0')
    RELEASE_NOTES = {'1.1.0': "one feature name, 'inputs', for every shipped table"}

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, description=doc,
          features=tfds.features.FeaturesDict({
              'inputs': tfds.features.Tensor(shape=input_shape, dtype=np.float32),
              'label': tfds.features.ClassLabel(num_classes=num_classes),
              'index': np.int32}),
          supervised_keys=('inputs', 'label'))

    def _split_generators(self, dl_manager):
      del dl_manager
      x, y = read_table()
      split = stratified_split(y, num_classes, test_per_class, self.builder_config.options['seed'])
      return {name: self._generate_examples(x, y, idx) for name, idx in split.items()}

    def _generate_examples(self, x, y, indices):
      for i in indices:
        yield int(i), {'inputs': x[i], 'label': int(y[i]), 'index': int(i)}

  TableBuilder.name = name
  TableBuilder.__name__ = TableBuilder.__qualname__ = name
  return TableBuilder


def read_splits(builder_cls, config) -> dict[str, Table]:
  """Prepares the table (once, into `config.data_dir`) -> {split: (inputs, labels)} in file order."""
  sources = tfds_utils.prepare(builder_cls, config.data_dir, {'seed': config.build_seed})
  splits = {}
  for split, source in sources.items():
    examples = sorted(tfds_utils.read_all(source), key=lambda e: e['index'])
    splits[split] = (np.stack([e['inputs'] for e in examples]).astype(np.float32),
                     np.array([e['label'] for e in examples], np.int32))
  return splits
