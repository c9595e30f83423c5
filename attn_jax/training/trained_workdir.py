"""A trained workdir read back: its config as trained, dataset, model and the parameters of a
chosen checkpoint (`restore_step`: the latest, the best or a step).

What `mode=sample`, `mode=attention` and the studies use after training; the training loop
itself resumes through `checkpoints.Checkpointer` directly.
"""
import copy
import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
from flax import traverse_util

from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model
from attn_jax.training.checkpoints import BEST, Checkpointer
from attn_jax.training.config_changes import FREE_DATA_KEYS
from attn_jax.training.state import create_train_state


@dataclasses.dataclass
class Trained:
  """A trained run: its config (model and data as trained), dataset, model and parameters."""
  config: Any
  dataset: Any
  model: Any
  params: Any
  step: int


def load_trained(config, workdir: str) -> Trained:
  """The checkpoint `config.restore_step` ('latest', 'best' or a step) of `workdir`, with the
  model and data settings it was trained with (`DIR/config.json`; `config`'s own where there is
  none).

  Raises:
    ConfigError('workdir', ...): no checkpoint in `workdir`.
    ConfigError('restore_step', ...): no such checkpoint; lists the saved steps.
  """
  checkpoints = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(checkpoints) or not os.listdir(checkpoints):
    raise ConfigError('workdir', f'{workdir!r} holds no checkpoint; train first with the same '
                      '--config and --workdir (mode=train)')
  checkpoint_of(workdir, config.get('restore_step', 'latest'))  # a wrong step fails first
  config = _as_trained(config, workdir)
  dataset = load_dataset(config.data, seed=config.seed)
  model = build_model(config.model, dataset.info)
  # Shapes only (nothing is initialised or compiled): the checkpoint fills in the values.
  template = jax.eval_shape(lambda: create_train_state(config, model, dataset.info,
                                                       jax.random.key(config.seed)))
  state, _ = restore_checkpoint(workdir, config.get('restore_step', 'latest'), template)
  return Trained(config, dataset, model, state.params, int(state.step))


def saved_steps(workdir: str, subdir: str = 'checkpoints') -> list[int]:
  """The steps saved under `DIR/<subdir>/`, oldest first (none if it does not exist)."""
  path = os.path.join(workdir, subdir)
  return sorted(int(name) for name in os.listdir(path) if name.isdigit()) if os.path.isdir(
      path) else []


def checkpoint_of(workdir: str, which, *, setting: str = 'restore_step') -> tuple[str, int | None]:
  """Where `workdir`'s checkpoint `which` is: `(subdir, step)`, the step None for 'latest'
  (the newest readable one, found on restoring).

  Args:
    workdir: a trained run's directory.
    which: 'latest', 'best' (kept by `train.best_metric`) or a saved step (int or digits).
    setting: the setting that asked, for the error.

  Raises:
    ConfigError(setting, ...): `which` is not a checkpoint of `workdir`; lists those saved.
  """
  which = str(which)
  saved, best = saved_steps(workdir), saved_steps(workdir, BEST)
  available = (f'saved steps in {workdir}: {", ".join(map(str, saved)) or "none"}'
               + (f'; best: {best[-1]}' if best else '; no best (train.best_metric was not set)'))
  if which not in ('latest', 'best') and not which.isdecimal():
    raise ConfigError(setting, f'{which!r} names no checkpoint; accepted: latest, best or a '
                      f'saved step ({available})')
  if not (best if which == 'best' else saved) or (which.isdecimal() and int(which) not in saved):
    raise ConfigError(setting, f'no checkpoint {which!r}; accepted: latest, best or a saved step '
                      f'({available})')
  if which == 'best':
    return BEST, best[-1]
  return 'checkpoints', None if which == 'latest' else int(which)


def restore_checkpoint(workdir: str, which, template=None, *, setting: str = 'restore_step'):
  """`(state, base_key)` of `workdir`'s checkpoint `which` (see `checkpoint_of`).

  `template`: a train state (or its shapes) to restore into; None gives the nested dict of
  arrays as saved (`params`, `opt_state`, `step`).
  """
  subdir, step = checkpoint_of(workdir, which, setting=setting)
  checkpointer = Checkpointer(workdir, keep=None, subdir=subdir)
  restored = (checkpointer.restore_latest(template) if step is None
              else checkpointer.restore(step, template))
  checkpointer.close()
  if restored is None:
    raise ConfigError(setting, f'no readable checkpoint in {checkpointer.directory!r}')
  return restored


def warm_start(state, train):
  """`state` with the parameters of `train.init_from`'s checkpoint `train.init_step` ('latest',
  'best' or a step); the optimizer state stays fresh.

  Returns:
    The new state, and where its parameters came from: `{'workdir': ..., 'step': ...}`.

  Raises:
    ConfigError('train.init_from', ...): no such checkpoint, or parameters whose shapes differ
      (every one listed, with both shapes; `none` where one side lacks it).
  """
  saved, _ = restore_checkpoint(train.init_from, train.init_step, setting='train.init_from')
  ours = traverse_util.flatten_dict(state.params, sep='/')
  theirs = traverse_util.flatten_dict(saved['params'], sep='/')
  shape = lambda tree, key: tuple(tree[key].shape) if key in tree else 'none'
  differ = [f'{key} {shape(ours, key)} here, {shape(theirs, key)} there'
            for key in sorted(set(ours) | set(theirs)) if shape(ours, key) != shape(theirs, key)]
  origin = {'workdir': os.path.abspath(train.init_from), 'step': int(saved['step'])}
  if differ:
    raise ConfigError('train.init_from', f'{origin["workdir"]} (step {origin["step"]}) has '
                      f'{len(differ)} parameters of another shape: {"; ".join(differ)}; '
                      'accepted: a workdir of a model with the same parameter shapes')
  params = traverse_util.unflatten_dict(
      {key: jnp.asarray(theirs[key], ours[key].dtype) for key in ours}, sep='/')
  return state.replace(params=params), origin


def _as_trained(config, workdir: str):
  """`config` with the `seed`, `model`, `data` and `train` sections of `DIR/config.json`, except the
  data keys a command may change (`config_changes.FREE_DATA_KEYS`: where data is kept, which split
  is evaluated), which stay `config`'s."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return config
  with open(path) as f:
    saved = json.load(f)
  config = copy.deepcopy(config)
  with config.unlocked():
    config.seed = saved.get('seed', config.seed)
    free = {key: config.data[key.split('.', 1)[1]] for key in FREE_DATA_KEYS}
    for section in ('model', 'data', 'train'):
      if section in saved:
        config[section].update(saved[section])
    for key, value in free.items():
      config.data[key.split('.', 1)[1]] = value
  return config
