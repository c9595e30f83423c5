"""A full disk while a run saves (ENOSPC injected where the bytes are written): one `error:` line
naming the step and the intact checkpoint; the next run, once space is freed, continues from it
and ends as an uninterrupted run does."""
import errno
import os

import orbax.checkpoint as ocp
import pytest

from attn_jax import durable
from attn_jax.config_base import base_config
from attn_jax.errors import ConfigError
from attn_jax.training import disk_full, loop
from attn_jax.training.metrics import read_metrics
from launcher import losses, metric_lines

NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _config():
  return base_config(model=dict(name='mlp', num_layers=1, hidden_size=16), data=dict(name='iris'),
                     train=dict(num_steps=12, batch_size=24, log_every=2, eval_every=4,
                                checkpoint_every=4, warmup_steps=1))


@pytest.fixture(scope='module')
def whole(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('whole')
  loop.train_and_evaluate(_config(), str(workdir))
  return workdir


def _refused(workdir, step: int, intact: int):
  with pytest.raises(ConfigError) as refused:
    loop.train_and_evaluate(_config(), str(workdir))
  assert str(refused.value) == (
      f'workdir: no space left on {disk_full._mount_point(workdir)} while saving step {step}; '
      f'the checkpoint of step {intact} is intact; free space and rerun the same command to '
      'continue')


def _rerun_equals_whole(workdir, whole):
  loop.train_and_evaluate(_config(), str(workdir))
  lines = [(line['split'], line['step']) for line in metric_lines(workdir, 'train')
           + metric_lines(workdir, 'eval')]
  assert len(lines) == len(set(lines))
  assert losses(workdir) == pytest.approx(losses(whole), rel=1e-6)
  assert losses(workdir, 'eval') == pytest.approx(losses(whole, 'eval'), rel=1e-6)
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['12', '4', '8']


def test_full_disk_during_a_checkpoint_write(tmp_path, monkeypatch, whole):
  save = ocp.CheckpointManager.save

  def disk_fills_at_step_8(self, step, *args, **kwargs):
    if step == 8:  # orbax had begun its temporary folder
      partial = tmp_path / 'checkpoints' / '8.orbax-checkpoint-tmp-1' / 'state'
      partial.mkdir(parents=True)
      (partial / 'data').write_bytes(b'\0' * 10)
      raise NO_SPACE
    return save(self, step, *args, **kwargs)

  monkeypatch.setattr(ocp.CheckpointManager, 'save', disk_fills_at_step_8)
  _refused(tmp_path, step=8, intact=4)
  monkeypatch.setattr(ocp.CheckpointManager, 'save', save)
  _rerun_equals_whole(tmp_path, whole)


def test_full_disk_while_appending_a_metrics_line(tmp_path, monkeypatch, whole):
  append = durable.append_line

  def disk_fills_at_step_6(path, line):
    if '"step": 6,' in line:
      with open(path, 'a') as f:
        f.write(line[:10])  # the bytes that still fit: a line cut short
      raise NO_SPACE
    append(path, line)

  monkeypatch.setattr(durable, 'append_line', disk_fills_at_step_6)
  _refused(tmp_path, step=6, intact=4)
  assert [line['step'] for line in read_metrics(tmp_path)] == [2, 4, 4]  # the cut line is left out
  monkeypatch.setattr(durable, 'append_line', append)
  _rerun_equals_whole(tmp_path, whole)


def test_full_disk_before_any_checkpoint(tmp_path, monkeypatch):
  def no_space(*args, **kwargs):
    raise NO_SPACE

  monkeypatch.setattr(durable, 'write_text', no_space)
  with pytest.raises(ConfigError, match='while saving the run files; no checkpoint was saved yet'):
    loop.train_and_evaluate(_config(), str(tmp_path))


def test_atomic_write_keeps_the_old_file_when_it_fails(tmp_path, monkeypatch):
  path = tmp_path / 'config.json'
  durable.write_json(str(path), {'a': 1})
  monkeypatch.setattr(os, 'replace', lambda *args: (_ for _ in ()).throw(NO_SPACE))
  with pytest.raises(OSError):
    durable.write_json(str(path), {'a': 2})
  assert path.read_text() == '{\n  "a": 1\n}\n'
  assert os.listdir(tmp_path) == ['config.json']  # no temporary file left


def test_complete_lines_leave_out_a_line_cut_short(tmp_path):
  path = tmp_path / 'rows'
  assert durable.complete_lines(str(path)) == []
  path.write_text('a\nb\nc')
  assert durable.complete_lines(str(path)) == ['a\n', 'b\n']
