"""Every config in experiments/configs/ runs a few steps end to end (its first variant by default,
every variant with `-m slow`); every other variant loads its data, builds its model and traces
its initialisation without compiling.

A config file lists its variants in `VARIANTS` and may give `SMOKE_TEST`, flattened overrides
(`{'data.num_train_examples': 64}`) that make its smoke run small.
"""
import os

import jax
import pytest

from attn_jax import runners
from attn_jax.studies.benchmark import benchmark
from attn_jax.studies.seq_len_scaling import settings as seq_len_scaling_settings
from attn_jax.training.loop import prepare_run
from attn_jax.training.state import create_train_state
from launcher import config_variants, load_config_file

SMOKE_TRAIN = {'train.num_steps': 2, 'train.batch_size': 4, 'train.eval_batch_size': 128,
               'train.log_every': 1, 'train.eval_every': 2, 'train.checkpoint_every': 2,
               'train.warmup_steps': 1, 'sample.num_samples': 1, 'sample.num_tokens': 8}

# How a study's variant is checked without running it: its settings' own validation.
STUDY_CHECKS = {'seq_len_scaling': seq_len_scaling_settings.validate,
                'benchmark': benchmark.select_shapes}


def _cases(first: bool):
  """(path, variant) params: each file's first variant (`first`) or the others."""
  seen, cases = set(), []
  for path, variant in config_variants():
    if (path not in seen) == first:
      cases.append(pytest.param(path, variant, id=f'{os.path.basename(path)}:{variant}'))
    seen.add(path)
  return cases


def smoke_config(path, variant):
  """The config of `path:variant` with the smoke overrides applied."""
  module = load_config_file(path)
  config = module.get_config() if variant is None else module.get_config(variant)
  overrides = dict(SMOKE_TRAIN) if config.experiment == 'train' else {}
  overrides.update(getattr(module, 'SMOKE_TEST', {}))
  config.update_from_flattened_dict(overrides)
  return config


def _run_end_to_end(tmp_path, path, variant):
  runners.run(smoke_config(path, variant), str(tmp_path / 'run'))
  assert os.listdir(tmp_path / 'run')


@pytest.mark.parametrize('path,variant', _cases(first=True))
def test_config_runs_end_to_end(tmp_path, path, variant):
  _run_end_to_end(tmp_path, path, variant)


@pytest.mark.slow
@pytest.mark.parametrize('path,variant', _cases(first=False))
def test_every_variant_runs_end_to_end(tmp_path, path, variant):
  _run_end_to_end(tmp_path, path, variant)


@pytest.mark.parametrize('path,variant', _cases(first=False))
def test_variant_builds_and_traces(tmp_path, path, variant):
  config = smoke_config(path, variant)
  if config.experiment != 'train':
    assert config.experiment in STUDY_CHECKS, f'no check for the study {config.experiment!r}'
    STUDY_CHECKS[config.experiment](config)
    return
  run = prepare_run(config, str(tmp_path))
  state = jax.eval_shape(lambda key: create_train_state(config, run.model, run.dataset.info, key),
                         jax.random.key(0))
  assert jax.tree_util.tree_leaves(state.params)
