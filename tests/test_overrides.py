"""Settings on the command line: a key the config lacks, and one the run would not read, each get
one line (the launch.py path end to end: tests/test_launch_errors.py)."""
import os

import ml_collections
import pytest

from attn_jax import config_base, overrides
from attn_jax.data import data_config_defaults
from attn_jax.data.registry import DATASET_NAMES, settings_read
from attn_jax.errors import ConfigError
from attn_jax.models.registry import MODEL_NAMES, READS, model_config_defaults
from launcher import CONFIGS, launch_module

launch = launch_module()

CONFIG = ml_collections.ConfigDict(dict(
    seed=0, mode='train', train=dict(num_steps=1, batch_size=2),
    model=dict(name='mlp', hidden_size=3, sub=dict(depth=1))))


def test_given_keys():
  assert overrides.given_keys(['--config=x.py', '--config.a.b=1', '--config.c', '2',
                               '--noconfig.d.e', '--workdir=w', 'config.f=3']) == [
                                   'a.b', 'c', 'd.e']


@pytest.mark.parametrize('key,line', [
    ('train.num_steps', None),
    ('model.sub.depth', None),
    ('trian.num_steps', 'no such setting; did you mean --config.train.num_steps?'),
    ('model.hidden_sizee', 'no such setting; did you mean --config.model.hidden_size?'),
    ('modle.sub.depth', 'no such setting; did you mean --config.model.sub.depth?'),
    ('mode.hidden_size', 'no such setting; did you mean --config.model.hidden_size?'),
    ('eval.every', 'no such setting; this config has no section eval; its sections: model, train'),
    ('model.sub.width', 'no such setting; the settings in model.sub: depth'),
    ('model.widht', 'no such setting; the settings in model: hidden_size, name, sub.*'),
    ('zzz', 'no such setting; the settings: mode, seed, model.*, train.*'),
    ('seed.x', 'no such setting; seed is a setting, not a section'),
])
def test_unknown_setting(key, line):
  expected = None if line is None else f'--config.{key}: {line}'
  assert overrides.unknown_setting(CONFIG, key) == expected


def test_launch_describes_the_first_unknown_override_of_the_config_file():
  path = os.path.join(CONFIGS, 'benchmark.py')
  assert launch.unknown_override(['launch.py', f'--config={path}', '--config.seed=1',
                                  '--config.train.num_steps=3', '--config.nope=1']) == (
      '--config.train.num_steps: no such setting; this config has no section train; its '
      'sections: bench, recurrent, study_shapes, transformer')
  assert launch.unknown_override(['launch.py', f'--config={path}', '--config.seed=1']) is None
  assert launch.unknown_override(['launch.py', '--config=/no/such.py', '--config.x=1']) is None


def test_workdir_problem(tmp_path):
  path = tmp_path / 'file'
  path.write_text('')
  expected = (f'workdir: {path} is a file, not a folder; accepted: a folder, or a path where one '
              'can be made')
  assert launch.workdir_problem(str(path)) == expected
  assert launch.workdir_problem(str(path / 'a' / 'b')) == expected
  assert launch.workdir_problem(str(tmp_path / 'new' / 'run')) is None


def test_a_given_setting_the_model_or_dataset_does_not_read_is_refused():
  config = config_base.base_config(model=dict(name='logreg'), data=dict(name='iris'))
  config_base.check_read(config, ['train.num_steps', 'model.hidden_size', 'data.build_seed',
                                  'model.name', 'data.name', 'seed', 'sample.prompt'])
  with pytest.raises(ConfigError) as refused:
    config_base.check_read(config, ['model.num_layers'])
  assert str(refused.value) == ("model.num_layers: the model 'logreg' does not read it; it reads: "
                                'model.dtype, model.hidden_size')
  with pytest.raises(ConfigError, match="^data.seq_len: the dataset 'iris' does not read it"):
    config_base.check_read(config, ['data.seq_len'])
  config.model.name = 'lstm'
  with pytest.raises(ConfigError, match="^model.num_heads: the model 'lstm' does not read it"):
    config_base.check_read(config, ['model.num_heads'])


def test_a_shared_setting_the_dataset_does_not_read_is_one_warning(capsys):
  config = config_base.base_config(data=dict(name='copy'))
  config_base.check_read(config, ['data.data_dir', 'data.copy_length'])
  warning = capsys.readouterr().err.splitlines()
  assert len(warning) == 1 and warning[0].startswith(
      "warning: data.data_dir: the dataset 'copy' does not read it; it reads: data.build_seed, ")
  config_base.check_read(config_base.base_config(data=dict(name='iris')), ['data.data_dir'])
  assert capsys.readouterr().err == ''


def test_studies_and_config_file_defaults_are_not_checked():
  study = config_base.base_config(data=dict(name='iris'))
  study.experiment = 'seq_len_scaling'
  config_base.check_read(study, ['data.seq_len'])
  config_base.check_read(config_base.base_config(data=dict(name='iris', seq_len=7)), [])


def test_every_model_and_dataset_declares_what_it_reads():
  assert sorted(READS) == sorted(MODEL_NAMES)
  for keys in READS.values():
    assert set(keys) <= set(model_config_defaults())
  for name in (*DATASET_NAMES, 'mnist'):
    assert set(settings_read(name)) <= set(data_config_defaults()), name
