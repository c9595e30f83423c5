"""Fuzzed command lines: any override of any config key is either accepted or refused with the
project's ConfigError (which `launch.py` prints as one `error:` line, exit 2), never another
exception.

Each example parses `--config.KEY=VALUE` flags as `launch.py` does (ml_collections' parser, which
refuses a value of the wrong type with a flag error that `launch.py` also turns into exit 2), then
runs `launch.run_experiment` in-process up to the train state, built abstractly (`jax.eval_shape`:
shapes checked, nothing compiled). `data.path` and `data.data_dir` are left out (a nonsense path
would make folders, or read a whole disk); their errors have their own tests.
"""
import importlib.util
import os
import tempfile
from unittest import mock

from absl import flags
import hypothesis
from hypothesis import strategies as st
import jax
from ml_collections import config_flags

from attn_jax.config_base import flatten
from attn_jax.errors import ConfigError
from attn_jax.training import loop
from launcher import CONFIGS, REPO

_spec = importlib.util.spec_from_file_location('launch', os.path.join(REPO, 'launch.py'))
launch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch)

CONFIG = os.path.join(CONFIGS, 'char_lm.py') + ':transformer'
LEFT_OUT = ('data.path', 'data.data_dir')
WORDS = ('transformer', 'lstm', 'gru', 'rnn', 'mingru', 'mlp', 'logreg', 'relu', 'gelu', 'tanh',
         'learned', 'rotary', 'none', 'cls', 'last', 'fused', 'luong', 'bahdanau', 'bfloat16',
         'float32', 'word', 'byte', 'char', 'cosine', 'linear', 'constant', 'train', 'sample',
         'attention', 'validation', 'test', 'copy', 'recall', 'iris', 'nope', '', '-1', '0', 'nan')
NUMBERS = st.one_of(st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**63]), st.integers(-2**31, 40))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0]))
# Strings as typed on a command line: numbers, words, nonsense.
TYPED = st.one_of(NUMBERS.map(str), FLOATS.map(repr), st.sampled_from(WORDS),
                  st.text(alphabet=st.characters(blacklist_categories=('Cs', 'Cc')), max_size=12))


def _parse(argv):
  """The config of a `launch.py` command line, parsed as ml_collections parses it there."""
  argv = ['launch.py', *argv]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'config', flag_values=values, sys_argv=argv)
  values(argv)
  return values['config'].value


def _defaults() -> dict:
  flat = flatten(_parse([f'--config={CONFIG}']).to_dict())
  return {k: v for k, v in sorted(flat.items()) if k not in LEFT_OUT}


def _value_for(default) -> st.SearchStrategy:
  """Values of the key's own type (what the parser accepts) or of any type (what it refuses)."""
  if isinstance(default, bool):
    own = st.sampled_from(['true', 'false'])
  elif isinstance(default, int):
    own = NUMBERS.map(str)
  elif isinstance(default, float):
    own = FLOATS.map(repr)
  else:
    own = TYPED
  return st.one_of(own, own, TYPED)


def _override() -> st.SearchStrategy:
  defaults = _defaults()
  return st.sampled_from(sorted(defaults)).flatmap(
      lambda key: st.tuples(st.just(key), _value_for(defaults[key])))


class Validated(Exception):
  """Raised where training would compile: everything before it accepted the config."""


def _abstract_state(*args, create=loop.create_train_state):
  jax.eval_shape(lambda: create(*args))
  raise Validated


def _small_text():
  path = os.path.join(tempfile.mkdtemp(prefix='fuzz_text_'), 'text.txt')
  with open(path, 'w') as f:
    f.write('the quick brown fox jumps over the lazy dog. ' * 60)
  return path


TEXT = _small_text()
TFDS_DIR = tempfile.mkdtemp(prefix='fuzz_tfds_')
BASE = ('model.num_layers=1', 'model.hidden_size=16', 'model.num_heads=2', 'model.mlp_dim=32',
        'data.seq_len=16', 'train.batch_size=4', 'sample.num_samples=0')


@hypothesis.settings(max_examples=40, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(st.lists(_override(), min_size=1, max_size=3))
# What it found (a ZeroDivisionError, an OverflowError in the abstract init, a hang building 2**31
# layers), kept as examples:
@hypothesis.example([('model.num_heads', '0')])
@hypothesis.example([('model.hidden_size', '2147483648')])
@hypothesis.example([('model.num_layers', '2147483648')])
def test_overrides_are_accepted_or_refused_with_config_error(overrides):
  argv = [f'--config={CONFIG}', f'--config.data.path={TEXT}',
          f'--config.data.data_dir={TFDS_DIR}', *[f'--config.{o}' for o in BASE],
          *[f'--config.{key}={value}' for key, value in overrides]]
  try:
    config = _parse(argv)
  except (flags.Error, ValueError, TypeError, KeyError, AttributeError):
    return  # refused by the flag parser: launch.parse_flags ends with exit 2 and one line
  with tempfile.TemporaryDirectory() as workdir, \
      mock.patch.object(loop, 'create_train_state', _abstract_state):
    try:
      launch.run_experiment(config, workdir)
    except (ConfigError, Validated):
      pass

