"""Config files state only what differs: no value a config passes to `base_config` (for any of its
variants) equals the default at that key, and no preset of `attn_jax.config_presets` holds one."""
import os

import pytest

from attn_jax import config_base, config_presets
from attn_jax.models.registry import model_config_defaults
from attn_jax.training.config import train_config_defaults
from launcher import config_variants, load_config_file

DEFAULTS = config_base.flatten(config_base.base_config().to_dict())


def _same(value, default) -> bool:
  if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
    return tuple(value) == tuple(default)
  return isinstance(value, bool) == isinstance(default, bool) and value == default


def restated(overrides: dict, defaults: dict) -> list[str]:
  """The keys of flattened `overrides` whose value equals the default in flattened `defaults`."""
  return [key for key, value in overrides.items()
          if key in defaults and _same(value, defaults[key])]


def overrides_passed(path: str, variant, monkeypatch) -> list[dict]:
  """What the config at `path` passes to `base_config` for `variant`, flattened, one dict a call
  (a config that builds on another config file calls it more than once)."""
  calls = []
  real = config_base.base_config

  def recording(**overrides):
    calls.append(config_base.flatten(overrides))
    return real(**overrides)

  # Config files import base_config by name when they load, so patch before loading.
  monkeypatch.setattr(config_base, 'base_config', recording)
  module = load_config_file(path)
  module.get_config() if variant is None else module.get_config(variant)
  return calls


@pytest.mark.parametrize('path,variant', [
    pytest.param(path, variant, id=f'{os.path.basename(path)}:{variant}')
    for path, variant in config_variants()])
def test_config_sets_no_default(path, variant, monkeypatch):
  found = sorted({f'{key}={call[key]!r}' for call in overrides_passed(path, variant, monkeypatch)
                  for key in restated(call, DEFAULTS)})
  assert not found, (f'{os.path.basename(path)}, variant {variant}: sets defaults (drop them): '
                     + ', '.join(found))


def test_restated_finds_a_default():
  assert restated({'model.num_layers': 2, 'model.hidden_size': 128, 'train.learning_rate': 1e-3,
                   'train.grad_clip_norm': 1, 'data.eval_length_multipliers': [],
                   'model.pre_ln': True, 'model.bidirectional': 0, 'seed': 0, 'mode': 'sample'},
                  DEFAULTS) == ['model.num_layers', 'train.learning_rate', 'train.grad_clip_norm',
                                'data.eval_length_multipliers', 'model.pre_ln', 'seed']


@pytest.mark.parametrize('name,defaults', [
    ('TRANSFORMER', model_config_defaults), ('ONE_LAYER', model_config_defaults),
    ('ONE_LAYER_128', model_config_defaults), ('LOG_100', train_config_defaults),
    ('EVAL_250', train_config_defaults), ('EVAL_1000', train_config_defaults)])
def test_preset_holds_no_default(name, defaults):
  preset = getattr(config_presets, name)
  assert not restated(preset, defaults().to_dict()), (name, preset)
