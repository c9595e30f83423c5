"""Long-range tasks generated on the fly: no files, infinite, parameterised by `data.seq_len`.

Every row is a pure function of (seed, step, row of the global batch): random numbers come from a
counter-based hash (splitmix64) of those integers, vectorised in numpy, so any process computes
its own rows only and a resumed run replays the same batches. The evaluation split is a fixed set
of `data.num_eval_examples` rows drawn from a stream that training never uses.

* `copy` (delayed copy, kind 'lm'): `copy_length` symbols, blanks, a GO marker, then blanks
  during which the model must output the symbols; weights are 1 only on those last positions.
  inputs:  s1 .. sk  _ .. _  GO  _ .. _        targets: 0 ... 0  s1 .. sk (last k positions)
* `recall` (associative recall, classification): distinct keys each followed by a value, then a
  QUERY marker and one of the keys; the class is that key's value.
  inputs:  k1 v1 k2 v2 .. kn vn QUERY kq       n = (seq_len - 2) // 2
* `first_token` (classification): a class token followed by `seq_len - 1` random distractors
  from the same alphabet; the class is the first token.
* `adding` (Hochreiter & Schmidhuber 1997; regression): inputs `[seq_len, 2]`: uniform values in
  [0, 1) and a marker channel with one 1 in each half; the target is the sum of the two marked
  values.
* `mqar` (multi-query associative recall, after Zoology: Arora et al. 2024; kind 'lm'):
  n pairs of distinct keys and values, then every key once more in random order, each followed
  by a BLANK (the answer is never shown: with the answers in the input, a model can score about
  0.55 at n = 4 by eliminating the values already answered, without any lookup); the target at a
  query key's position is its value, with weight 1 there and 0 elsewhere. n is `data.num_pairs`,
  or seq_len // 4 when that is 0 (context and queries fill the sequence; trailing PADs fill
  seq_len % 4 positions); with fewer pairs, BLANKs separate the context from the queries, so the
  length is the distance a pair must be kept over (Zoology's figure 2: 4 pairs at L = 64).
  inputs:  k1 v1 .. kn vn  _ .. _  q1 _ .. qn _   targets: v(qi) at each qi, weight 1 only there
* `parity` (running parity, kind 'lm'): random bits (tokens 1, 2 for 0, 1); the target at every
  position is the parity of the prefix up to and including it (tokens 1, 2), weight 1 everywhere.

Each task states its guessing level (`guessing_accuracy`): the held-out accuracy of the best
answer that ignores the dependency the task tests (a random class; for the recall tasks the most
frequent value of the context, which a model reaches without any lookup).

`data.eval_length_multipliers` (e.g. (2, 4)) adds evaluation splits `test_2x`, `test_4x`: the same
task at 2 and 4 times `data.seq_len`, for length extrapolation (a model must accept the longer
inputs: a learned position table must have `model.max_len` positions, or use sinusoidal/rotary).
"""
import dataclasses
import functools
import math

import numpy as np

from attn_jax.data import pipeline
from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
EVAL_STREAM = -1  # The "step" of the evaluation set.
BLANK, GO = 1, 2  # copy; BLANK also follows each mqar query
QUERY = 1  # recall
BIT = 1  # parity: bit b is token BIT + b


def _mix(x: np.ndarray) -> np.ndarray:
  """splitmix64's finaliser: a bijective hash of uint64 values."""
  x = (x ^ (x >> np.uint64(30))) * _M1
  x = (x ^ (x >> np.uint64(27))) * _M2
  return x ^ (x >> np.uint64(31))


class Counter:
  """Random numbers for rows `rows` of the batch of (seed, step), one field at a time."""

  def __init__(self, seed: int, step: int, rows: np.ndarray):
    with np.errstate(over='ignore'):
      key = _mix(np.uint64(seed % 2**64) * _GOLDEN + _mix(np.uint64(step % 2**64)))
      self._rows = _mix(key ^ (rows.astype(np.uint64) * _GOLDEN))
    self._field = 0

  def bits(self, n: int) -> np.ndarray:
    """uint64 `[rows, n]`; each call draws a new field."""
    self._field += 1
    with np.errstate(over='ignore'):
      field = _mix(np.uint64(self._field) * _GOLDEN)
      cols = np.arange(n, dtype=np.uint64) * _GOLDEN + field
      return _mix(self._rows[:, None] ^ _mix(cols)[None, :])

  def uniform(self, n: int) -> np.ndarray:
    """float64 in [0, 1), `[rows, n]`."""
    return (self.bits(n) >> np.uint64(11)).astype(np.float64) * 2.0**-53

  def integers(self, high: int, n: int) -> np.ndarray:
    """int64 in [0, high), `[rows, n]`."""
    return np.floor(self.uniform(n) * high).astype(np.int64)


