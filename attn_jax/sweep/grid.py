"""A sweep's points: the product of its axes, an axis being one setting's values (`--grid`) or
several settings' values taken together (`--zip`, or a config file's `get_sweep()`), each point
named by its settings.
"""
import dataclasses
import hashlib
import importlib.util
import itertools
import os
import urllib.parse

from attn_jax.errors import ConfigError

# What a point's name keeps of a value as it is (anything else is %-escaped, '/' included).
NAME_SAFE = '=.,-_+:@'
MAX_NAME = 200  # folder names are limited to 255 bytes


@dataclasses.dataclass(frozen=True)
class Point:
  """One run of the sweep: its `settings` (dotted key -> value as given on a command line)."""
  name: str
  settings: dict


def parse_axis(text: str, flag: str) -> dict[str, list[str]]:
  """`KEY=V1,V2,...`, or for `--zip` several such separated by `;`, as `{key: [values]}`.

  Raises:
    ConfigError(flag, ...): not of that form, a key twice, or zipped lists of unequal length.
  """
  axis = {}
  for part in text.split(';'):
    key, equals, values = part.strip().partition('=')
    key = key.strip().removeprefix('--config.').removeprefix('config.')
    if not equals or not key or not values or key in axis:
      raise ConfigError(flag, f'{text!r} is not KEY=V1,V2,... (with --zip, several joined by '
                        "';', each key once); e.g. model.hidden_size=32,64,128")
    axis[key] = [value.strip() for value in values.split(',')]
  check_axis(axis, flag)
  return axis


def check_axis(axis: dict[str, list], where: str):
  """Raises ConfigError(where, ...) when an axis is empty or its zipped lists differ in length."""
  lengths = {key: len(values) for key, values in axis.items()}
  if not axis or 0 in lengths.values() or len(set(lengths.values())) > 1:
    raise ConfigError(where, f'zipped settings need lists of one length, got {lengths}')


def points(axes: list[dict[str, list]]) -> list[Point]:
  """The product of the axes (the last varying fastest), each axis's lists taken together.

  Raises:
    ConfigError('grid', ...): a setting on two axes, or no axis.
  """
  keys = [key for axis in axes for key in axis]
  if not axes or len(keys) != len(set(keys)):
    raise ConfigError('grid', f'each setting on one axis only, at least one axis; got {keys}')
  columns = [[dict(zip(axis, values)) for values in zip(*axis.values())] for axis in axes]
  return [_point({k: v for part in combination for k, v in part.items()})
          for combination in itertools.product(*columns)]


def _point(settings: dict) -> Point:
  """A point named `key=value,key=value` in the settings' order (a hash where that is too long)."""
  name = ','.join(f'{key}={urllib.parse.quote(str(value), safe=NAME_SAFE)}'
                  for key, value in settings.items())
  if len(name) > MAX_NAME:
    name = f'{name[:MAX_NAME - 17]}-{hashlib.sha1(name.encode()).hexdigest()[:16]}'
  return Point(name, settings)


def config_sweep(config_arg: str) -> tuple[list[dict[str, list]], dict]:
  """The axes and fixed settings of the config file's `get_sweep()`: it returns
  `dict(axes=[{key: [values], ...}, ...], settings={key: value})` (`settings` optional).

  Raises:
    ConfigError('config', ...): the file is missing or has no `get_sweep()`.
  """
  path = config_arg.partition(':')[0]
  if not os.path.isfile(path):
    raise ConfigError('config', f'no config file {path}; accepted: experiments/configs/NAME.py')
  spec = importlib.util.spec_from_file_location('sweep_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, 'get_sweep'):
    raise ConfigError('grid', f'no --grid or --zip given and {path} has no get_sweep(); '
                      'accepted: --grid=KEY=V1,V2,... or a config file with get_sweep()')
  sweep = module.get_sweep()
  for number, axis in enumerate(sweep['axes']):
    check_axis(axis, f'{path}: get_sweep() axis {number}')
  return sweep['axes'], sweep.get('settings', {})
