"""SCAN (Lake & Baroni 2018): navigation commands -> action sequences, generated from the grammar.

Grammar (20,910 commands):
  C -> S and S | S after S | S          S -> V twice | V thrice | V
  V -> X opposite DIR | X around DIR | U DIR | turn DIR | U
  X -> U | turn                         U -> walk | look | run | jump     DIR -> left | right
Interpretation: [[walk]] = I_WALK (look, run, jump alike); [[turn]] = nothing;
  [[x left]] = I_TURN_LEFT [[x]]; [[x opposite left]] = I_TURN_LEFT I_TURN_LEFT [[x]];
  [[x around left]] = (I_TURN_LEFT [[x]]) x 4; [[v twice]] = [[v]] x 2; [[v thrice]] = [[v]] x 3;
  [[s1 and s2]] = [[s1]] [[s2]]; [[s1 after s2]] = [[s2]] [[s1]] (right likewise).

Splits (`data.split`):
  simple:       random 80/20 of all commands (16,728 / 4,182), by `data.build_seed`.
  length:       train on commands whose output has at most 22 actions, test on 24 or more
                (16,990 / 3,920).
  addprim_jump: train on every command without `jump` plus `jump` alone, repeated as in the
                published split (14,670 pairs, 13,204 distinct); test on every composed use of
                `jump` (7,706).
"""
import functools
import itertools

import numpy as np

from attn_jax.data import pipeline
from attn_jax.data import seq2seq
from attn_jax.errors import ConfigError

PRIMITIVES = ('walk', 'look', 'run', 'jump')
DIRECTIONS = ('left', 'right')
SPLITS = ('simple', 'length', 'addprim_jump')
LENGTH_SPLIT_MAX_TRAIN = 22
JUMP_REPEATS = 1467  # Copies of `jump` in the published addprim_jump training set.


def _verb_phrases() -> list[str]:
  phrases = list(PRIMITIVES)
  for d in DIRECTIONS:
    phrases += [f'{u} {d}' for u in PRIMITIVES] + [f'turn {d}']
    for x in PRIMITIVES + ('turn',):
      phrases += [f'{x} opposite {d}', f'{x} around {d}']
  return phrases


def all_commands() -> list[str]:
  """Every SCAN command, in a fixed order."""
  singles = [f'{v}{r}' for v in _verb_phrases() for r in ('', ' twice', ' thrice')]
  pairs = [f'{a} {conj} {b}' for conj in ('and', 'after')
           for a, b in itertools.product(singles, singles)]
  return singles + pairs


def interpret(command: str) -> str:
  """The action sequence of a SCAN command (space-separated actions)."""
  return ' '.join(_interpret(command.split()))


def _interpret(words: list[str]) -> list[str]:
  for conj in ('and', 'after'):
    if conj in words:
      i = words.index(conj)
      first, second = _interpret(words[:i]), _interpret(words[i + 1:])
      return first + second if conj == 'and' else second + first
  if words[-1] in ('twice', 'thrice'):
    return _interpret(words[:-1]) * (2 if words[-1] == 'twice' else 3)
  action = [] if words[0] == 'turn' else ['I_' + words[0].upper()]
  if len(words) == 1:
    return action
  turn = ['I_TURN_' + words[-1].upper()]
  if len(words) == 2:
    return turn + action
  if words[1] == 'opposite':
    return turn + turn + action
  return (turn + action) * 4  # around


def generate(options: dict) -> dict[str, seq2seq.Pairs]:
  commands = all_commands()
  pairs = [(c, interpret(c)) for c in commands]
  split = options['split']
  if split == 'simple':
    order = np.random.default_rng(options['seed']).permutation(len(pairs))
    cut = int(0.8 * len(pairs))
    return {'train': [pairs[i] for i in order[:cut]], 'test': [pairs[i] for i in order[cut:]]}
  if split == 'length':
    lengths = [len(t.split()) for _, t in pairs]
    return {'train': [p for p, n in zip(pairs, lengths) if n <= LENGTH_SPLIT_MAX_TRAIN],
            'test': [p for p, n in zip(pairs, lengths) if n > LENGTH_SPLIT_MAX_TRAIN]}
  # addprim_jump
  uses_jump = ['jump' in c.split() for c in commands]
  train = [p for p, j in zip(pairs, uses_jump) if not j] + [('jump', 'I_JUMP')] * JUMP_REPEATS
  test = [p for p, j in zip(pairs, uses_jump) if j and p[0] != 'jump']
  return {'train': train, 'test': test}


builder_cls = functools.cache(lambda: seq2seq.pair_builder('attn_jax_scan', generate, __doc__))


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('data_dir', 'split', 'build_seed')


def load(config, seed: int) -> pipeline.Dataset:
  if config.split not in SPLITS:
    raise ConfigError('data.split', f'unknown SCAN split {config.split!r}; accepted: '
                      f'{", ".join(SPLITS)}')
  options = {'split': config.split, 'seed': config.build_seed if config.split == 'simple' else 0}
  return seq2seq.load_pairs(builder_cls(), config, options, seed, eval_splits=('test',))