def _check(ok: bool, setting: str, message: str):
  if not ok:
    raise ConfigError(setting, message)


@functools.lru_cache(maxsize=None)
def most_frequent_share(draws: int, categories: int) -> float:
  """E[max_v c_v] / draws, where c_v counts category v among `draws` uniform draws from
  `categories`: the accuracy of answering the most frequent value of the context.

  Exact: E[max] = sum over m >= 0 of P(max > m), and P(max <= m) is the probability that every
  category holds at most m draws, built category by category (of t draws spread over the first b
  categories, c ~ Binomial(t, 1/b) land in category b and the rest in the first b - 1).
  """
  t, c = np.arange(draws + 1)[:, None], np.arange(draws + 1)[None, :]
  log_factorial = np.array([math.lgamma(i + 1) for i in range(draws + 1)])
  possible = c <= t
  rest = np.where(possible, t - c, 0)  # draws left for the first b - 1 categories
  binomial = {b: np.where(possible, np.exp(
      log_factorial[t] - log_factorial[c] - log_factorial[rest] + c * math.log(1 / b)
      + rest * math.log1p(-1 / b)), 0.0) for b in range(2, categories + 1)}
  expected_max = 0.0
  for m in range(draws):
    at_most = (np.arange(draws + 1) <= m).astype(np.float64)  # one category holding t draws
    for b in range(2, categories + 1):
      at_most = np.sum(np.where(c <= m, binomial[b], 0.0) * at_most[rest], axis=1)
    above = 1.0 - at_most[draws]
    expected_max += above
    if above < 1e-12:
      break
  return expected_max / draws


class Copy:
  kind = 'lm'

  def __init__(self, c):
    self.length, self.k, self.symbols = c.seq_len, c.copy_length, c.num_symbols
    _check(self.k >= 1, 'data.copy_length', f'must be positive, got {self.k}')
    _check(self.symbols >= 1, 'data.num_symbols', f'must be positive, got {self.symbols}')
    _check(self.length >= 2 * self.k + 1, 'data.seq_len',
           f'copy needs seq_len >= 2 * copy_length + 1 = {2 * self.k + 1}, got {self.length}')
    vocab = self.symbols + 3
    self.info = TaskInfo(kind='lm', max_len=self.length, vocab_size=vocab,
                         target_vocab_size=vocab, input_shape=(self.length,))

  def __call__(self, rng: Counter, n: int) -> pipeline.Batch:
    symbols = rng.integers(self.symbols, self.k).astype(np.int32) + 3
    inputs = np.full((n, self.length), BLANK, np.int32)
    inputs[:, :self.k] = symbols
    inputs[:, self.length - self.k - 1] = GO
    targets = np.zeros((n, self.length), np.int32)
    targets[:, -self.k:] = symbols
    weights = np.zeros((n, self.length), np.float32)
    weights[:, -self.k:] = 1
    return {'inputs': inputs, 'targets': targets, 'weights': weights}

  def guessing_accuracy(self) -> float:
    """A symbol drawn at random."""
    return 1.0 / self.symbols


class Recall:
  kind = 'classification'

  def __init__(self, c):
    self.length, self.classes = c.seq_len, c.num_classes
    self.pairs = (self.length - 2) // 2
    self.keys = c.num_keys or max(16, self.pairs)
    _check(self.pairs >= 1, 'data.seq_len', f'recall needs seq_len >= 4, got {self.length}')
    _check(self.classes >= 2, 'data.num_classes', f'must be at least 2, got {self.classes}')
    _check(self.keys >= self.pairs, 'data.num_keys', f'{self.keys} keys cannot make '
           f'{self.pairs} distinct pairs; use at least {self.pairs} (or 0 for automatic)')
    self.info = TaskInfo(kind='classification', max_len=self.length,
                         vocab_size=2 + self.keys + self.classes, num_classes=self.classes,
                         input_shape=(self.length,))

  def __call__(self, rng: Counter, n: int) -> pipeline.Batch:
    keys = np.argsort(rng.uniform(self.keys), axis=1)[:, :self.pairs] + 2
    values = rng.integers(self.classes, self.pairs)
    which = rng.integers(self.pairs, 1)[:, 0]
    inputs = np.zeros((n, self.length), np.int32)
    body = np.stack([keys, values + 2 + self.keys], axis=2).reshape(n, 2 * self.pairs)
    start = self.length - 2 * self.pairs - 2  # 1 leading PAD when seq_len is odd.
    inputs[:, start:start + 2 * self.pairs] = body
    inputs[:, -2] = QUERY
    inputs[:, -1] = keys[np.arange(n), which]
    return {'inputs': inputs, 'targets': values[np.arange(n), which].astype(np.int32),
            'weights': np.ones(n, np.float32)}

  def guessing_accuracy(self) -> float:
    """The most frequent value of the context, without looking the key up."""
    return most_frequent_share(self.pairs, self.classes)


