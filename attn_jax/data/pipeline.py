"""The one batching pipeline: random-access sources -> deterministic, sharded batches.

A *batch source* has `__len__` and `gather(indices) -> dict[str, np.ndarray]` (one row per index,
fixed shapes, `weights` included). Three kinds serve every dataset:

* `ArraySource`: arrays in memory (small prepared datasets, generated evaluation sets).
* `ExampleSource`: any random-access example source (what `tfds.data_source` returns) plus a
  `featurize(example) -> dict of fixed-shape arrays`; read lazily, row by row.
* `WindowSource`: windows of a long token array (language modelling).

`Dataset.train_batch(step, ...)` is a pure function of (seed, step): epoch e visits the examples
in the order `permutation(seed, e)`, and step s takes global positions
`[s * global_batch, (s + 1) * global_batch)` of the concatenated epochs. Process p of P reads only
rows `[p * B / P, (p + 1) * B / P)` of that global batch. Infinite generated tasks supply their
own `train_fn(step, rows)` instead of a finite source.
"""
import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo

Batch = dict[str, np.ndarray]
# Bytes under which a prepared split is featurized once and kept in memory.
CACHE_BYTES = 1 << 30


class BatchSource(Protocol):

  def __len__(self) -> int:
    ...

  def gather(self, indices: np.ndarray) -> Batch:
    ...


class ArraySource:
  """Examples held as arrays with a shared leading axis (narrow dtypes are widened on gather)."""

  def __init__(self, arrays: Mapping[str, np.ndarray]):
    self.arrays = dict(arrays)
    lengths = {len(v) for v in self.arrays.values()}
    if len(lengths) != 1:
      raise ValueError(f'arrays of different lengths: { {k: len(v) for k, v in arrays.items()} }')
    self._len = lengths.pop()

  def __len__(self) -> int:
    return self._len

  def gather(self, indices: np.ndarray) -> Batch:
    return {k: _widen(v[indices]) for k, v in self.arrays.items()}


class ExampleSource:
  """A random-access example source read lazily through `featurize`."""

  def __init__(self, source, featurize: Callable[[dict[str, Any]], Batch]):
    self.source = source
    self.featurize = featurize

  def __len__(self) -> int:
    return len(self.source)

  def gather(self, indices: np.ndarray) -> Batch:
    getitems = getattr(self.source, '__getitems__', None)
    indices = [int(i) for i in indices]
    examples = getitems(indices) if getitems else [self.source[i] for i in indices]
    return stack([self.featurize(e) for e in examples])


