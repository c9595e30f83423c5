"""Every config in experiments/configs/ (every variant) runs a few steps end to end.

A config file lists its variants in `VARIANTS` and may give `SMOKE_TEST`, flattened overrides
(`{'data.num_train_examples': 64}`) that make its smoke run small.
"""
import glob
import importlib.util
import os

import pytest

from attn_jax import runners
from launcher import CONFIGS

SMOKE_TRAIN = {'train.num_steps': 2, 'train.batch_size': 4, 'train.eval_batch_size': 128,
               'train.log_every': 1, 'train.eval_every': 2, 'train.checkpoint_every': 2,
               'train.warmup_steps': 1, 'sample.num_samples': 1, 'sample.num_tokens': 8}


def _load(path):
  spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _cases():
  for path in sorted(glob.glob(os.path.join(CONFIGS, '*.py'))):
    module = _load(path)
    for variant in getattr(module, 'VARIANTS', [None]):
      yield pytest.param(path, variant, id=f'{os.path.basename(path)}:{variant}')


@pytest.mark.parametrize('path,variant', list(_cases()))
def test_config_runs_end_to_end(tmp_path, path, variant):
  module = _load(path)
  config = module.get_config() if variant is None else module.get_config(variant)
  overrides = dict(SMOKE_TRAIN) if config.experiment == 'train' else {}
  overrides.update(getattr(module, 'SMOKE_TEST', {}))
  config.update_from_flattened_dict(overrides)
  runners.run(config, str(tmp_path / 'run'))
  assert os.listdir(tmp_path / 'run')