class FirstToken:
  kind = 'classification'

  def __init__(self, c):
    self.length, self.classes = c.seq_len, c.num_classes
    _check(self.length >= 1, 'data.seq_len', f'must be positive, got {self.length}')
    _check(self.classes >= 2, 'data.num_classes', f'must be at least 2, got {self.classes}')
    self.info = TaskInfo(kind='classification', max_len=self.length,
                         vocab_size=self.classes + 1, num_classes=self.classes,
                         input_shape=(self.length,))

  def __call__(self, rng: Counter, n: int) -> pipeline.Batch:
    tokens = rng.integers(self.classes, self.length).astype(np.int32)
    return {'inputs': tokens + 1, 'targets': tokens[:, 0],
            'weights': np.ones(n, np.float32)}

  def guessing_accuracy(self) -> float:
    """A class drawn at random."""
    return 1.0 / self.classes


class Adding:
  kind = 'regression'

  def __init__(self, c):
    self.length = c.seq_len
    _check(self.length >= 2, 'data.seq_len', f'adding needs seq_len >= 2, got {self.length}')
    self.info = TaskInfo(kind='regression', max_len=self.length, input_dim=2, num_classes=1,
                         input_shape=(self.length, 2))

  def __call__(self, rng: Counter, n: int) -> pipeline.Batch:
    values = rng.uniform(self.length).astype(np.float32)
    half = self.length // 2
    first = rng.integers(half, 1)[:, 0]
    second = half + rng.integers(self.length - half, 1)[:, 0]
    markers = np.zeros((n, self.length), np.float32)
    rows = np.arange(n)
    markers[rows, first] = 1
    markers[rows, second] = 1
    return {'inputs': np.stack([values, markers], axis=2),
            'targets': values[rows, first] + values[rows, second],
            'weights': np.ones(n, np.float32)}

  def guessing_accuracy(self) -> float:
    """None: a regression task has no accuracy."""
    return math.nan


class MultiQueryRecall:
  kind = 'lm'

  def __init__(self, c):
    self.length, self.values = c.seq_len, c.num_classes
    self.pairs = c.num_pairs or self.length // 4
    self.keys = c.num_keys or max(32, self.pairs)
    _check(self.pairs >= 1, 'data.seq_len', f'mqar needs seq_len >= 4, got {self.length}')
    _check(4 * self.pairs <= self.length, 'data.num_pairs', f'{self.pairs} pairs and their '
           f'queries need seq_len >= {4 * self.pairs}, got {self.length}; accepted: at most '
           f'seq_len // 4 = {self.length // 4} (or 0 for that)')
    _check(self.values >= 2, 'data.num_classes', f'must be at least 2, got {self.values}')
    _check(self.keys >= self.pairs, 'data.num_keys', f'{self.keys} keys cannot make '
           f'{self.pairs} distinct pairs; use at least {self.pairs} (or 0 for automatic)')
    vocab = 2 + self.keys + self.values  # PAD, BLANK, keys 2..keys + 1, values after them
    self.info = TaskInfo(kind='lm', max_len=self.length, vocab_size=vocab,
                         target_vocab_size=vocab, input_shape=(self.length,))

  def __call__(self, rng: Counter, n: int) -> pipeline.Batch:
    keys = np.argsort(rng.uniform(self.keys), axis=1)[:, :self.pairs] + 2
    values = rng.integers(self.values, self.pairs) + 2 + self.keys
    order = np.argsort(rng.uniform(self.pairs), axis=1)
    rows = np.arange(n)[:, None]
    context = np.stack([keys, values], axis=2).reshape(n, 2 * self.pairs)
    queries = np.stack([keys[rows, order], np.full_like(keys, BLANK)], axis=2).reshape(
        n, 2 * self.pairs)
    dense = self.length // 4 == self.pairs  # no gap: the queries follow the context
    first_query = 2 * self.pairs if dense else self.length - 2 * self.pairs
    inputs = np.zeros((n, self.length), np.int32)
    inputs[:, :2 * self.pairs] = context
    inputs[:, 2 * self.pairs:first_query] = BLANK
    inputs[:, first_query:first_query + 2 * self.pairs] = queries
    targets = np.zeros((n, self.length), np.int32)
    weights = np.zeros((n, self.length), np.float32)
    at_query = first_query + 2 * np.arange(self.pairs)
    targets[:, at_query] = values[rows, order]
    weights[:, at_query] = 1
    return {'inputs': inputs, 'targets': targets, 'weights': weights}

  def guessing_accuracy(self) -> float:
    """At every query, the most frequent value of the context, without looking the key up (the
    level a model holds until it learns the lookup)."""
    return most_frequent_share(self.pairs, self.values)


