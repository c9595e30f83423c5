"""ListOps as generated for the Long Range Arena (Nangia & Bowman 2018; Tay et al. 2021).

An expression is a digit 0-9 or `[OP a1 ... ak ]` with 2 <= k <= `listops_max_args` arguments,
OP one of MAX, MIN, MED (integer median: the mean of the two middle values, truncated), SM
(sum mod 10); the label is its value. The LRA generator: at depth < `listops_max_depth` a node is
an operator with probability `listops_value_prob` (else a digit); expressions are kept when
their length in tokens is in [`listops_min_length`, `listops_max_length`], and are distinct.
Tokens: `[MAX`, `[MIN`, `[MED`, `[SM`, `]`, `0`..`9` (the closing bracket is its own token);
inputs are padded to `listops_max_length`. kind 'classification' with 10 classes.
"""
import functools
import random
import statistics

import numpy as np

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
from attn_jax.data import tokenizers
from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo

OPERATORS = ('[MAX', '[MIN', '[MED', '[SM')
END = ']'
DIGITS = tuple(str(d) for d in range(10))
SPLITS = ('train', 'validation', 'test')


def tokenizer() -> tokenizers.VocabTokenizer:
  return tokenizers.VocabTokenizer(OPERATORS + (END,) + DIGITS, separator=' ')


class _TooLong(Exception):
  pass


def _tree(rand, depth: int, options: dict, out: list[str]) -> None:
  """Appends a random expression to `out` (LRA's `generate_tree`), giving up past max length.

  `rand` is `random.Random.random`; integers are drawn from it directly (faster than `randint`
  and `choice`, same distribution).
  """
  if len(out) > options['max_length']:
    raise _TooLong
  if depth < options['max_depth'] and rand() <= options['value_prob']:
    out.append(OPERATORS[int(rand() * len(OPERATORS))])
    for _ in range(2 + int(rand() * (options['max_args'] - 1))):
      _tree(rand, depth + 1, options, out)
    out.append(END)
  else:
    out.append(DIGITS[int(rand() * 10)])


def expression(rng: random.Random, options: dict) -> list[str] | None:
  """A random expression's tokens, or None if its length is outside the accepted range."""
  out = []
  try:
    _tree(rng.random, 1, options, out)
  except _TooLong:
    return None
  return out if options['min_length'] <= len(out) <= options['max_length'] else None


def evaluate(tokens: list[str]) -> int:
  """The value of an expression, computed with a stack."""
  stack = [[]]
  for t in tokens:
    if t in OPERATORS:
      stack.append([t])
    elif t == END:
      op, *args = stack.pop()
      if op == '[MAX':
        value = max(args)
      elif op == '[MIN':
        value = min(args)
      elif op == '[MED':
        value = int(statistics.median(args))
      else:
        value = sum(args) % 10
      stack[-1].append(value)
    else:
      stack[-1].append(int(t))
  return stack[0][0]


def generate(options: dict) -> dict[str, list[list[str]]]:
  """Distinct expressions for each split (sizes `num_<split>`), deterministic by `seed`."""
  rng = random.Random(options['seed'])
  wanted = sum(options[f'num_{s}'] for s in SPLITS)
  found = {}
  while len(found) < wanted:
    tokens = expression(rng, options)
    if tokens is not None:
      found.setdefault(tuple(tokens), None)
  found = [list(t) for t in found]
  splits, start = {}, 0
  for s in SPLITS:
    splits[s] = found[start:start + options[f'num_{s}']]
    start += options[f'num_{s}']
  return splits


@functools.cache
def builder_cls():
  tfds = tfds_utils.tfds()
  tok = tokenizer()

  class AttnJaxListops(tfds.core.GeneratorBasedBuilder):
    """LRA ListOps: token ids (see `tokenizer()`) and the expression's value."""
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self, description=__doc__,
          features=tfds.features.FeaturesDict({
              'tokens': tfds.features.Tensor(shape=(None,), dtype=np.uint8),
              'label': tfds.features.ClassLabel(num_classes=10), 'index': np.int32}),
          supervised_keys=('tokens', 'label'))

    def _split_generators(self, dl_manager):
      del dl_manager
      splits = generate(self.builder_config.options)
      return {s: self._generate_examples(e) for s, e in splits.items()}

    def _generate_examples(self, expressions):
      for i, tokens in enumerate(expressions):
        yield i, {'tokens': np.array(tok.encode(' '.join(tokens)), np.uint8),
                  'label': evaluate(tokens), 'index': i}

  return AttnJaxListops


def _options(config) -> dict:
  options = {k: config[f'listops_{k}'] for k in (
      'max_depth', 'max_args', 'value_prob', 'min_length', 'max_length')}
  options.update({f'num_{s}': config[f'listops_num_{s}'] for s in SPLITS})
  options['seed'] = config.build_seed
  checks = [('max_depth', options['max_depth'] >= 1, 'must be at least 1'),
            ('max_args', options['max_args'] >= 2, 'must be at least 2'),
            ('value_prob', 0 < options['value_prob'] < 1, 'must be in (0, 1)'),
            ('min_length', 1 <= options['min_length'] <= options['max_length'],
             'must be in 1..listops_max_length'),
            ('max_length', options['max_length'] >= 1, 'must be positive')]
  checks += [(f'num_{s}', options[f'num_{s}'] >= 1, 'must be positive') for s in SPLITS]
  for key, ok, message in checks:
    if not ok:
      raise ConfigError(f'data.listops_{key}', f'{message}, got {options[key]}')
  return options


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('data_dir', 'build_seed', *(f'listops_{k}' for k in (
    'max_depth', 'max_args', 'value_prob', 'min_length', 'max_length', 'num_train', 'num_validation',
    'num_test')))


def load(config, seed: int) -> pipeline.Dataset:
  options = _options(config)
  max_len = options['max_length']
  sources = tfds_utils.prepare(builder_cls(), config.data_dir, options)

  def featurize(example):
    return {'inputs': tokenizers.pad_to(example['tokens'], max_len, dtype=np.uint8),
            'targets': np.int32(example['label']), 'weights': np.float32(1)}

  splits = {s: pipeline.from_examples(sources[s], featurize) for s in SPLITS}
  tok = tokenizer()
  return pipeline.Dataset(
      info=TaskInfo(kind='classification', max_len=max_len, vocab_size=tok.vocab_size,
                    num_classes=10, input_shape=(max_len,)),
      train_fn=pipeline.finite_train_fn(splits['train'], seed),
      eval_sources={'validation': splits['validation'], 'test': splits['test']},
      default_eval_split='validation',
      tokenizer=tok)
