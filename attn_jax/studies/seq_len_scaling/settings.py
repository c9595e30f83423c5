"""The study's own settings (`config.models`, `config.lengths`, `config.study.*`), their checks, and
the guard that keeps one workdir's rows measured under one set of settings.
"""
import json
import os

import jax
import ml_collections

from attn_jax import durable
from attn_jax.config_base import flatten
from attn_jax.errors import ConfigError
from attn_jax.training.config import validate_train_config

# Sequence models this study compares (what `models` accepts).
STUDY_MODELS = ('rnn', 'lstm', 'gru', 'mingru', 'minlstm', 'mamba', 'transformer',
                'linear_attention')
STUDY_KEYS = ('models', 'lengths', 'study')
# What a task may set for itself (`study.per_task.TASK.KEY`), where it is applied, and its
# meaning "the study's own value": every family on that task gets the task's setting, so
# parameters (and everything else) stay matched within a task.
PER_TASK_KEYS = {'target_params': 'study', 'max_steps': 'study', 'check_every': 'study',
                 'pilot_steps': 'study', 'learning_rates': 'study', 'seeds': 'study', 'batch_size': 'train', 'lr_schedule': 'train',
                 'num_classes': 'data'}
# Settings that may differ between runs in one workdir: which points, where data lives, the fit.
FREE_KEYS = ('models', 'lengths', 'data.data_dir', 'study.fit_min_length', 'study.tasks',
             'study.capability_lengths', 'study.inference_lengths', 'study.frontier_lengths',
             'study.frontier_widths')
SETTINGS_FILE = 'study_settings.json'


def study_config_defaults() -> ml_collections.ConfigDict:
  """`config.study`: how points are sized, timed, trained and fitted."""
  return ml_collections.ConfigDict(dict(
      target_params=25_000,   # every model's width is chosen to have this many parameters...
      param_tolerance=0.1,    # ...within this fraction
      mlp_ratio=4,            # transformer: mlp_dim = mlp_ratio * hidden_size
      num_layers=2,           # layers of every family (stacked cells, transformer blocks)
      warmup_steps=2,         # cost: untimed steps after compiling
      timed_steps=10,         # cost: step_ms is the median of these
      fit_min_length=0,       # growth exponents fit lengths >= this; 0: the upper half
      # Capability: one curve per task x model x seed, trained on the task's
      # `capability_lengths` together and evaluated at them and at `extrapolate` x the longest.
      tasks='first_token,mqar,parity',
      capability_lengths='16,32,64',
      extrapolate='2,4',      # multiples of the longest training length also evaluated ('': none)
      seeds=3,
      learning_rates='1e-3,3e-3,1e-2',
      pilot_steps=200,        # with several rates: the first seed at each, this many steps
      solve_accuracy=0.99,    # held-out accuracy at which a length is solved...
      check_every=100,        # ...checked every this many steps (a multiple of the number of
                              # training lengths: each check's steps are split among them)...
      max_steps=1000,         # ...up to this many (a multiple of check_every)
      per_task=ml_collections.ConfigDict(),  # {task: {key of PER_TASK_KEYS: value}}
      # Members trained at a time, each on a thread, whichever of the two curves in flight they
      # belong to (1: one after another). Results are the same; `seconds_to_solve` is
      # wall-clock, sharing the cores with the others.
      parallel_members=2,
      # The state-size frontier (Zoology, Arora et al. 2024, figure 2): `frontier_task`, every
      # model at each of `frontier_widths` (not parameter-matched: the width sets the state), one
      # curve over `frontier_lengths` each, `frontier_seeds` seeds, the task's budget and rates.
      frontier_task='mqar',
      frontier_lengths='',   # '' : no frontier phase
      frontier_widths='16,32,64,128',
      frontier_seeds=1,
      gradient_flow_task='first_token',  # at its longest capability length ('': none)
      inference_lengths='16,64,256,1024',  # decoding contexts ('' : no inference phase)
      inference_repeats=20,   # timed one-token steps per context (median)
  ))


def seeds_of(config) -> tuple[int, ...]:
  """The capability phase's seeds: `seed`, `seed + 1`, ... (`study.seeds` of them)."""
  return tuple(config.seed + i for i in range(config.study.seeds))