class WindowSource:
  """Windows of `seq_len + 1` tokens starting every `stride` tokens: next-token prediction."""

  def __init__(self, tokens: np.ndarray, seq_len: int, stride: int):
    self.tokens = tokens
    self.seq_len = seq_len
    self.stride = stride
    self._len = max(0, (len(tokens) - seq_len - 1) // stride + 1)

  def __len__(self) -> int:
    return self._len

  def gather(self, indices: np.ndarray) -> Batch:
    starts = np.asarray(indices, np.int64) * self.stride
    window = self.tokens[starts[:, None] + np.arange(self.seq_len + 1)].astype(np.int32)
    return {'inputs': window[:, :-1], 'targets': window[:, 1:],
            'weights': np.ones(window[:, 1:].shape, np.float32)}


def stack(rows: list[Batch]) -> Batch:
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def _widen(x: np.ndarray) -> np.ndarray:
  if x.dtype.kind in 'iu' and x.dtype != np.int32:
    return x.astype(np.int32)
  return x


def from_examples(source, featurize: Callable[[dict[str, Any]], Batch]) -> BatchSource:
  """Featurizes a random-access source: all at once into memory when small, else lazily."""
  lazy = ExampleSource(source, featurize)
  n = len(source)
  if n == 0:
    return lazy
  first = lazy.gather(np.zeros(1, np.int64))
  if n * sum(v.nbytes for v in first.values()) > CACHE_BYTES:
    return lazy
  chunk = 4096
  parts = [lazy.gather(np.arange(i, min(n, i + chunk))) for i in range(0, n, chunk)]
  return ArraySource({k: np.concatenate([p[k] for p in parts]) for k in first})


def shard_rows(global_batch_size: int, process_index: int, process_count: int) -> np.ndarray:
  """Rows of the global batch that process `process_index` of `process_count` reads."""
  if global_batch_size <= 0:
    raise ConfigError('train.batch_size', f'must be positive, got {global_batch_size}')
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise ConfigError('process_index', f'{process_index} is not in 0..{process_count - 1}')
  if global_batch_size % process_count:
    raise ConfigError('train.batch_size', f'{global_batch_size} is not divisible by the '
                      f'number of processes ({process_count})')
  per = global_batch_size // process_count
  return np.arange(process_index * per, (process_index + 1) * per)


def mask_rows(batch: Batch, valid: np.ndarray) -> Batch:
  """Sets the weights of rows where `valid` is False to 0."""
  w = batch['weights']
  batch['weights'] = (w * valid.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
  return batch


class ShuffledIndices:
  """Position -> example index over epochs; epoch e is `permutation(seed, e)`."""

  def __init__(self, num_examples: int, seed: int):
    if num_examples <= 0:
      raise ConfigError('data.name', 'the training split is empty')
    self.n = num_examples
    self.seed = seed
    self._cache: dict[int, np.ndarray] = {}

  def permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._cache:
      if len(self._cache) >= 4:
        self._cache.pop(min(self._cache))
      self._cache[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
    return self._cache[epoch]

  def __call__(self, positions: np.ndarray) -> np.ndarray:
    epochs, offsets = np.divmod(positions, self.n)
    out = np.empty_like(positions)
    for e in np.unique(epochs):
      sel = epochs == e
      out[sel] = self.permutation(int(e))[offsets[sel]]
    return out


TrainFn = Callable[[int, int, np.ndarray], Batch]  # (step, global_batch_size, rows) -> batch


def finite_train_fn(source: BatchSource, seed: int) -> TrainFn:
  """Training batches from a finite source, shuffled per epoch."""
  order = ShuffledIndices(len(source), seed)

  def train_fn(step: int, global_batch_size: int, rows: np.ndarray) -> Batch:
    positions = np.int64(step) * global_batch_size + rows.astype(np.int64)
    return source.gather(order(positions))

  return train_fn


@dataclasses.dataclass
class Dataset:
  """A task's data: its `TaskInfo`, tokenizers, training batches and evaluation splits.

  Attributes:
    info: sizes and kind (see `attn_jax.task`).
    tokenizer: tokenizer of `inputs` (and of `targets` for `lm`), or None.
    target_tokenizer: tokenizer of seq2seq targets, or None.
    train_fn: `(step, global_batch_size, rows) -> batch` (see `finite_train_fn`).
    eval_sources: evaluation splits by name.
    default_eval_split: the split `eval_batches` reads when none is named.
    guessing_accuracy: the accuracy of the best answer that ignores what the task tests (NaN
      where the dataset does not state it; generated tasks do).
  """
  info: TaskInfo
  train_fn: TrainFn
  eval_sources: dict[str, BatchSource]
  default_eval_split: str
  tokenizer: Any = None
  target_tokenizer: Any = None
  guessing_accuracy: float = math.nan

  def train_batch(self, step: int, global_batch_size: int, *, process_index: int = 0,
                  process_count: int = 1) -> Batch:
    """This process's rows `[global_batch_size // process_count, ...]` of the batch of `step`."""
    rows = shard_rows(global_batch_size, process_index, process_count)
    return self.train_fn(int(step), global_batch_size, rows)

  def _eval_source(self, split: str | None) -> BatchSource:
    split = split or self.default_eval_split
    if split not in self.eval_sources:
      raise ConfigError('data.eval_split', f'unknown split {split!r}; accepted: '
                        f'{", ".join(sorted(self.eval_sources))}')
    return self.eval_sources[split]

  @property
  def eval_splits(self) -> tuple[str, ...]:
    return tuple(self.eval_sources)

  def num_eval_examples(self, split: str | None = None) -> int:
    return len(self._eval_source(split))

  def eval_batches(self, global_batch_size: int, *, split: str | None = None,
                   process_index: int = 0, process_count: int = 1) -> Iterator[Batch]:
    """Every example of `split` once, in order; the last global batch is padded (weights 0).

    Every process yields the same number of batches, `ceil(num_examples / global_batch_size)`.
    """
    source = self._eval_source(split)
    rows = shard_rows(global_batch_size, process_index, process_count)
    n = len(source)
    for b in range(math.ceil(n / global_batch_size)):
      positions = b * global_batch_size + rows
      valid = positions < n
      yield mask_rows(source.gather(np.where(valid, positions, 0)), valid)
