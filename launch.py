"""The one entry point: `python launch.py --config=experiments/configs/NAME.py[:VARIANT] --workdir=DIR`.

Plain `python launch.py` runs the default experiment into `runs/<name>`. Re-running a command
resumes its workdir; a finished run is not trained again. User errors end with exit status 2 and
one line on stderr: `error: <setting>: <what is accepted>`.
"""
import os
import sys

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from attn_jax import overrides
from attn_jax.errors import ConfigError, Preempted

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.join(_HERE, 'experiments', 'configs', 'seq_len_scaling.py')

_CONFIG = config_flags.DEFINE_config_file('config', DEFAULT_CONFIG,
                                          'Experiment config file, `path.py[:variant]`.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (default: runs/<config name>).')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None,
                                   'Multi-host: host:port of process 0 (jax.distributed).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Multi-host: number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'Multi-host: index of this process.')
_DISTRIBUTED = flags.DEFINE_enum(
    'distributed', None, ['auto'],
    'Multi-host: `auto` lets jax.distributed.initialize() read the cluster environment '
    '(SLURM, Open MPI, Kubernetes, Cloud TPU) instead of the three flags above.')

def fail(message: str):
  """Ends the program as a user error: one `error:` line on stderr, exit status 2."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose errors (bad flag, missing config file, bad override) exit 2."""
  try:
    remaining = flags.FLAGS(argv)
    _CONFIG.value.get('mode')  # the config file loads lazily: load it here to catch its errors
    return remaining
  except (flags.Error, OSError, AttributeError, KeyError, TypeError, ValueError) as error:
    while error.__cause__ is not None:  # config loading wraps the error (and its traceback)
      error = error.__cause__
    fail(unknown_override(argv) or _describe_flag_error(argv, error))


def unknown_override(argv: list[str]) -> str | None:
  """The first `--config.KEY` of `argv` that its config file does not have, described in one
  line (`overrides.unknown_setting`); None when they all exist or the file does not load."""
  alone = flags.FlagValues()  # the config file without the command line's overrides
  file_argv = [argv[0], *(arg for arg in argv if arg.startswith('--config='))]
  config_flags.DEFINE_config_file('config', DEFAULT_CONFIG, '', flag_values=alone,
                                  sys_argv=file_argv)
  try:
    alone(file_argv)
    config = alone['config'].value
  except (flags.Error, OSError, TypeError, ValueError):  # reported by _describe_flag_error
    return None
  if not isinstance(config, ml_collections.ConfigDict):  # a missing file: reported as such
    return None
  return next(filter(None, (overrides.unknown_setting(config, key)
                            for key in overrides.given_keys(argv[1:]))), None)


def _describe_flag_error(argv: list[str], error: Exception) -> str:
  """`setting: message` on one line, naming the flag that the error is about."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  message = lines[-1] if 'Traceback' in str(error) else ' '.join(lines)
  flags_given = [arg[2:].split('=', 1)[0] for arg in argv[1:] if arg.startswith('--')]
  for name in flags_given:
    key = name.rsplit('.', 1)[-1]
    if name.startswith('config.') and key in message:
      return f'{name}: {message}'
  return f'config: {message}'


def default_workdir(config_arg: str) -> str:
  name, _, variant = os.path.basename(config_arg).partition(':')
  name = os.path.splitext(name)[0]
  return os.path.join('runs', f'{name}-{variant}' if variant else name)


def workdir_problem(workdir: str) -> str | None:
  """`workdir: ...` when `workdir`, or the nearest folder above it that exists, is not a folder."""
  path = os.path.abspath(workdir)
  while not os.path.exists(path):
    path = os.path.dirname(path)
  if not os.path.isdir(path):
    return (f'workdir: {path} is a file, not a folder; accepted: a folder, or a path where one '
            'can be made')
  return None


def run_experiment(config, workdir: str, given: tuple[str, ...] = ()):
  """Runs `config.mode` (`attn_jax.modes`; for training, `config.experiment`), after refusing a
  setting given on the command line (`given`: dotted keys) that the run would not read
  (`config_base.check_read`).

  Imported here rather than at the top for start-up time only (no cycle): a mistyped flag or
  config path is reported before JAX, orbax and matplotlib load (0.4 s instead of about 12 s on
  a busy 2-core machine).
  """
  from attn_jax import (compilation_cache, config_base,  # pylint: disable=import-outside-toplevel
                        modes)
  config_base.check_read(config, given)
  compilation_cache.enable()
  return modes.run(config, workdir)


def initialize_distributed():
  """`jax.distributed.initialize` from the explicit flags, or from the cluster's environment."""
  if not (_COORDINATOR.value or _NUM_PROCESSES.value or _DISTRIBUTED.value):
    return
  import jax  # pylint: disable=import-outside-toplevel
  if _DISTRIBUTED.value == 'auto':
    if _COORDINATOR.value or _NUM_PROCESSES.value or _PROCESS_ID.value is not None:
      fail('distributed: --distributed=auto reads the cluster environment; drop '
           '--coordinator_address/--num_processes/--process_id, or drop --distributed')
    try:
      jax.distributed.initialize()
    except ValueError as error:  # nothing detected: no coordinator address, process count or id
      fail(f'distributed: no cluster environment found ({error}); accepted: a SLURM, Open MPI, '
           'Kubernetes or Cloud TPU job, or the flags --coordinator_address, --num_processes and '
           '--process_id')
    return
  jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                             num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)


def main(argv):
  logging.set_verbosity(logging.WARNING)  # orbax and TFDS log every file at INFO
  if len(argv) > 1:
    fail(f'unexpected arguments {argv[1:]}; settings go in --config.KEY=VALUE flags')
  initialize_distributed()
  config_arg = flags.FLAGS['config'].serialize().partition('=')[2] or DEFAULT_CONFIG
  workdir = _WORKDIR.value or default_workdir(config_arg)
  problem = workdir_problem(workdir)
  if problem:
    fail(problem)
  try:
    run_experiment(_CONFIG.value, workdir, tuple(overrides.given_keys(sys.argv[1:])))
  except ConfigError as error:
    fail(str(error))
  except Preempted as stopped:  # a handled stop: exit 0, as schedulers expect of a clean stop
    print(stopped, flush=True)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
