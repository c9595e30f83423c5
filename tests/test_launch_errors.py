"""Each kind of bad input ends with exit status 2 and one `error:` line naming the setting."""
import pytest

from launcher import launch

CASES = {
    'unknown model': ('char_lm.py:lstm', ['model.name=nope'], 'model.name'),
    'unknown dataset': ('char_lm.py:lstm', ['data.name=no_such_dataset_xyz'], 'data.name'),
    'missing text file': ('char_lm.py:lstm', ['data.path=/no/such/file.txt'], 'data.path'),
    'negative learning rate': ('char_lm.py:lstm', ['train.learning_rate=-1.0'],
                               'train.learning_rate'),
    'zero steps': ('iris_mlp.py:mlp', ['train.num_steps=0'], 'train.num_steps'),
    'unknown schedule': ('iris_mlp.py:mlp', ['train.lr_schedule=step'], 'train.lr_schedule'),
    'unknown mode': ('iris_mlp.py:mlp', ['mode=fly'], 'mode'),
    'unknown experiment': ('iris_mlp.py:mlp', ['experiment=nope'], 'experiment'),
    'misspelled section': ('iris_mlp.py:mlp', ['trian.num_steps=3'],
                           'error: --config.trian.num_steps: no such setting; did you mean '
                           '--config.train.num_steps?'),
    'data setting the dataset does not read': (
        'iris_mlp.py:mlp', ['data.seq_len=7'], "error: data.seq_len: the dataset 'iris' does not "
        'read it; it reads: data.build_seed, data.data_dir, data.eval_split, data.name'),
    'unknown variant': ('iris_mlp.py:nope', [], 'config'),
    'missing config file': ('no_such_config.py', [], 'config'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_input_exits_2_with_one_error_line(tmp_path, case):
  config, overrides, setting = CASES[case]
  result = launch(config, tmp_path, *overrides, timeout=120)
  assert result.returncode == 2, (result.stdout[-1000:], result.stderr[-2000:])
  assert 'Traceback' not in result.stderr
  lines = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(lines) == 1, result.stderr[-2000:]
  assert setting in lines[0]


def test_batch_not_divisible_by_device_count(tmp_path):
  result = launch('iris_mlp.py:mlp', tmp_path, 'train.batch_size=6', devices=4, timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1].startswith('error: train.batch_size: 6 is not')
  assert 'Traceback' not in result.stderr


def test_a_workdir_that_is_a_file(tmp_path):
  path = tmp_path / 'some_file'
  path.write_text('')
  result = launch('iris_mlp.py:mlp', path, timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines() == [
      f'error: workdir: {path} is a file, not a folder; accepted: a folder, or a path where one '
      'can be made']
