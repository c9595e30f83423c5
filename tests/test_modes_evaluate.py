"""`mode=evaluate`: a trained workdir's evaluators on a chosen split, from its latest checkpoint."""
import json
import os

import pytest

from attn_jax import modes
from attn_jax.config_base import base_config
from attn_jax.errors import ConfigError
from attn_jax.training import train_and_evaluate


def _listops_config(tmp_path, eval_split=''):
  return base_config(
      model=dict(name='transformer', num_layers=1, hidden_size=16, num_heads=2, mlp_dim=32),
      data=dict(name='listops', data_dir=str(tmp_path / 'tfds'), listops_min_length=10,
                listops_max_length=40, listops_num_train=64, listops_num_validation=24,
                listops_num_test=40, eval_split=eval_split),
      train=dict(num_steps=3, batch_size=8, log_every=1, eval_every=3, checkpoint_every=3,
                 warmup_steps=1))


def test_evaluate_repeats_the_last_eval_and_scores_another_split(tmp_path, capsys):
  workdir = str(tmp_path / 'run')
  trained_on_validation = train_and_evaluate(_listops_config(tmp_path), workdir)
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    lines = f.read()

  again = modes.evaluate(_listops_config(tmp_path), workdir)  # '' = the default: validation
  assert again == pytest.approx(trained_on_validation, rel=1e-6)
  test = modes.evaluate(_listops_config(tmp_path, eval_split='test'), workdir)
  assert set(test) == set(again) and test != again
  with open(os.path.join(workdir, 'eval_test.json')) as f:
    written = json.load(f)
  assert written == {'step': 3, 'split': 'test', **test}
  assert "on 'test': accuracy" in capsys.readouterr().out
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    assert f.read() == lines  # evaluating writes nothing into the training record

  with pytest.raises(ConfigError) as error:
    modes.evaluate(_listops_config(tmp_path, eval_split='train_set'), workdir)
  assert error.value.setting == 'data.eval_split'


def test_evaluate_needs_a_checkpoint(tmp_path):
  with pytest.raises(ConfigError) as error:
    modes.evaluate(_listops_config(tmp_path), str(tmp_path / 'empty'))
  assert error.value.setting == 'workdir'