def _require(ok: bool, setting: str, message: str):
  if not ok:
    raise ConfigError(setting, message)


def per_task_config(config, task: str):
  """`config` with `study.per_task[task]`'s settings applied (a copy; `config` if none)."""
  overrides = config.study.per_task.get(task)
  if not overrides:
    return config
  out = config.copy_and_resolve_references()
  for key, value in overrides.items():
    section = PER_TASK_KEYS[key]
    (out.study if section == 'study' else out[section])[key] = value
  return out


def validate_per_task(config, known_tasks):
  """Raises ConfigError for a `study.per_task` entry of a task not in `known_tasks` or a key that a
  task cannot set, or for settings that are bad once a task's entry is applied. (An entry of a
  known task that `study.tasks` leaves out is kept for the runs that include it.)"""
  for task, overrides in config.study.per_task.items():
    _require(task in known_tasks, f'study.per_task.{task}', f'{task!r} is not a task; '
             f'accepted: {", ".join(known_tasks)}')
    for key in overrides:
      _require(key in PER_TASK_KEYS, f'study.per_task.{task}.{key}', 'not a per-task setting; '
               f'accepted: {", ".join(PER_TASK_KEYS)}')
    validate(per_task_config(config, task))


def validate(config):
  """Raises ConfigError for a bad `study.*` or `train.*` setting (models and lengths are parsed
  by `seq_len_scaling.parse_models` / `parse_lengths`)."""
  s = config.study
  for key, low in (('target_params', 1), ('mlp_ratio', 1), ('warmup_steps', 0),
                   ('timed_steps', 1), ('fit_min_length', 0), ('num_layers', 1), ('seeds', 1),
                   ('check_every', 1), ('max_steps', 1), ('inference_repeats', 1),
                   ('parallel_members', 1),
                   ('frontier_seeds', 1)):
    _require(isinstance(s[key], int) and s[key] >= low, f'study.{key}',
             f'must be an integer >= {low}, got {s[key]!r}')
  _require(isinstance(s.pilot_steps, int) and 0 < s.pilot_steps <= s.max_steps
           and s.pilot_steps % s.check_every == 0, 'study.pilot_steps',
           f'must be a positive multiple of study.check_every={s.check_every} and at most '
           f'study.max_steps={s.max_steps}, got {s.pilot_steps!r}')
  _require(0 < s.param_tolerance < 1, 'study.param_tolerance',
           f'must be a fraction in (0, 1), got {s.param_tolerance!r}')
  _require(0 < s.solve_accuracy <= 1, 'study.solve_accuracy',
           f'must be an accuracy in (0, 1], got {s.solve_accuracy!r}')
  _require(s.max_steps % s.check_every == 0, 'study.max_steps',
           f'must be a multiple of study.check_every={s.check_every}, got {s.max_steps}')


def validate_split(config, setting: str, num_lengths: int):
  """Raises ConfigError unless `study.check_every` splits into `num_lengths` equal groups (the
  lengths of a curve, `setting`)."""
  every = config.study.check_every
  _require(every % num_lengths == 0, 'study.check_every', f'{every} steps per check do not split '
           f'among the {num_lengths} training lengths of {setting}; accepted: a multiple of '
           f'{num_lengths}')
  validate_train_config(config.train, num_devices=jax.device_count())


def measured_settings(config) -> dict:
  """Every setting that changes what a point measures, flattened."""
  flat = flatten(json.loads(config.to_json_best_effort()))
  return {k: v for k, v in flat.items()
          if not any(k == free or k.startswith(free + '.') for free in FREE_KEYS)}


def check_workdir(config, workdir: str, *, has_rows: bool):
  """Records the settings in `workdir`, or checks them against those its rows were measured with.

  Raises:
    ConfigError: `workdir` holds rows measured with different settings.
  """
  path = os.path.join(workdir, SETTINGS_FILE)
  current = measured_settings(config)
  if has_rows and os.path.exists(path):
    with open(path) as f:
      stored = json.load(f)
    differ = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    _require(not differ, 'workdir', f'{workdir} holds rows measured with other settings '
             f'({", ".join(f"{k}: {stored.get(k)!r} there, {current.get(k)!r} now" for k in differ[:4])}'
             f'); accepted: the same settings (models and lengths may change), or a new --workdir')
    return
  durable.write_json(path, current)
