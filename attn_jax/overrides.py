"""The `--config.KEY=VALUE` settings of a command line, and a one-line account of one that the
config does not have (docs/design.md §3.1).

A leaf: it imports nothing of the project, so that `launch.py` can describe a mistyped setting
without loading JAX.
"""
import difflib

import ml_collections

# How alike a mistyped key and a real one must be to be suggested (difflib's ratio: 'trian' and
# 'train' are 0.8, 'train' and 'transformer' 0.5).
NEAR_MISS = 0.75


def given_keys(argv: list[str]) -> list[str]:
  """The dotted keys set on a command line: `--config.a.b=V`, `--config.a.b V`, `--config.a.b`
  and `--noconfig.a.b` (booleans) all give `a.b`."""
  keys = []
  for arg in argv:
    name = arg.split('=', 1)[0]
    for prefix in ('--config.', '--noconfig.'):
      if name.startswith(prefix):
        keys.append(name[len(prefix):])
  return keys


def _sections(node: ml_collections.ConfigDict) -> list[str]:
  return sorted(k for k, v in node.items() if isinstance(v, ml_collections.ConfigDict))


def _paths(node: ml_collections.ConfigDict, prefix: tuple[str, ...] = ()):
  """Every setting and section of `node`, as tuples of key parts."""
  for key, value in node.items():
    yield (*prefix, key)
    if isinstance(value, ml_collections.ConfigDict):
      yield from _paths(value, (*prefix, key))


def _near_miss(config, parts: list[str]) -> str | None:
  """The setting or section that differs from `parts` in one part, most alike there."""
  scored = []
  for path in _paths(config):
    differ = [(a, b) for a, b in zip(parts, path) if a != b]
    if len(path) == len(parts) and len(differ) == 1:
      scored.append((difflib.SequenceMatcher(None, *differ[0]).ratio(), '.'.join(path)))
  ratio, closest = max(scored, default=(0, None))
  return closest if ratio >= NEAR_MISS else None


def unknown_setting(config: ml_collections.ConfigDict, key: str) -> str | None:
  """None if `config` has the setting `key` (dotted); otherwise the line that says so:

  - a near miss (one part mistyped) names the closest setting: `--config.trian.num_steps: no such
    setting; did you mean --config.train.num_steps?`;
  - otherwise a missing section lists the sections there are, a missing setting the settings of
    its section.
  """
  flag, node, parts = f'--config.{key}', config, key.split('.')
  for depth, part in enumerate(parts):
    if isinstance(node, ml_collections.ConfigDict) and part in node:
      node = node[part]
      continue
    closest = _near_miss(config, parts)
    if closest:
      return f'{flag}: no such setting; did you mean --config.{closest}?'
    if not isinstance(node, ml_collections.ConfigDict):
      return f'{flag}: no such setting; {".".join(parts[:depth])} is a setting, not a section'
    return f'{flag}: no such setting; ' + _accepted(node, parts, depth)
  return None


def _accepted(node, parts: list[str], depth: int) -> str:
  """What there is where `parts[depth]` is missing from `node` (the config at `parts[:depth]`)."""
  where = f' in {".".join(parts[:depth])}' if depth else ''
  sections = _sections(node)
  if depth < len(parts) - 1 and sections:
    return f'this config has no section {".".join(parts[:depth + 1])}; its sections{where}: ' \
           + ', '.join(sections)
  return f'the settings{where}: ' + ', '.join(sorted(k for k in node if k not in sections)
                                                + [f'{s}.*' for s in sections])
