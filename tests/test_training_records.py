"""What a run records for its researcher: TensorBoard events (scalars, texts, hparams) and
`run.json`'s starts, read back from one tiny language-model run trained to step 8, then resumed
to step 12."""
import os

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from attn_jax.models.registry import num_params
from attn_jax.training import loop
from attn_jax.training.restore import load_trained
from launcher import tiny_char_lm_config


def _config(num_steps: int):
  config = tiny_char_lm_config()
  config.sample.update(num_samples=1, num_tokens=8)
  config.train.num_steps = num_steps
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
