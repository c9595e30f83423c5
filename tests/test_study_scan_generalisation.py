"""The SCAN generalisation study's grid, per-run configs and summary (the end-to-end run is the
config's smoke test in test_configs_run.py)."""
import importlib.util
import os

import pytest

from attn_jax.errors import ConfigError
from attn_jax.studies import scan_generalisation as study
from launcher import CONFIGS

_SPEC = importlib.util.spec_from_file_location(
    'scan_generalisation_config', os.path.join(CONFIGS, 'scan_generalisation.py'))
config_file = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(config_file)


def test_the_default_grid():
  assert study.grid(config_file.get_config()) == (
      ['length', 'addprim_jump'], ['transformer', 'transformer_rotary', 'lstm', 'mingru'],
      [0, 1])


@pytest.mark.parametrize('model', list(config_file.scan.VARIANTS))
def test_each_run_is_the_scan_variant_with_its_split_and_seed(model):
  single = study.run_config(config_file.get_config(), 'addprim_jump', model, 2)
  reference = config_file.scan.get_config(model)
  with reference.unlocked():
    reference.seed, reference.data.split = 2, 'addprim_jump'
  assert single.to_dict() == reference.to_dict()


@pytest.mark.parametrize('key,value', [('splits', 'length,nope'), ('splits', ''),
                                       ('models', 'gpt'), ('seeds', '0,x'), ('seeds', ' ')])
def test_a_bad_grid_names_its_setting(key, value):
  config = config_file.get_config()
  config.scan_generalisation[key] = value
  with pytest.raises(ConfigError) as error:
    study.grid(config)
  assert error.value.setting == f'scan_generalisation.{key}'


def test_summary_over_seeds_with_the_published_numbers():
  rows = [{'split': 'length', 'model': 'lstm', 'exact_match': em, 'shorter': 1 - em,
           'stopped_early': early} for em, early in ((0.1, 0.5), (0.2, 0.4), (0.6, 0.3))]
  rows.append({'split': 'addprim_jump', 'model': 'lstm', 'exact_match': 0.0, 'shorter': 0.0,
               'stopped_early': 0.0})
  length, jump = study.summarise(rows)
  assert length == {'split': 'length', 'model': 'lstm', 'seeds': 3, 'exact_match_mean': 0.3,
                    'exact_match_min': 0.1, 'exact_match_max': 0.6, 'shorter_mean': 0.7,
                    'stopped_early_mean': 0.4, 'published_best': 0.208,
                    'published_overall_best': 0.138}
  assert jump['seeds'] == 1 and jump['published_best'] == 0.012


@pytest.mark.slow  # trains and decodes twice: about 20 s on 2 quiet cores
def test_a_rerun_reuses_the_decoded_runs(tmp_path, monkeypatch):
  config = config_file.get_config()
  config.update_from_flattened_dict(dict(config_file.SMOKE_TEST, **{
      'train.num_steps': 1, 'scan_generalisation.max_examples': 8,
      'scan_generalisation.lstm.hidden_size': 8}))
  first = study.run(config, str(tmp_path))
  assert first[0]['seeds'] == 1 and 0 <= first[0]['exact_match_mean'] <= 1

  def no_decoding(*args, **kwargs):
    raise AssertionError('a measured run was decoded again')
  monkeypatch.setattr(study.translation, 'decode_split', no_decoding)
  assert study.run(config, str(tmp_path)) == first
  config.scan_generalisation.max_examples = 4  # another measurement: decoded again
  with pytest.raises(AssertionError, match='decoded again'):
    study.run(config, str(tmp_path))