class Parity:
  kind = 'lm'

  def __init__(self, c):
    self.length = c.seq_len
    _check(self.length >= 1, 'data.seq_len', f'must be positive, got {self.length}')
    self.info = TaskInfo(kind='lm', max_len=self.length, vocab_size=BIT + 2,
                         target_vocab_size=BIT + 2, input_shape=(self.length,))

  def __call__(self, rng: Counter, n: int) -> pipeline.Batch:
    bits = rng.integers(2, self.length)
    return {'inputs': (bits + BIT).astype(np.int32),
            'targets': (np.cumsum(bits, axis=1) % 2 + BIT).astype(np.int32),
            'weights': np.ones((n, self.length), np.float32)}

  def guessing_accuracy(self) -> float:
    """A coin flip: every prefix parity is equally likely whatever the last bit."""
    return 0.5


TASKS = {'copy': Copy, 'recall': Recall, 'first_token': FirstToken, 'adding': Adding,
         'mqar': MultiQueryRecall, 'parity': Parity}
# The `data.*` settings each task's `load` reads (besides name and eval_split;
# config_base.check_read).
SETTINGS = {name: ('seq_len', 'build_seed', 'num_eval_examples', 'eval_length_multipliers', *own)
            for name, own in (('copy', ('copy_length', 'num_symbols')),
                              ('recall', ('num_classes', 'num_keys')),
                              ('first_token', ('num_classes',)), ('adding', ()),
                              ('mqar', ('num_classes', 'num_keys', 'num_pairs')),
                              ('parity', ()))}


def load(config, seed: int) -> pipeline.Dataset:
  task = TASKS[config.name](config)
  _check(config.num_eval_examples >= 1, 'data.num_eval_examples',
         f'must be positive, got {config.num_eval_examples}')

  def train_fn(step: int, global_batch_size: int, rows: np.ndarray) -> pipeline.Batch:
    del global_batch_size
    return task(Counter(seed, step, rows), len(rows))

  eval_sources = {'test': _eval_source(task, config)}
  for multiplier in config.eval_length_multipliers:
    _check(isinstance(multiplier, int) and multiplier >= 1, 'data.eval_length_multipliers',
           f'must be positive integers, got {multiplier!r}')
    longer = TASKS[config.name](_with_seq_len(config, multiplier * config.seq_len))
    same = dataclasses.replace(longer.info, max_len=task.info.max_len,
                               input_shape=task.info.input_shape) == task.info
    _check(same, 'data.eval_length_multipliers', f'at {multiplier} x seq_len the {config.name} '
           f'task has other sizes ({longer.info}); fix them (e.g. data.num_keys) or drop it')
    eval_sources[f'test_{multiplier}x'] = _eval_source(longer, config)
  return pipeline.Dataset(info=task.info, train_fn=train_fn, eval_sources=eval_sources,
                          default_eval_split='test', guessing_accuracy=task.guessing_accuracy())


def vocabulary_of(config, seq_len: int):
  """`config` (a generated task's `data.*`) with its vocabulary pinned at its size at `seq_len`,
  so that one model reads the task at any shorter length too (recall and mqar draw their keys
  from `max(num_keys, pairs)`, and the pairs grow with the length when `num_keys` is 0)."""
  pinned = config.copy_and_resolve_references()
  task = TASKS[config.name](_with_seq_len(config, seq_len))
  if hasattr(task, 'keys'):
    pinned.num_keys = task.keys
  return pinned


def _with_seq_len(config, seq_len: int):
  longer = config.copy_and_resolve_references()
  longer.seq_len = seq_len
  return longer


def _eval_source(task, config) -> pipeline.ArraySource:
  n = config.num_eval_examples
  return pipeline.ArraySource(task(Counter(config.build_seed, EVAL_STREAM, np.arange(n)), n))
