"""Every config in experiments/configs/ (every variant) runs a few steps end to end.

A config file lists its variants in `VARIANTS` and may give `SMOKE_TEST`, flattened overrides
(`{'data.num_train_examples': 64}`) that make its smoke run small.
"""
import os

import pytest

from attn_jax import runners
from launcher import config_variants, load_config_file

SMOKE_TRAIN = {'train.num_steps': 2, 'train.batch_size': 4, 'train.eval_batch_size': 128,
               'train.log_every': 1, 'train.eval_every': 2, 'train.checkpoint_every': 2,
               'train.warmup_steps': 1, 'sample.num_samples': 1, 'sample.num_tokens': 8}


@pytest.mark.parametrize('path,variant', [
    pytest.param(path, variant, id=f'{os.path.basename(path)}:{variant}')
    for path, variant in config_variants()])
def test_config_runs_end_to_end(tmp_path, path, variant):
  module = load_config_file(path)
  config = module.get_config() if variant is None else module.get_config(variant)
  overrides = dict(SMOKE_TRAIN) if config.experiment == 'train' else {}
  overrides.update(getattr(module, 'SMOKE_TEST', {}))
  config.update_from_flattened_dict(overrides)
  runners.run(config, str(tmp_path / 'run'))
  assert os.listdir(tmp_path / 'run')
