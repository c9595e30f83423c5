"""`train.profile_steps='A,B'`: a jax.profiler trace of those steps under `DIR/profile/`."""
import glob
import gzip
import json

import pytest

from attn_jax.errors import ConfigError
from attn_jax.training import loop
from attn_jax.training.profiling import parse_steps
from test_compare import _iris_config


def test_a_trace_of_the_chosen_steps_appears(tmp_path):
  loop.train_and_evaluate(_iris_config({'train.profile_steps': '2,4'}), str(tmp_path))
  runs = glob.glob(str(tmp_path / 'profile' / 'plugins' / 'profile' / '*'))
  assert len(runs) == 1  # one trace, stopped after step 4
  assert glob.glob(f'{runs[0]}/*.xplane.pb')  # TensorBoard's profile plugin
  with gzip.open(f'{runs[0]}/perfetto_trace.json.gz') as f:
    events = json.load(f)['traceEvents']
  assert any('Execute' in str(event.get('name')) for event in events)  # the device ran steps


@pytest.mark.parametrize('setting', ['4,2', '3', '2,9', 'a,b', '-1,2'])
def test_bad_ranges_are_refused(setting):
  with pytest.raises(ConfigError, match=r'^train.profile_steps: accepted: empty \(off\) or "A,B"'):
    parse_steps(setting, num_steps=8)


def test_ranges_read():
  assert parse_steps('', 8) is None and parse_steps('0,8', 8) == (0, 8)
  assert parse_steps('10, 15', 20) == (10, 15)
