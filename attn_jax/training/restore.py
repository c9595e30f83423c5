"""A trained workdir read back: its config as trained, dataset, model and latest parameters.

What `mode=sample`, `mode=attention` and the studies use after training; the training loop
itself resumes through `checkpoints.Checkpointer` directly.
"""
import copy
import dataclasses
import json
import os
from typing import Any

import jax

from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model
from attn_jax.training.checkpoints import Checkpointer
from attn_jax.training.resume import FREE_DATA_KEYS
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
  """The latest checkpoint of `workdir` with the model and data settings it was trained with
  (`DIR/config.json`; `config`'s own where there is none).

  Raises:
    ConfigError('workdir', ...): no checkpoint in `workdir`.
  """
  checkpoints = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(checkpoints) or not os.listdir(checkpoints):
    raise ConfigError('workdir', f'{workdir!r} holds no checkpoint; train first with the same '
                      '--config and --workdir (mode=train)')
  config = _as_trained(config, workdir)
  dataset = load_dataset(config.data, seed=config.seed)
  model = build_model(config.model, dataset.info)
  # Shapes only (nothing is initialised or compiled): the checkpoint fills in the values.
  template = jax.eval_shape(lambda: create_train_state(config, model, dataset.info,
                                                       jax.random.key(config.seed)))
  checkpointer = Checkpointer(workdir, keep=config.train.keep_checkpoints)
  restored = checkpointer.restore_latest(template)
  checkpointer.close()
  if restored is None:
    raise ConfigError('workdir', f'no readable checkpoint in {checkpoints!r}')
  state, _ = restored
  return Trained(config, dataset, model, state.params, int(state.step))


def _as_trained(config, workdir: str):
  """`config` with the `seed`, `model`, `data` and `train` sections of `DIR/config.json`, except
  the data keys a command may change (`resume.FREE_DATA_KEYS`: where data is kept, which split is
  evaluated), which stay `config`'s."""
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
