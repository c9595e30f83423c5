"""The sequence-length scaling study (docs/design.md §3.3): a tiny study end to end (cost, capability
curves, gradient flow, inference), the growth-exponent fit against synthetic power laws, failures
recorded per point or curve, reruns that keep measured rows and curves (and train a curve again
when its lengths change), the report's status line while the study runs, the settings' checks.
The tests about bookkeeping time and train nothing (`fake_study`: `fake_curves` stands in for
`capability.measure_curve`, whose training has its own tests in test_study_capability.py)."""
import csv
import importlib.util
import itertools
import math
import os
import re
import subprocess
import sys
import threading
import time
from typing import NamedTuple

import jax
import matplotlib.image
import numpy as np
import pytest

from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model
from attn_jax.studies import step_cost
from attn_jax.studies.seq_len_scaling import (capability, capability_report, gradient_flow,
                                              param_match, results_table, scaling_report,
                                              seq_len_scaling, settings)
from launcher import CONFIGS, REPO, launch


def _config_module():
  spec = importlib.util.spec_from_file_location(
      'seq_len_scaling_config', os.path.join(CONFIGS, 'seq_len_scaling.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


CONFIG_MODULE = _config_module()
# Two models at two short lengths (the config file's smoke settings: first_token curves trained
# on L=4, 8; the mqar frontier at width 4 over L=4, 8).
TINY = {**CONFIG_MODULE.SMOKE_TEST, 'models': 'lstm,transformer', 'lengths': '8,16'}
TARGET = TINY['study.target_params']
# The end-to-end study: the curves also evaluated at 4x their longest length, L=32 (not at 2x: L=16
# is a cost length, where results.csv's accuracy is NaN as no curve trains there; see
# test_results_accuracy_is_nan_where_first_token_was_not_trained).
END_TO_END = {**TINY, 'study.extrapolate': '4'}
CURVE = dict(train_lengths=(4, 8), eval_lengths=(4, 8, 32), seeds=(0, 1))
PLOTS = ('step_time.png', 'memory.png', 'accuracy.png', 'steps_to_solve.png', 'grad_flow.png',
         'inference.png', 'extrapolation_first_token.png', 'frontier.png')
COST_ONLY = {'study.tasks': '', 'study.inference_lengths': '', 'study.frontier_lengths': ''}


def study_config(**overrides):
  """experiments/configs/seq_len_scaling.py's config with `TINY` and `overrides` applied."""
  config = CONFIG_MODULE.get_config('cpu')
  config.update_from_flattened_dict({**TINY, **overrides})
  return config


def read_csv(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def plain_launch(workdir, overrides: dict) -> subprocess.CompletedProcess:
  """`python launch.py --workdir=DIR --config.K=V ...`: no --config, so the default experiment."""
  command = [sys.executable, os.path.join(REPO, 'launch.py'), f'--workdir={workdir}',
             *[f'--config.{k}={v}' for k, v in overrides.items()]]
  return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO,
                        env=dict(os.environ, JAX_PLATFORMS='cpu'), check=False)


def check_rows(lines):
  assert set(results_table.CONTRACT_COLUMNS) <= set(lines[0])
  assert sorted((l['model'], int(l['seq_len'])) for l in lines) == [
      ('lstm', 8), ('lstm', 16), ('transformer', 8), ('transformer', 16)]
  for line in lines:
    assert line['status'] == 'ok'
    assert int(line['batch_size']) == 4
    assert abs(int(line['num_params']) - TARGET) <= 0.1 * TARGET  # matched budget
    for column in ('compile_s', 'step_ms', 'tokens_per_s', 'peak_memory_bytes',
                   'flops_per_step'):
      assert float(line[column]) > 0, (column, line)
    assert float(line['tokens_per_s']) == pytest.approx(
        4 * int(line['seq_len']) / (float(line['step_ms']) / 1e3), rel=1e-4)
    if int(line['seq_len']) == 8:  # from the capability phase (first_token trained at L=8)...
      assert 0 <= float(line['accuracy']) <= 1
    else:  # ...which did not train at L=16
      assert line['accuracy'] == 'nan'
  flops = {(l['model'], int(l['seq_len'])): float(l['flops_per_step']) for l in lines}
  for model in ('lstm', 'transformer'):
    assert flops[model, 16] > 1.5 * flops[model, 8]


def check_report_and_plots(workdir):
  with open(os.path.join(workdir, 'report.md')) as f:
    report = f.read()
  assert f'jax {jax.__version__}' in report
  assert '- Status: complete.' in report
  assert '| model | seq_len |' in report and 'Growth exponents' in report
  for model in ('lstm', 'transformer'):
    assert f'| {model} | 8 |' in report and f'| {model} | 16 |' in report
    assert f'| first_token | {model} | 8 |' in report  # capability table
    assert f'| first_token | {model} | 32* |' in report  # evaluated only: marked
    assert f'- {model}: ' in report.split('## Reading: capability')[1]
  for section in ('## Capability', '### Fair comparison', '## Gradient flow',
                  '## Inference', '## Reading: capability', '## State-size frontier'):
    assert section in report
  for name in PLOTS:
    image = matplotlib.image.imread(os.path.join(workdir, name))
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.01  # not a blank canvas
    assert f'({name})' in report


def check_capability(workdir):
  """capability.csv: every column; one first_token curve per model, trained (one rate per
  curve, from the pilot) and read at every evaluation length; frontier.csv: one curve per model
  at width 4 over the frontier lengths."""
  assert list(read_csv(os.path.join(workdir, 'capability.csv'))[0]) == list(
      results_table.CAPABILITY_COLUMNS)
  rows = read_capability(workdir)
  for model in ('lstm', 'transformer'):
    mine = [r for r in rows if r['model'] == model]
    check_curve_rows(mine, **CURVE)
    assert len({r['learning_rate'] for r in mine}) == 1
  for row in rows:
    assert row['status'] == 'ok' and row['task'] == 'first_token'
    assert row['learning_rate'] in (1e-3, 1e-2) and row['learning_rates'] == '0.001/0.01'
    assert row['steps_trained'] in (2, 4) and row['num_layers'] == 2 and row['pilot_steps'] == 2
    assert 0 <= row['final_accuracy'] <= row['best_accuracy'] <= 1
    assert abs(row['num_params'] - TARGET) <= 0.1 * TARGET
  frontier = results_table.read_rows(os.path.join(workdir, 'frontier.csv'),
                                     results_table.CAPABILITY_COLUMNS)
  for model in ('lstm', 'transformer'):
    mine = [r for r in frontier if r['model'] == model]
    check_curve_rows(mine, (4, 8), (4, 8), (0,))
    assert {(r['task'], r['hidden_size'], r['status']) for r in mine} == {('mqar', 4, 'ok')}


@pytest.mark.slow  # two launches of every phase: about a minute on a quiet 2-core CPU
def test_tiny_study_end_to_end(tmp_path):
  """Plain `python launch.py` (the study is the default) with a tiny study writes every contract
  column, the capability, frontier, gradient-flow and inference CSVs, the report and the plots;
  the same command again keeps every measured row and curve."""
  result = plain_launch(tmp_path, END_TO_END)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = read_csv(tmp_path / 'results.csv')
  check_rows(lines)
  check_capability(tmp_path)
  capability_lines = read_csv(tmp_path / 'capability.csv')
  frontier_lines = read_csv(tmp_path / 'frontier.csv')
  flow = read_csv(tmp_path / 'grad_flow.csv')
  assert {(l['model'], l['stage']) for l in flow} == {
      (m, s) for m in ('lstm', 'transformer') for s in ('init', 'trained')}
  inference = read_csv(tmp_path / 'inference.csv')
  assert sorted((l['model'], int(l['context_len'])) for l in inference) == [
      ('lstm', 4), ('lstm', 8), ('transformer', 4), ('transformer', 8)]
  check_report_and_plots(tmp_path)

  again = plain_launch(tmp_path, END_TO_END)
  assert again.returncode == 0, again.stderr[-3000:]
  assert '0 cost point(s) measured' in again.stdout
  assert read_csv(tmp_path / 'results.csv') == lines
  assert read_csv(tmp_path / 'capability.csv') == capability_lines
  assert read_csv(tmp_path / 'frontier.csv') == frontier_lines
  assert read_csv(tmp_path / 'inference.csv') == inference


@pytest.mark.parametrize('exponent', [1.0, 2.0, 0.5])
def test_fit_recovers_a_known_exponent(exponent):
  rng = np.random.default_rng(0)
  lengths = np.array([64, 128, 256, 512, 1024, 2048])
  values = 3e-4 * lengths ** exponent * np.exp(rng.normal(0, 0.02, lengths.shape))
  fit = scaling_report.fit_power_law(lengths, values)
  assert fit.exponent == pytest.approx(exponent, abs=0.05)
  assert fit.num_points == len(lengths)
  assert fit(1024) == pytest.approx(values[4], rel=0.1)


def test_fit_leaves_out_failed_points_and_needs_two():
  fit = scaling_report.fit_power_law([64, 128, 256, 512], [1.0, 4.0, math.nan, 64.0])
  assert fit.exponent == pytest.approx(2.0) and fit.num_points == 3
  assert math.isnan(scaling_report.fit_power_law([64, 128], [1.0, math.nan]).exponent)


def test_fit_lengths_default_to_upper_half():
  assert scaling_report.fit_lengths([64, 128, 256, 512, 1024]) == (256, 512, 1024)
  assert scaling_report.fit_lengths([64, 128, 256, 512]) == (128, 256, 512)
  assert scaling_report.fit_lengths([64, 128, 256], min_length=128) == (128, 256)


def test_failed_points_are_recorded_and_the_sweep_goes_on(monkeypatch, tmp_path):
  """An out-of-memory point is final ('oom'); a compile failure is recorded as an error and
  measured again by the next run; the other rows are kept either way."""
  measure = step_cost.measure_step
  calls = []

  def failing(config, model, dataset, **kwargs):
    calls.append((config.model.name, config.data.seq_len))
    if config.data.seq_len == 16 and config.model.name == 'transformer':
      raise RuntimeError('RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.0GiB.')
    if config.data.seq_len == 16 and config.model.name == 'lstm':
      raise ValueError('compilation failed\nsecond line')
    return measure(config, model, dataset, **kwargs)

  monkeypatch.setattr(step_cost, 'measure_step', failing)
  config = study_config(**COST_ONLY)
  rows = {(r['model'], r['seq_len']): r for r in seq_len_scaling.run(config, str(tmp_path))}
  assert rows['transformer', 16]['status'] == 'oom'
  assert rows['lstm', 16]['status'] == 'error: ValueError: compilation failed'
  for point in (('lstm', 8), ('transformer', 8)):
    assert rows[point]['status'] == 'ok' and rows[point]['step_ms'] > 0
    assert math.isnan(rows[point]['accuracy'])  # no capability phase here
  for point in (('lstm', 16), ('transformer', 16)):
    assert math.isnan(rows[point]['step_ms']) and rows[point]['num_params'] > 0
  with open(tmp_path / 'report.md') as f:
    assert 'oom' in f.read()

  calls.clear()
  monkeypatch.setattr(step_cost, 'measure_step', measure)
  rows = {(r['model'], r['seq_len']): r for r in seq_len_scaling.run(config, str(tmp_path))}
  assert rows['lstm', 16]['status'] == 'ok'  # measured again
  assert rows['transformer', 16]['status'] == 'oom'  # kept
  assert calls == []  # the patched function was not called again


def test_rows_of_other_settings_are_not_mixed(tmp_path):
  settings.check_workdir(study_config(), str(tmp_path), has_rows=False)  # records them
  settings.check_workdir(study_config(models='lstm', lengths='32'), str(tmp_path), has_rows=True)
  with pytest.raises(ConfigError, match='other settings') as error:
    settings.check_workdir(study_config(**{'train.batch_size': 8}), str(tmp_path), has_rows=True)
  assert 'train.batch_size: 4 there, 8 now' in str(error.value)


@pytest.mark.parametrize('setting,value,message', [
    ('models', 'lstm,bert', "unknown model 'bert'"),
    ('models', ' , ', 'no model given'),
    ('lengths', '64,abc', 'distinct positive integers'),
    ('lengths', '64,0', 'distinct positive integers'),
    ('lengths', '64,64', 'distinct positive integers'),
])
def test_bad_models_and_lengths_name_the_setting(setting, value, message):
  parse = seq_len_scaling.parse_models if setting == 'models' else seq_len_scaling.parse_lengths
  with pytest.raises(ConfigError, match=message) as error:
    parse(value)
  assert error.value.setting == setting


def test_bad_lengths_exit_2_from_the_command_line(tmp_path):
  result = launch('seq_len_scaling.py', tmp_path, 'lengths=64,x')
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: lengths:'), result.stderr


def test_capability_lengths_per_task():
  tasks = ('first_token', 'mqar', 'parity')
  parse = seq_len_scaling.parse_task_lengths
  assert parse('64,16', tasks) == {t: (16, 64) for t in tasks}
  assert parse('mqar=8,16; parity=8; 16,64', tasks) == {
      'first_token': (16, 64), 'mqar': (8, 16), 'parity': (8,)}
  for bad, message in (('mqar=8', "no lengths for task 'first_token'"),
                       ('copy=8;16', "'copy' is not a task of study.tasks"),
                       ('mqar=8;mqar=16;32', "'mqar' is not a task of study.tasks, or named")):
    with pytest.raises(ConfigError, match=message) as error:
      parse(bad, tasks)
    assert error.value.setting == 'study.capability_lengths'


def fake_cost(monkeypatch):
  """Cost points without compiling or timing (for tests about the other phases' bookkeeping)."""
  monkeypatch.setattr(step_cost, 'measure_step', lambda *_, **__: dict(
      compile_s=1.0, step_ms=1.0, tokens_per_s=1.0, peak_memory_bytes=1.0,
      memory_source='compiler', flops_per_step=1.0))


def fake_curve(protocol, seeds, rates, outcome) -> capability.CurveResult:
  """A `capability.CurveResult` without training: seed s's member has, at evaluation length L,
  `outcome(L, s) = (steps_to_solve, final_accuracy)` (NaN steps: never solved) and is done at the
  last step a training length solved at (if every one did; else it spent `max_steps`). The last
  rate is the chosen one; with several, the pilot read each rate at the first seed's accuracies.
  No model or parameters: where the gradient-flow phase runs, its probe is faked too."""
  trained = np.isin(protocol.eval_lengths, protocol.train_lengths)

  def member(seed):
    steps, final = (np.array(v, float) for v in zip(*(outcome(l, seed)
                                                      for l in protocol.eval_lengths)))
    done = float(np.max(steps[trained]))  # NaN if a training length never solved
    curve = capability.Curve(steps, steps / 2, final.copy(), final, train_s=1.0, done_step=done,
                             steps_trained=protocol.max_steps if math.isnan(done) else int(done))
    return capability.Member(seed, rates[-1], None, None, curve)

  members = [member(s) for s in seeds]
  pilot = {r: members[0].curve.final_accuracy.copy() for r in rates} if len(rates) > 1 else {}
  return capability.CurveResult(members, pilot, rates[-1], compile_s=1.0, model=None,
                                kind='classification', init_params=None, params=None,
                                probe_batch=None)


class Call(NamedTuple):
  """What one `capability.measure_curve` call was asked to train."""
  model: str
  train_lengths: tuple
  eval_lengths: tuple
  hidden_size: int
  batch_size: int
  rates: tuple
  seeds: tuple
  train_data: tuple  # the (seed, length) keys of its training data


def fake_curves(monkeypatch, outcome) -> list[Call]:
  """Replaces `capability.measure_curve` by `fake_curve` of `outcome(point, L, seed)` (and
  `capability.compile_programs`, which the curves' setup calls ahead, by nothing) (`point`:
  the curve's training config; `outcome` may raise, failing the curve). Returns the list each
  call's `Call` is appended to (before `outcome` is asked)."""
  calls = []

  def measure_curve(point, model, info, protocol, *, seeds, rates, train_data, eval_data,
                    eval_batch_size=256, compiled=None, pool=None):
    del model, info, eval_data, eval_batch_size, compiled  # what a real one would train with
    assert pool._max_workers == 2  # pylint: disable=protected-access  # study.parallel_members
    calls.append(Call(point.model.name, protocol.train_lengths, protocol.eval_lengths,
                      point.model.hidden_size, point.train.batch_size, tuple(rates),
                      tuple(seeds), tuple(sorted(train_data))))
    return fake_curve(protocol, seeds, rates, lambda length, seed: outcome(point, length, seed))

  monkeypatch.setattr(capability, 'measure_curve', measure_curve)
  monkeypatch.setattr(capability, 'compile_programs', lambda *args: (None, 0.0))
  return calls


_PARAM_COUNTS = {}


def count_params_once(monkeypatch):
  """`param_match.count_params` remembered per (model config, task) across the session: every
  run of a study matches its widths again (a bisection of abstract inits, most of a faked
  run's time), and the counts cannot change between runs."""
  count = param_match.count_params

  def remembered(model_config, info):
    key = (model_config.to_json_best_effort(sort_keys=True), repr(info))
    if key not in _PARAM_COUNTS:
      _PARAM_COUNTS[key] = count(model_config, info)
    return _PARAM_COUNTS[key]

  monkeypatch.setattr(param_match, 'count_params', remembered)


def fake_study(monkeypatch, outcome) -> list[Call]:
  """A study that times and trains nothing: `fake_cost`, `fake_curves(monkeypatch, outcome)`
  (its calls returned), each parameter count made once (`count_params_once`)."""
  fake_cost(monkeypatch)
  count_params_once(monkeypatch)
  return fake_curves(monkeypatch, outcome)


def capability_config(**overrides):
  """`study_config` with first_token curves only: no frontier, inference or gradient flow."""
  return study_config(**{**COST_ONLY, 'study.tasks': 'first_token',
                         'study.capability_lengths': '8,16', 'study.gradient_flow_task': '',
                         **overrides})


def read_capability(workdir) -> list[dict]:
  return results_table.read_rows(os.path.join(workdir, 'capability.csv'),
                                 results_table.CAPABILITY_COLUMNS)


def check_curve_rows(rows, train_lengths, eval_lengths, seeds):
  """The rows of one curve (one task or width, one model): one per (evaluation length, seed),
  `trained` 1 exactly at `train_lengths`, every row naming them; accuracy_2x / _4x the final
  accuracy at 2L / 4L where that length was evaluated, else NaN."""
  assert sorted((r['seq_len'], r['seed']) for r in rows) == sorted(
      itertools.product(eval_lengths, seeds))
  assert [r['trained'] for r in rows] == [int(r['seq_len'] in train_lengths) for r in rows]
  assert {r['train_lengths'] for r in rows} == {'/'.join(map(str, train_lengths))}
  final = {(r['seq_len'], r['seed']): r['final_accuracy'] for r in rows}
  for r in rows:
    for times in (2, 4):
      np.testing.assert_equal(r[f'accuracy_{times}x'],
                              final.get((times * r['seq_len'], r['seed']), math.nan))


def test_curves_overlap_two_at_a_time_and_come_back_in_order():
  """`overlapped`: results in the order of the items whatever order they finish in; item
  i + 1 runs while item i does, never more than two at once; an item that raises raises at
  its turn, the others are unharmed."""
  lock, running, most = threading.Lock(), [0], [0]
  second_started = threading.Event()

  def run(item):
    with lock:
      running[0] += 1
      most[0] = max(most[0], running[0])
    if item == 1:
      second_started.set()
    if item == 0:  # the first finishes last: only once the second has started
      assert second_started.wait(timeout=10)
      time.sleep(0.05)
    with lock:
      running[0] -= 1
    if item == 2:
      raise ValueError('no data')
    return 10 * item

  results = seq_len_scaling.overlapped([0, 1, 2, 3], run)
  assert [next(results), next(results)] == [(0, 0), (1, 10)]
  with pytest.raises(ValueError, match='no data'):
    next(results)
  assert list(seq_len_scaling.overlapped([3, 4], run)) == [(3, 30), (4, 40)]
  assert most[0] == 2
  assert list(seq_len_scaling.overlapped([], run)) == []


def test_capability_curves_resume_and_failures_are_measured_again(monkeypatch, tmp_path):
  """Every curve has a row per (evaluation length, seed), `trained` 0 exactly at 2x and 4x its
  longest training length; a failed curve is recorded with its status in every row and trained
  again by the next run, a finished one is not; results.csv's accuracy is the first_token
  curve's mean final accuracy; the reading names the longest TRAINING length solved in every
  seed (the transformer also solves 32, which it was not trained on)."""
  failing = {'lstm'}

  def outcome(point, length, seed):
    if point.model.name in failing:
      raise ValueError('compilation failed')
    if point.model.name == 'transformer':
      return (4 - 2 * seed, 1.0) if length <= 32 else (math.nan, 0.5)
    return (2, 1.0) if length == 8 else (math.nan, 0.4)

  calls = fake_study(monkeypatch, outcome)
  config = capability_config()
  seq_len_scaling.run(config, str(tmp_path))
  assert [(c.model, c.train_lengths, c.eval_lengths) for c in calls] == [
      (m, (8, 16), (8, 16, 32, 64)) for m in ('lstm', 'transformer')]
  rows = read_capability(tmp_path)
  for model in ('lstm', 'transformer'):
    check_curve_rows([r for r in rows if r['model'] == model], (8, 16), (8, 16, 32, 64), (0, 1))
  assert {r['status'] for r in rows if r['model'] == 'lstm'} == {
      'error: ValueError: compilation failed'}
  chosen = {(r['seq_len'], r['seed']): (r['learning_rate'], r['steps_to_solve'], r['status'])
            for r in rows if r['model'] == 'transformer'}
  assert chosen[16, 0] == (1e-2, 4, 'ok') and chosen[16, 1] == (1e-2, 2, 'ok')
  assert chosen[32, 0] == (1e-2, 4, 'ok') and math.isnan(chosen[64, 0][1])

  calls.clear()
  failing.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert [(c.model, c.train_lengths) for c in calls] == [('lstm', (8, 16))]  # the failed curve
  rows = read_capability(tmp_path)
  assert len(rows) == 16 and all(r['status'] == 'ok' for r in rows)
  check_curve_rows([r for r in rows if r['model'] == 'lstm'], (8, 16), (8, 16, 32, 64), (0, 1))
  results = {(r['model'], r['seq_len']): r for r in
             results_table.read_rows(tmp_path / 'results.csv')}
  assert results['lstm', 8]['accuracy'] == 1.0  # mean final accuracy over the seeds
  assert results['lstm', 16]['accuracy'] == pytest.approx(0.4)
  with open(tmp_path / 'report.md') as f:
    reading = f.read().split('## Reading: capability')[1]
  assert '- lstm: longest length solved in every seed L=8' in reading
  assert '- transformer: longest length solved in every seed L=16' in reading

  calls.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert calls == []


def test_a_curve_is_trained_again_when_its_training_lengths_change(monkeypatch, tmp_path):
  """`study.capability_lengths` may change between runs in one workdir: a curve finished on other
  lengths (as many rows) is trained again and its rows replaced (on the same lengths it is not:
  test_capability_curves_resume_and_failures_are_measured_again)."""
  calls = fake_study(monkeypatch, lambda point, length, seed: (2, 1.0))
  run = lambda lengths: seq_len_scaling.run(
      capability_config(models='transformer', **{'study.capability_lengths': lengths}),
      str(tmp_path))
  run('8,16')
  run('8,32')
  assert [c.train_lengths for c in calls] == [(8, 16), (8, 32)]
  check_curve_rows(read_capability(tmp_path), (8, 32), (8, 32, 64, 128), (0, 1))


def test_results_accuracy_is_nan_where_first_token_was_not_trained(monkeypatch, tmp_path):
  """results.csv's accuracy is the mean final accuracy where the same (model, length) was trained
  on first_token, else NaN: not a curve's accuracy at a length it was only evaluated at."""
  fake_study(monkeypatch, lambda point, length, seed: (2, 1.0))
  rows = seq_len_scaling.run(capability_config(models='transformer', lengths='8,16', **{
      'study.capability_lengths': '8'}), str(tmp_path))  # evaluated at 8, 16 and 32
  accuracy = {r['seq_len']: r['accuracy'] for r in rows}
  assert accuracy[8] == 1.0 and math.isnan(accuracy[16])


class Interrupted(BaseException):
  """Stops a study as Ctrl-C would (not an `Exception`: no point records it as its failure)."""


def status(workdir) -> str:
  """report.md's status line."""
  with open(os.path.join(workdir, 'report.md')) as f:
    return next(line for line in f if line.startswith('- Status: '))


def test_the_report_written_before_the_study_ends_says_what_is_still_running(monkeypatch,
                                                                             tmp_path):
  """report.md is rewritten after every phase: a study interrupted in its second curve leaves the
  report of its cost phase, whose status names the phases still to run (only those this study
  runs), and the first curve's rows; the rerun trains the second curve only and says complete."""
  interrupt = {'transformer'}

  def outcome(point, length, seed):
    if point.model.name in interrupt:
      raise Interrupted()
    return 2, 1.0

  calls = fake_study(monkeypatch, outcome)
  config = capability_config()
  with pytest.raises(Interrupted):
    seq_len_scaling.run(config, str(tmp_path))
  assert len(calls) == 2
  assert status(tmp_path) == '- Status: still running: capability, gradient flow.\n'
  assert {r['model'] for r in read_capability(tmp_path)} == {'lstm'}

  calls.clear()
  interrupt.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert [c.model for c in calls] == ['transformer']
  assert status(tmp_path) == '- Status: complete.\n'


def test_the_report_within_a_phase_gives_its_progress_and_time_left(tmp_path):
  """Within a phase that measures points, the report (rewritten at most every `report_every_s`)
  says how many are done and about how long the rest take; after the phase, what follows."""
  config = capability_config()
  study = seq_len_scaling.StudyRun(config, str(tmp_path), seq_len_scaling.parse_plan(config),
                                   report_every_s=0)
  seen = []

  def phase(on_point):
    on_point(1, 4)
    seen.append(status(tmp_path))

  study.phase('capability', phase, points=True)
  assert re.fullmatch(r'- Status: still running: capability \(1 of 4 done, about \d+\.\d min '
                      r'left\); then gradient flow\.\n', seen[0]), seen
  assert status(tmp_path) == '- Status: still running: gradient flow.\n'


def test_a_crash_before_the_gradient_flow_phase_is_made_good(monkeypatch, tmp_path):
  """Killed after the capability phase, before gradient flow: the rerun trains the gradient-flow
  curves again (their parameters are not kept) and writes every model's gradient flow; the
  capability rows stay as they were."""
  calls = fake_study(monkeypatch, lambda point, length, seed: (4, 1.0))

  class Crash(Exception):
    pass

  def crash(*_):
    raise Crash()

  monkeypatch.setattr(gradient_flow, 'measure', crash)
  config = capability_config(models='lstm', **{'study.gradient_flow_task': 'first_token'})
  with pytest.raises(Crash):
    seq_len_scaling.run(config, str(tmp_path))
  untimed = lambda: [{k: v for k, v in r.items() if k != 'cell_s'}  # cell_s: wall time
                     for r in read_csv(tmp_path / 'capability.csv')]
  capability_rows = untimed()
  assert len(calls) == 1 and not (tmp_path / 'grad_flow.csv').exists()

  calls.clear()
  monkeypatch.setattr(gradient_flow, 'measure', lambda name, *_: gradient_flow.GradientFlow(
      [dict(model=name, seq_len=16, stage=s, distance=0, grad_norm=1.0)
       for s in ('init', 'trained')], []))
  seq_len_scaling.run(config, str(tmp_path))
  assert [(c.model, c.train_lengths) for c in calls] == [('lstm', (8, 16))]  # the probed curve
  assert untimed() == capability_rows
  flow = read_csv(tmp_path / 'grad_flow.csv')
  assert sorted((r['model'], r['stage']) for r in flow) == [('lstm', 'init'), ('lstm', 'trained')]
  calls.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert calls == []  # probed: nothing trained again


def test_reading_counts_only_lengths_solved_in_every_seed():
  row = lambda l, s, steps, acc: dict(task='t', model='gru', seq_len=l, seed=s, status='ok',
                                      steps_to_solve=steps, seconds_to_solve=1.0,
                                      final_accuracy=acc, state_bytes=512)
  rows = [row(16, 0, 100, 1.0), row(16, 1, 300, 1.0), row(32, 0, 200, 1.0),
          row(32, 1, math.nan, 0.7)]
  (line,) = capability_report.task_reading(rows, 't', ['gru'], cost_rows=[],
                                           inference_rows=[])
  assert 'longest length solved in every seed L=16' in line
  assert '200 [100..300] steps' in line
  assert 'at L=32: 1/2 seeds solved, final accuracy 0.850 [0.700..1.000] (guessing level -)' in line
  for r in rows[2:]:
    r['guessing_accuracy'] = 0.383  # the point's (every seed's) level
  (line,) = capability_report.task_reading(rows[2:], 't', ['gru'], cost_rows=[],
                                           inference_rows=[])
  assert 'solves no length in every seed' in line
  assert 'best mean final accuracy is 0.850 [0.700..1.000] at L=32 (guessing level 0.383)' in line


@pytest.mark.parametrize('setting,value,message', [
    ('study.tasks', 'first_token,sorting', "unknown task 'sorting'"),
    ('study.tasks', 'adding', "unknown task 'adding'"),
    ('study.learning_rates', '1e-3,x', 'distinct positive numbers'),
    ('study.learning_rates', '1e-3,1e-3', 'distinct positive numbers'),
    ('study.capability_lengths', '16,-1', 'distinct positive integers'),
    ('study.extrapolate', '2,x', 'distinct positive integers'),
    ('study.extrapolate', '1,2', 'multiples >= 2'),
    ('study.pilot_steps', 3, r'multiple of study.check_every=2 .*got 3'),
    ('study.pilot_steps', 6, r'at most study.max_steps=4, got 6'),
    ('study.pilot_steps', 0, r'positive .*got 0'),
])
def test_bad_capability_settings_name_the_setting(tmp_path, setting, value, message):
  with pytest.raises(ConfigError, match=message) as error:
    seq_len_scaling.run(study_config(**{setting: value}), str(tmp_path))
  assert error.value.setting == setting


def test_max_steps_must_be_a_multiple_of_check_every():
  with pytest.raises(ConfigError, match='multiple of study.check_every') as error:
    settings.validate(study_config(**{'study.max_steps': 5, 'study.check_every': 2}))
  assert error.value.setting == 'study.max_steps'


@pytest.mark.parametrize('overrides,lengths', [
    ({'study.capability_lengths': '4,8,16'}, 'study.capability_lengths'),
    ({'study.tasks': 'first_token,mqar', 'study.capability_lengths': 'mqar=4,8,16;4,8'},
     'study.capability_lengths'),
    ({'study.frontier_lengths': '4,8,16'}, 'study.frontier_lengths'),
])
def test_check_every_must_split_among_the_training_lengths(overrides, lengths):
  """Each check's steps are split equally among a curve's training lengths: 2 steps per check do
  not split among 3 lengths (of one task, or of the frontier), refused with the study's other
  settings (before anything runs); a task's own check_every that splits is accepted."""
  config = study_config(**overrides)
  with pytest.raises(ConfigError, match=f'among the 3 training lengths of {lengths}') as error:
    seq_len_scaling.parse_plan(config)
  assert error.value.setting == 'study.check_every'
  config.study.per_task = {t: dict(check_every=6, max_steps=6, pilot_steps=6)
                           for t in ('first_token', 'mqar')}
  seq_len_scaling.parse_plan(config)


def test_per_task_settings_apply_to_their_task_only():
  config = study_config(**{'study.tasks': 'first_token,mqar'})
  config.study.per_task = {'mqar': {'target_params': 9000, 'batch_size': 8, 'max_steps': 6,
                                    'lr_schedule': 'constant', 'num_classes': 5}}
  mqar = settings.per_task_config(config, 'mqar')
  assert (mqar.study.target_params, mqar.train.batch_size, mqar.study.max_steps,
          mqar.train.lr_schedule, mqar.data.num_classes) == (9000, 8, 6, 'constant', 5)
  assert settings.per_task_config(config, 'first_token') is config
  assert (config.study.target_params, config.train.batch_size) == (TARGET, TINY['train.batch_size'])
  settings.validate_per_task(config, seq_len_scaling.capability_tasks())


@pytest.mark.parametrize('per_task,setting,message', [
    ({'sorting': {'max_steps': 4}}, 'study.per_task.sorting', "'sorting' is not a task"),
    ({'mqar': {'hidden_size': 4}}, 'study.per_task.mqar.hidden_size', 'not a per-task setting'),
    ({'mqar': {'max_steps': 5, 'check_every': 2}}, 'study.max_steps', 'multiple of'),
    ({'mqar': {'pilot_steps': 3}}, 'study.pilot_steps', 'got 3'),
])
def test_bad_per_task_settings_name_the_setting(tmp_path, per_task, setting, message):
  config = study_config(**{'study.tasks': 'first_token,mqar'})
  config.study.per_task = per_task
  with pytest.raises(ConfigError, match=message) as error:
    seq_len_scaling.run(config, str(tmp_path))
  assert error.value.setting == setting


@pytest.mark.parametrize('variant', CONFIG_MODULE.VARIANTS)
def test_every_family_builds_with_its_variants_model_settings(variant):
  """The smoke runs train the transformer alone: this builds every family of each variant's model
  list with the variant's model settings (attention implementation, dtype), at a small width."""
  config = CONFIG_MODULE.get_config(variant)
  info = load_dataset(seq_len_scaling.data_config(config, 8), seed=0).info
  for model in seq_len_scaling.parse_models(config.models):
    model_config = seq_len_scaling.family_model_config(config, model, 2 * config.model.num_heads)
    assert build_model(model_config, info) is not None, model
