"""Resuming a workdir: the requested config against the one it was trained with (`DIR/config.json`).

Checked before anything is built. A change that alters the parameters' shapes or the data
(`model.*`, `data.*`, `seed`; switching gradient clipping on or off, which changes the optimizer
state) cannot resume and is a ConfigError listing every such key. Any other change (more steps, a
learning rate, logging, evaluation or checkpoint intervals, `sample.*`, where data is stored) is
applied, and listed in one warning line.
"""
import json
import os
import sys

from flax import traverse_util

from attn_jax.errors import ConfigError
from attn_jax.training.disk_full import checkpoint_steps

FIXED_SECTIONS = ('model.', 'data.')
# Data settings that change where data is kept or which split is evaluated, not what is trained.
FREE_DATA_KEYS = ('data.data_dir', 'data.eval_split')


def json_flat(tree: dict) -> dict:
  """A config as JSON would store it, flattened: `{'train': {'num_steps': 2}}` ->
  `{'train.num_steps': 2}` (tuples become lists)."""
  return traverse_util.flatten_dict(json.loads(json.dumps(tree)), sep='.')


def _fixed(key: str, old, new) -> bool:
  """Whether changing `key` from `old` to `new` makes the checkpoint unusable."""
  if key == 'train.grad_clip_norm':
    return bool(old) != bool(new)
  if key in FREE_DATA_KEYS:
    return False
  return key == 'seed' or key.startswith(FIXED_SECTIONS)


def _show(value) -> str:
  return json.dumps(value)


def has_checkpoint(workdir: str) -> bool:
  return bool(checkpoint_steps(workdir))


def check_config(config, workdir: str):
  """Raises ConfigError if `config` cannot resume `workdir`'s checkpoints; warns of the changes
  that it applies. Does nothing for a workdir without a checkpoint or a `config.json`.

  Keys that only one of the two configs has (the code gained or lost a setting) are not compared.
  """
  path = os.path.join(workdir, 'config.json')
  if not has_checkpoint(workdir) or not os.path.exists(path):
    return
  with open(path) as f:
    stored = json_flat(json.load(f))
  current = json_flat(config.to_dict())
  differ = sorted(k for k in set(stored) & set(current) if stored[k] != current[k])
  fixed = [k for k in differ if _fixed(k, stored[k], current[k])]
  if fixed:
    asks = '; '.join(f'{k}={_show(stored[k])}, this command asks {_show(current[k])}'
                     for k in fixed)
    raise ConfigError('workdir', f'{workdir} was trained with {asks}; use a new --workdir or '
                      f'drop the override{"s" if len(fixed) > 1 else ""}')
  if differ:
    changes = ', '.join(f'{k} {_show(stored[k])} -> {_show(current[k])}' for k in differ)
    print(f'warning: resuming {workdir} with changed settings: {changes}', file=sys.stderr,
          flush=True)
