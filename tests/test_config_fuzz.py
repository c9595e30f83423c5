"""Fuzzed command lines: any override of any key of any training config is either accepted or
refused with the project's ConfigError (which `launch.py` prints as one `error:` line, exit 2),
never another exception; a misspelled key of any config file gets one line that names it and, for
a near miss, an existing setting.

Each example parses `--config.KEY=VALUE` flags as `launch.py` does (ml_collections' parser, which
refuses a value of the wrong type with a flag error that `launch.py` also turns into exit 2), then
runs `launch.run_experiment` in-process up to the train state, built abstractly (`jax.eval_shape`:
shapes checked, nothing compiled), with the fuzzed keys as given on the command line (so that a
setting the model or dataset does not read is refused). Paths and the sizes of generated data
are left out (`LEFT_OUT`); their errors have their own tests.
"""
import glob
import importlib.util
import os
import string
import tempfile
from unittest import mock

from absl import flags
import hypothesis
from hypothesis import strategies as st
import jax
from ml_collections import config_flags

from attn_jax.config_base import flatten
from attn_jax.data.registry import settings_read
from attn_jax.models.registry import READS
from attn_jax.errors import ConfigError
from attn_jax.training import loop
from launcher import CONFIGS, launch_module

launch = launch_module()



def _load_module(path):
  spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _config_args() -> dict[str, dict]:
  """`path[:variant]` of every config file and variant -> its `SMOKE_TEST` overrides."""
  args = {}
  for path in sorted(glob.glob(os.path.join(CONFIGS, '*.py'))):
    module = _load_module(path)
    for variant in getattr(module, 'VARIANTS', [None]):
      args[path if variant is None else f'{path}:{variant}'] = getattr(module, 'SMOKE_TEST', {})
  return args


CONFIG_ARGS = _config_args()
CHAR_LM = os.path.join(CONFIGS, 'char_lm.py') + ':transformer'
# A nonsense path would make folders or read a whole disk; a nonsense size of generated data
# (2**31 ListOps trees) would build it for hours in ever more memory (the full suite's worker was
# killed by the OOM killer at 15 GB). Their bounds have their own tests.
LEFT_OUT = ('data.path', 'data.data_dir', 'data.num_train_examples', 'data.num_test_examples',
            'data.num_eval_examples', *(f'data.listops_{k}' for k in (
                'num_train', 'num_validation', 'num_test', 'min_length', 'max_length')))
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


def _defaults(config_arg: str) -> dict:
  flat = flatten(_parse([f'--config={config_arg}']).to_dict())
  return {k: v for k, v in sorted(flat.items()) if k not in LEFT_OUT}


DEFAULTS = {arg: _defaults(arg) for arg in CONFIG_ARGS}
TRAINING = sorted(arg for arg, defaults in DEFAULTS.items() if defaults['experiment'] == 'train')


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


def _read(config_arg: str) -> list[str]:
  """The keys of a training config that its model and dataset read, and all the others outside
  `model` and `data` (those a command line may set without being refused as unread)."""
  defaults = DEFAULTS[config_arg]
  reads = {'model': (*READS[defaults['model.name']], 'name'),
           'data': settings_read(defaults['data.name'])}
  return [key for key in defaults
          if key.partition('.')[2] in reads.get(key.partition('.')[0], [key.partition('.')[2]])]


def _override(config_arg: str) -> st.SearchStrategy:
  """A key (three times in four one the run reads) and a value for it."""
  defaults = DEFAULTS[config_arg]
  keys = st.one_of(*[st.sampled_from(_read(config_arg))] * 3, st.sampled_from(sorted(defaults)))
  return keys.flatmap(lambda key: st.tuples(st.just(key), _value_for(defaults[key])))


def _command_line() -> st.SearchStrategy:
  """(a training config file[:variant], 1-3 overrides of its keys)."""
  return st.sampled_from(TRAINING).flatmap(
      lambda arg: st.tuples(st.just(arg), st.lists(_override(arg), min_size=1, max_size=3)))


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
@hypothesis.given(_command_line())
# What it found (a ZeroDivisionError, an OverflowError in the abstract init, a hang building 2**31
# layers), kept as examples:
@hypothesis.example((CHAR_LM, [('model.num_heads', '0')]))
@hypothesis.example((CHAR_LM, [('model.hidden_size', '2147483648')]))
@hypothesis.example((CHAR_LM, [('model.num_layers', '2147483648')]))
def test_overrides_are_accepted_or_refused_with_config_error(command_line):
  config_arg, overrides = command_line
  smoke = [f'--config.{key}={value}' for key, value in CONFIG_ARGS[config_arg].items()]
  argv = [f'--config={config_arg}', f'--config.data.path={TEXT}',
          f'--config.data.data_dir={TFDS_DIR}', *[f'--config.{o}' for o in BASE], *smoke,
          *[f'--config.{key}={value}' for key, value in overrides]]
  try:
    config = _parse(argv)
  except (flags.Error, ValueError, TypeError, KeyError, AttributeError):
    return  # refused by the flag parser: launch.parse_flags ends with exit 2 and one line
  with tempfile.TemporaryDirectory() as workdir, \
      mock.patch.object(loop, 'create_train_state', _abstract_state):
    try:
      launch.run_experiment(config, workdir, tuple(key for key, _ in overrides))
    except (ConfigError, Validated):
      pass


LETTERS = string.ascii_lowercase + '_'


@st.composite
def _misspelled(draw):
  """(config file[:variant], an existing key, that key with one part changed by one edit)."""
  config_arg = draw(st.sampled_from(sorted(DEFAULTS)))
  key = draw(st.sampled_from(sorted(DEFAULTS[config_arg])))
  parts = key.split('.')
  index = draw(st.integers(0, len(parts) - 1))
  part, at, letter = parts[index], draw(st.integers(0, len(parts[index]) - 1)), draw(
      st.sampled_from(LETTERS))
  typo = draw(st.sampled_from([
      part[:at] + part[at + 1:],  # a letter left out
      part[:at] + letter + part[at:],  # one added
      part[:at] + letter + part[at + 1:],  # one replaced
      part[:at] + part[at + 1:at + 2] + part[at] + part[at + 2:],  # two swapped
  ]))
  return config_arg, key, '.'.join([*parts[:index], typo, *parts[index + 1:]])


def _is_setting_or_section(config_arg: str, key: str) -> bool:
  return any(k == key or k.startswith(key + '.') for k in (*DEFAULTS[config_arg], *LEFT_OUT))


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(_misspelled())
@hypothesis.example((CHAR_LM, 'train.num_steps', 'trian.num_steps'))
def test_a_misspelled_key_gets_one_line_naming_a_real_setting(case):
  config_arg, key, typo = case
  hypothesis.assume(not _is_setting_or_section(config_arg, typo) and '..' not in f'.{typo}.')
  argv = ['launch.py', f'--config={config_arg}', f'--config.{typo}=1']
  line = launch.unknown_override(argv)
  assert line.startswith(f'--config.{typo}: no such setting; ') and '\n' not in line, line
  suggested = line.partition('did you mean --config.')[2].rstrip('?')
  assert not suggested or _is_setting_or_section(config_arg, suggested), line
  changed = next(p for p, q in zip(key.split('.'), typo.split('.')) if p != q)
  if len(changed) >= 5:  # one edit of 5 letters or more is a near miss (difflib ratio >= 0.8)
    assert suggested == key, line
