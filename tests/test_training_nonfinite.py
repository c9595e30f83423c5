"""Non-finite losses: an isolated bad step is skipped and counted; a run of them ends the run with a
clear error, keeping the last good checkpoint."""
import numpy as np
import pytest

from attn_jax.config_base import base_config
from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.training import loop
from attn_jax.training.checkpoints import Checkpointer
from attn_jax.training.metrics import read_metrics


def _poisoned(bad_steps):
  """`load_dataset` whose training batches at `bad_steps(step)` have NaN inputs."""
  def load(data_config, *, seed):
    dataset = load_dataset(data_config, seed=seed)
    clean = dataset.train_batch

    def train_batch(step, *args, **kwargs):
      batch = clean(step, *args, **kwargs)
      return dict(batch, inputs=np.full_like(batch['inputs'], np.nan)) if bad_steps(step) else batch

    dataset.train_batch = train_batch
    return dataset
  return load


def test_isolated_nonfinite_steps_are_skipped_and_a_run_of_them_ends_training(tmp_path,
                                                                              monkeypatch):
  # Step indices are 0-based: step 1 alone is bad (the 2nd update), then every step from 8 on.
  monkeypatch.setattr(loop, 'load_dataset', _poisoned(lambda step: step == 1 or step >= 8))
  config = base_config(
      model=dict(name='rnn', hidden_size=8), data=dict(name='adding', seq_len=6),
      train=dict(num_steps=40, batch_size=4, log_every=2, eval_every=40, checkpoint_every=4,
                 warmup_steps=1, max_nonfinite_steps=3))
  workdir = str(tmp_path / 'run')
  with pytest.raises(ConfigError, match='the run diverged: the last 4 steps .up to step 12.'):
    loop.train_and_evaluate(config, workdir)
  train_lines = {line['step']: line for line in read_metrics(workdir) if line['split'] == 'train'}
  assert train_lines[2]['nonfinite'] == 1 and np.isfinite(train_lines[4]['loss'])
  assert train_lines[10]['nonfinite'] == 2 and np.isnan(train_lines[10]['loss'])
  assert max(train_lines) == 12  # logged, then stopped before saving step 12
  checkpointer = Checkpointer(workdir, keep=3)
  assert checkpointer.manager.all_steps() == [4, 8]  # the last good one kept
  checkpointer.close()
