"""`python -m attn_jax.compare`: three tiny iris runs side by side (table of the final metrics and
of exactly the settings that differ, markdown and CSV, and a plot), and its error lines."""
import csv
import importlib.util
import os
import re

import pytest

from attn_jax import compare
from attn_jax.training import loop
from launcher import CONFIGS, metric_lines

# run name -> overrides of iris_mlp.py:mlp (8 steps, evaluated every 4)
RUNS = {'base': {}, 'fast': {'train.learning_rate': 0.05},
        'wide': {'train.learning_rate': 0.05, 'model.hidden_size': 64}}


def _iris_config(overrides: dict):
  spec = importlib.util.spec_from_file_location('iris', os.path.join(CONFIGS, 'iris_mlp.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config('mlp')
  config.train.update(num_steps=8, log_every=2, eval_every=4, checkpoint_every=8)
  config.update_from_flattened_dict(overrides)
  return config


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  parent = tmp_path_factory.mktemp('runs')
  for name, overrides in RUNS.items():
    loop.train_and_evaluate(_iris_config(overrides), str(parent / name))
  return parent


def test_three_runs_side_by_side(runs, tmp_path, capsys):
  assert compare.main([str(runs), '--out', str(tmp_path), '--metric', 'accuracy']) == 0
  with open(tmp_path / 'compare.csv') as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == ['run', 'model.hidden_size', 'train.learning_rate', 'step',
                           'eval_accuracy', 'eval_loss', 'train_loss']
  assert [(r['run'], r['model.hidden_size'], r['train.learning_rate']) for r in rows] == [
      ('base', '32', '0.01'), ('fast', '32', '0.05'), ('wide', '64', '0.05')]
  for row in rows:
    last_eval = metric_lines(runs / row['run'], 'eval')[-1]
    assert int(row['step']) == last_eval['step'] == 8
    assert float(row['eval_loss']) == pytest.approx(last_eval['loss'])
    assert float(row['train_loss']) == pytest.approx(metric_lines(runs / row['run'])[-1]['loss'])
  markdown = (tmp_path / 'compare.md').read_text()
  assert markdown.count('\n| ') == 4 and '| run | model.hidden_size |' in markdown
  assert markdown in capsys.readouterr().out
  assert (tmp_path / 'compare_eval_accuracy.png').stat().st_size > 10_000


@pytest.mark.parametrize('args, message', [
    (['{runs}/base'], r'^error: runs: found 1 run; accepted: two or more'),
    (['{runs}', '--metric', 'bleu'], r"^error: metric: no run logged 'bleu' on eval lines; "
                                     r'accepted: accuracy, loss$'),
    (['{runs}/nothing'], r'^error: runs: .*nothing is neither a workdir'),
    (['{runs}', '--split', 'test'], r"^error: compare: argument --split: invalid choice"),
])
def test_bad_input_is_one_error_line(runs, tmp_path, capsys, args, message):
  assert compare.main([a.format(runs=runs) for a in args] + ['--out', str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1
  assert re.match(message, err), err
