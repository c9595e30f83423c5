"""`python -m attn_jax.sweep --config=FILE.py[:VARIANT] --grid=KEY=V1,V2,... --workdir=DIR`:
every point of a grid of settings, each a `launch.py` run in `DIR/<key=value,...>`.

  --grid=KEY=V1,V2,...     an axis (repeat the flag: the points are the product of the axes)
  --zip='K1=a,b;K2=c,d'    an axis of settings taken together (K1=a with K2=c, then b with d)
                           (neither given: the axes of the config file's `get_sweep()`)
  --config.KEY=VALUE       a setting every point gets (not part of its name)
  --parallel=N             N points at a time, each pinned to its share of the cores
  --slurm [--submit]       write DIR/sweep.sbatch, an array job of one task per point (and submit it)
  --task=I                 run point I of DIR/sweep.json (what the SLURM script's tasks call)

Rerunning the command skips finished points and resumes interrupted ones; a grid with new
values adds points. `DIR/sweep.json` lists every point and its state. Once every point is run,
`python -m attn_jax.compare DIR` writes the table of final metrics and the plots into DIR (run
it again at any time). Exit status: 0 when no point failed, 100 + the number of failed points
(at most 255) otherwise, 2 with one `error:` line for bad input.
"""
import os
import subprocess
import sys

from absl import app, flags

from attn_jax.errors import ConfigError
from attn_jax.sweep import grid, local, point_runs, record, slurm

_CONFIG = flags.DEFINE_string('config', None, 'Experiment config file, `path.py[:variant]`.')
_GRID = flags.DEFINE_multi_string('grid', [], 'An axis: `KEY=V1,V2,...` (repeatable).')
_ZIP = flags.DEFINE_multi_string('zip', [], 'Settings taken together: `K1=a,b;K2=c,d`.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'The sweep folder: sweep.json, a workdir per '
                               'point.')
_PARALLEL = flags.DEFINE_integer('parallel', 1, 'Points run at a time (with --slurm: tasks at a '
                                 'time, no limit unless given).', lower_bound=1)
_SLURM = flags.DEFINE_boolean('slurm', False, 'Write DIR/sweep.sbatch (a SLURM array job).')
_SUBMIT = flags.DEFINE_boolean('submit', False, 'With --slurm: submit it with sbatch.')
_SBATCH = flags.DEFINE_multi_string('sbatch', [], 'With --slurm: an #SBATCH option, e.g. '
                                    f'--partition=gpu (default {" ".join(slurm.DEFAULT_SBATCH)}).')
_TASK = flags.DEFINE_integer('task', None, 'Run point I of DIR/sweep.json (SLURM tasks).')
_METRIC = flags.DEFINE_string('metric', 'loss', 'The metric `compare` plots at the end.')
_SPLIT = flags.DEFINE_enum('split', 'eval', ['train', 'eval'], 'Its split.')
FAILED_BASE = 100  # exit status: FAILED_BASE + the number of failed points


def fixed_settings(argv: list[str]) -> dict[str, str]:
  """`{key: value}` of the `--config.KEY=VALUE` arguments.

  Raises:
    ConfigError: an argument of another form.
  """
  fixed = {}
  for arg in argv:
    key, equals, value = arg.removeprefix('--config.').partition('=')
    if not arg.startswith('--config.') or not equals:
      raise ConfigError(arg, 'accepted: --config.KEY=VALUE (a setting every point gets)')
    fixed[key] = value
  return fixed


def sweep_points(config_arg: str, fixed: dict) -> list[dict]:
  """The points of the flags' grid (or the config file's `get_sweep()`), each with its name,
  settings and `launch.py` flags (the fixed settings first, the point's own after)."""
  axes = ([grid.parse_axis(text, '--grid') for text in _GRID.value]
          + [grid.parse_axis(text, '--zip') for text in _ZIP.value])
  if not axes:
    axes, config_fixed = grid.config_sweep(config_arg)
    fixed = {**config_fixed, **fixed}
  return [{'name': point.name, 'settings': point.settings,
           'args': point_runs.launch_args(config_arg, {**fixed, **point.settings},
                                          record.point_dir(_WORKDIR.value, point.name))}
          for point in grid.points(axes)]


def sweep(fixed: dict) -> int:
  """Runs the sweep the flags describe (or writes its SLURM script); returns the exit status."""
  if not _CONFIG.value:
    raise ConfigError('config', 'missing; accepted: --config=experiments/configs/NAME.py[:V]')
  points = sweep_points(_CONFIG.value, fixed)
  to_run = record.add_points(_WORKDIR.value, points)
  if _SLURM.value:
    return _slurm(to_run)
  ended = local.run(_WORKDIR.value, to_run, _PARALLEL.value, done_before=len(points) - len(to_run))
  return _summary(ended)


def _slurm(to_run: list[dict]) -> int:
  """Writes (and with --submit submits) the array job over the points `to_run`."""
  if not to_run:
    print('every point is finished; nothing to submit')
    return 0
  names = [p['name'] for p in record.read(_WORKDIR.value)['points']]
  script = slurm.write_script(_WORKDIR.value, [names.index(p['name']) for p in to_run],
                              _PARALLEL.value if flags.FLAGS['parallel'].present else 0,
                              _SBATCH.value)
  if _SUBMIT.value:
    print(f'submitted {script}: job {slurm.submit(_WORKDIR.value, script)}')
  else:
    print(f'wrote {script}; submit it with: sbatch {script}')
  return 0


def _summary(ended: dict) -> int:
  """Prints what the sweep did, compares the finished points; returns the exit status."""
  states = [p['state'] for p in record.read(_WORKDIR.value)['points']]
  counts = {state: states.count(state) for state in dict.fromkeys(states)}
  print('sweep: ' + ', '.join(f'{n} {state}' for state, n in counts.items())
        + f' ({_WORKDIR.value}/{record.SWEEP_FILE})', flush=True)
  if ended['signal']:
    print(f'stopped by {ended["signal"]}; rerun the same command to continue', flush=True)
    return 0
  if counts.get(record.FINISHED, 0) >= 2:
    subprocess.run([sys.executable, '-m', 'attn_jax.compare', _WORKDIR.value,
                    f'--metric={_METRIC.value}', f'--split={_SPLIT.value}',
                    f'--out={_WORKDIR.value}'], check=False)
  failed = list(ended['states'].values()).count('failed')
  return min(FAILED_BASE + failed, 255) if failed else 0


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing of the sweep's own flags; `--config.KEY=V` arguments are passed on to main.
  A bad flag is one `error:` line and exit status 2."""
  settings = [arg for arg in argv[1:] if arg.startswith(('--config.', '--noconfig.'))]
  try:
    rest = flags.FLAGS([arg for arg in argv if arg not in settings])
  except flags.Error as error:
    _fail(str(error))
  if len(rest) > 1:
    _fail(f'unexpected arguments {rest[1:]}; settings go in --config.KEY=VALUE flags')
  if not _WORKDIR.value:
    _fail('workdir: missing; accepted: --workdir=DIR (the sweep folder)')
  return [argv[0], *settings]


def _fail(message: str):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def main(argv: list[str]):
  try:
    if _TASK.value is not None:
      sys.exit(slurm.run_task(_WORKDIR.value, _TASK.value))
    sys.exit(sweep(fixed_settings(argv[1:])))
  except ConfigError as error:
    _fail(str(error))


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
