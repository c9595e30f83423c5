"""What a run records for its researcher, read back from one tiny language-model run trained to
step 8, then resumed to step 12: TensorBoard events (scalars, texts, hparams), `run.json`'s
starts, the logged norms and rates, and the checkpoints kept (every 4 steps, and the best by eval
loss) that `mode=evaluate` can read."""
import datetime
import json
import os
import re
import socket

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from attn_jax import modes
from attn_jax.errors import ConfigError
from attn_jax.models.registry import num_params
from attn_jax.training import loop
from attn_jax.training.trained_workdir import load_trained, restore_checkpoint
from attn_jax.training.run_record import VERSIONED
from launcher import metric_lines, tiny_char_lm_config


def _config(num_steps: int):
  config = tiny_char_lm_config()
  config.sample.update(num_samples=1, num_tokens=8)
  config.train.update(num_steps=num_steps, best_metric='loss')
  return config


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('run'))
  loop.train_and_evaluate(_config(8), path)
  loop.train_and_evaluate(_config(12), path)  # resumed once
  return path


@pytest.fixture(scope='module')
def events(workdir):
  accumulator = EventAccumulator(f'{workdir}/events', size_guidance={'scalars': 0, 'tensors': 0})
  accumulator.Reload()
  return accumulator


def test_events_hold_the_parameter_count(workdir, events):
  counts = [event.value for event in events.Scalars('model/num_params')]
  assert counts and set(counts) == {num_params(load_trained(_config(12), workdir).params)}


def test_events_hold_the_language_models_samples(events):
  texts = events.Tensors('samples/1/text_summary')
  assert [text.step for text in texts] == [8, 12]  # each finished session's last evaluation
  assert texts[-1].tensor_proto.string_val[0].decode().startswith("prompt 'The ':\n\nThe ")


def test_events_hold_hparams_against_final_metrics(workdir):
  """One HParams run per finished session, with the settings it ran and its final metrics."""
  assert sorted(os.listdir(f'{workdir}/events'))[-2:] == ['hparams_step12', 'hparams_step8']
  events = EventAccumulator(f'{workdir}/events/hparams_step12')
  events.Reload()
  content = events.PluginTagToContent('hparams')
  start = plugin_data_pb2.HParamsPluginData.FromString(content['_hparams_/session_start_info'])
  hparams = start.session_start_info.hparams
  assert hparams['train.num_steps'].number_value == 12
  assert hparams['model.name'].string_value == 'transformer'
  experiment = plugin_data_pb2.HParamsPluginData.FromString(content['_hparams_/experiment'])
  metric_tags = {info.name.tag for info in experiment.experiment.metric_infos}
  assert metric_tags == {'eval/loss', 'eval/accuracy', 'eval/perplexity'}
  assert metric_tags <= set(events.Tags()['scalars'])


def test_run_json_keeps_one_record_per_start(workdir):
  with open(f'{workdir}/run.json') as f:
    record = json.load(f)
  starts = record.pop('starts')
  assert [start['step'] for start in starts] == [0, 8]
  assert record == starts[-1]  # the latest start's keys at the top level
  assert {'git_commit', 'device_kind', 'platform', 'device_count', 'process_count',
          'jax_version', 'flax_version', 'cpu', 'python'} <= set(record)
  times = [datetime.datetime.fromisoformat(start['time']) for start in starts]
  assert times[0] <= times[1] and times[1].tzinfo is not None
  for start in starts:
    assert start['versions'].keys() == set(VERSIONED)
    assert start['versions']['jax'] == jax.__version__
    assert len(start['git_commit']) == 40 and isinstance(start['git_dirty'], bool)
    assert start['host'] == socket.gethostname() and start['command']


def test_train_lines_and_events_carry_norms_rates_and_step_time(workdir, events):
  lines = metric_lines(workdir)
  assert [line['step'] for line in lines] == list(range(1, 13))
  for line in lines:
    assert line['grad_norm'] > 0 and line['param_norm'] > 0
  assert lines[0]['learning_rate'] == 0 and lines[-1]['learning_rate'] > 0  # warm-up from 0
  timed = [line for line in lines if line['steps_per_s'] > 0]  # not the compiling steps 1, 9
  assert len(timed) == 10
  for line in timed:
    assert line['step_ms'] == pytest.approx(1000 / line['steps_per_s'])
    assert line['tokens_per_s'] == pytest.approx(line['steps_per_s'] * 8 * 32)
  assert {'train/grad_norm', 'train/param_norm', 'train/step_ms', 'train/tokens_per_s',
          'train/learning_rate'} <= set(events.Tags()['scalars'])


def _evaluate_at(workdir, restore_step) -> dict:
  config = _config(12)
  config.update(mode='evaluate', restore_step=restore_step)
  modes.run(config, workdir)
  with open(f'{workdir}/eval_validation.json') as f:
    return json.load(f)


def test_evaluate_reads_the_checkpoint_of_a_chosen_step(workdir):
  evals = {line['step']: line['loss'] for line in metric_lines(workdir, 'eval')}
  assert sorted(evals) == [4, 8, 12]
  result = _evaluate_at(workdir, '4')
  assert result['step'] == 4 and result['loss'] == pytest.approx(evals[4], rel=1e-5)


def test_the_best_checkpoint_by_eval_loss_is_kept(workdir):
  evals = {line['step']: line['loss'] for line in metric_lines(workdir, 'eval')}
  best = min(evals, key=evals.get)
  assert os.listdir(f'{workdir}/best_checkpoint') == [str(best)]
  result = _evaluate_at(workdir, 'best')
  assert result['step'] == best and result['loss'] == pytest.approx(evals[best], rel=1e-5)


@pytest.mark.parametrize('step', ['5', 'newest'])
def test_a_step_without_checkpoint_is_an_error_listing_the_saved_ones(workdir, step):
  with pytest.raises(ConfigError, match=r'^restore_step: .*saved steps in .*: 4, 8, 12; best: '):
    _evaluate_at(workdir, step)


def test_warm_start_takes_the_parameters_with_a_fresh_optimizer(workdir, tmp_path):
  config = _config(2)
  config.data.seq_len = 64  # longer sequences: sinusoidal positions have no parameters
  config.sample.num_samples = 0
  config.train.update(init_from=workdir, init_step='8', learning_rate=1e-9, warmup_steps=0,
                      eval_every=2, checkpoint_every=2, best_metric='')
  loop.train_and_evaluate(config, str(tmp_path))
  started = load_trained(config, str(tmp_path))
  assert started.step == 2  # a new run: its own step count and optimizer
  source, _ = restore_checkpoint(workdir, '8')
  for got, want in zip(jax.tree.leaves(started.params), jax.tree.leaves(source['params'])):
    np.testing.assert_allclose(got, want, atol=1e-7)  # two steps of size 1e-9
  with open(tmp_path / 'run.json') as f:
    assert json.load(f)['starts'][0]['init_from'] == {'workdir': workdir, 'step': 8}


def test_warm_start_from_another_shape_lists_every_differing_parameter(workdir, tmp_path):
  config = _config(2)
  config.model.mlp_dim = 32
  config.train.init_from = workdir
  with pytest.raises(ConfigError) as error:
    loop.train_and_evaluate(config, str(tmp_path))
  assert error.value.setting == 'train.init_from'
  listed = re.findall(r'(\S+) (\([\d, ]+\)) here, (\([\d, ]+\)) there', error.value.message)
  assert listed and len(listed) == int(re.search(r'has (\d+) parameters', error.value.message)[1])
  assert all('64' in theirs and '64' not in ours for _, ours, theirs in listed)
