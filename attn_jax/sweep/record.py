"""`DIR/sweep.json`: the sweep's config, fixed settings and every point with its state; and a
point's state read from its workdir.

The file is replaced atomically (`durable.write_json`) under an OS lock on `DIR/sweep.lock`,
each update reading it afresh, so two sweeps over one DIR (two machines on a shared filesystem,
or the local runner beside SLURM tasks) each change only the points they touch.

A point's `state`: `pending` (not started), `running`, `stopped` (interrupted with a checkpoint
below its last step: the next run resumes from it), `finished`, `failed` (its exit status and
`error`, the run's `error:` line or last line, are recorded) or `busy` (another process held its
workdir's lock: `training/workdir_lock.py`).
"""
import contextlib
import fcntl
import json
import os

from attn_jax import durable
from attn_jax.errors import ConfigError

SWEEP_FILE = 'sweep.json'
LOCK_FILE = 'sweep.lock'
FINISHED = 'finished'


def read(sweep_dir: str) -> dict:
  """The record (an empty one where there is none yet)."""
  path = os.path.join(sweep_dir, SWEEP_FILE)
  if not os.path.exists(path):
    return {'points': []}
  with open(path) as f:
    return json.load(f)


@contextlib.contextmanager
def updating(sweep_dir: str):
  """Yields the record, read under the sweep's lock, and writes it back when the block ends."""
  os.makedirs(sweep_dir, exist_ok=True)
  with open(os.path.join(sweep_dir, LOCK_FILE), 'a') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    record = read(sweep_dir)
    yield record
    durable.write_json(os.path.join(sweep_dir, SWEEP_FILE), record)


def set_point(sweep_dir: str, name: str, **fields):
  """Updates the fields of point `name` (its state, exit status, error, ...)."""
  with updating(sweep_dir) as record:
    next(p for p in record['points'] if p['name'] == name).update(fields)


def point_dir(sweep_dir: str, name: str) -> str:
  """Where point `name` runs: `DIR/<name>`."""
  return os.path.join(sweep_dir, name)


def trained_steps(workdir: str) -> tuple[int, int | None]:
  """(newest complete checkpoint's step, 0 if none; the run's `train.num_steps` from its
  `config.json`, None before it has one). Orbax names a checkpoint being written
  `<step>.orbax-checkpoint-tmp-<n>`, so only all-digit names count."""
  folder = os.path.join(workdir, 'checkpoints')
  steps = [int(n) for n in (os.listdir(folder) if os.path.isdir(folder) else ()) if n.isdigit()]
  config_path = os.path.join(workdir, 'config.json')
  if not os.path.exists(config_path):
    return max(steps, default=0), None
  with open(config_path) as f:
    return max(steps, default=0), json.load(f)['train']['num_steps']


def is_finished(workdir: str) -> bool:
  """Whether the run in `workdir` has checkpointed its last step (then `launch.py` would not
  train it again: docs/design.md §3.1)."""
  step, num_steps = trained_steps(workdir)
  return num_steps is not None and step >= num_steps


def state_after(workdir: str) -> str:
  """The state of a point whose process ended without an error: finished, or stopped."""
  return FINISHED if is_finished(workdir) else 'stopped'


def finished_points(sweep_dir: str) -> list[str]:
  """The workdirs of the record's points that are finished, in the sweep's order (read from the
  workdirs: a run may have finished after its sweep was killed)."""
  dirs = [point_dir(sweep_dir, p['name']) for p in read(sweep_dir)['points']]
  return [workdir for workdir in dirs if is_finished(workdir)]


def add_points(sweep_dir: str, points: list[dict]) -> list[dict]:
  """Adds to the record the points (`name`, `settings`, `args`: the `launch.py` flags) it lacks,
  marks finished those whose workdir says so, and returns the entries of `points` to run.

  Points already recorded keep their entries; other recorded points are not touched.

  Raises:
    ConfigError('workdir', ...): a recorded point of the same name was run with other flags.
  """
  with updating(sweep_dir) as sweep:
    entries = {p['name']: p for p in sweep['points']}
    for point in points:
      known = entries.get(point['name'])
      if known is None:
        entries[point['name']] = dict(point, state='pending')
        sweep['points'].append(entries[point['name']])
      elif known['args'] != point['args']:
        raise ConfigError('workdir', f'point {point["name"]} of {sweep_dir} was run with '
                          f'{" ".join(known["args"])}; this sweep gives it '
                          f'{" ".join(point["args"])}; accepted: the same settings, or another '
                          '--workdir')
      if is_finished(point_dir(sweep_dir, point['name'])):
        entries[point['name']]['state'] = FINISHED
  return [entries[p['name']] for p in points if entries[p['name']]['state'] != FINISHED]
