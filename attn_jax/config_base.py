"""The shape every experiment config shares: top-level keys with their defaults
(docs/design.md §3.1).

Config files in `experiments/configs/` start from `base_config()` and override what they need, so
every `--config.a.b=v` override names a key that exists.
"""
import sys
from typing import Sequence

import ml_collections

from attn_jax.data import data_config_defaults
from attn_jax.data.registry import settings_read
from attn_jax.errors import ConfigError
from attn_jax.models.registry import READS, model_config_defaults
from attn_jax.training.config import train_config_defaults


def sample_config_defaults() -> ml_collections.ConfigDict:
  """Generation settings, for `mode=sample` and the samples printed after training a LM."""
  return ml_collections.ConfigDict(dict(
      prompt='The ',
      num_samples=3,        # continuations printed (after training, too; 0 prints none)
      num_tokens=200,       # new tokens per continuation
      temperature=0.8,      # 0 is greedy
      top_k=0,              # 0 disables top-k
      top_p=1.0,            # 1 disables nucleus sampling
      beam_size=4,          # beam search for translation
  ))


def base_config(**overrides) -> ml_collections.ConfigDict:
  """Every top-level key with its defaults, updated with `overrides` (nested dicts merge).

  Example: `base_config(model=dict(name='lstm'), data=dict(name='text', seq_len=128))`.
  """
  config = ml_collections.ConfigDict(dict(
      seed=0,
      mode='train',          # train | sample | attention
      experiment='train',    # what training mode runs (attn_jax.runners.EXPERIMENTS)
      restore_step='latest',  # evaluate/sample/attention read this checkpoint: latest, best or N
      model=model_config_defaults(),
      data=data_config_defaults(),
      train=train_config_defaults(),
      sample=sample_config_defaults(),
  ))
  config.update_from_flattened_dict(flatten(overrides))
  return config


def variant_of(variants, variant: str):
  """What a config file's `get_config(variant)` starts from: `variants[variant]` when `variants`
  maps names to settings, the name itself when it is a tuple of names. An unknown variant is a
  ValueError that lists the accepted ones (`launch.py` prints it as one `error: config:` line)."""
  if variant not in variants:
    raise ValueError(f'unknown variant {variant!r}; accepted: {", ".join(variants)}')
  return variants[variant] if isinstance(variants, dict) else variant


def flatten(tree: dict, prefix: str = '') -> dict:
  """{'train': {'num_steps': 2}} -> {'train.num_steps': 2}."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


# Settings shared by design: where prepared datasets are kept, which a script may pass to every
# run. A dataset that does not read it (a generated task) gets a warning, not an error.
SHARED_SETTINGS = ('data.data_dir',)


def check_read(config: ml_collections.ConfigDict, given: Sequence[str]):
  """Refuses a `model.*` or `data.*` setting given on the command line (`given`: dotted keys)
  that the chosen model or dataset does not read (`models.registry.READS`, each data loader's
  `SETTINGS`), with what it reads; warns in one line for one of `SHARED_SETTINGS`.

  Only training (`experiment='train'`) is checked, and only keys the user gave: config-file
  defaults are not. A study reads its own sections.
  """
  if config.get('experiment') != 'train':
    return
  reads = {'model': READS.get(config.model.name), 'data': settings_read(config.data.name)}
  names = {'model': f'the model {config.model.name!r}', 'data': f'the dataset {config.data.name!r}'}
  for key in given:
    section, _, name = key.partition('.')
    if reads.get(section) is None or name in ('name', *reads[section]):
      continue
    message = (f'{names[section]} does not read it; it reads: '
               + ', '.join(f'{section}.{k}' for k in sorted(reads[section])))
    if key in SHARED_SETTINGS:
      print(f'warning: {key}: {message}; ignored', file=sys.stderr, flush=True)
    else:
      raise ConfigError(key, message)
