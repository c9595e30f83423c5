"""The sequence-length scaling study (docs/design.md §3.3): a tiny study end to end (cost, capability,
gradient flow, inference), the growth-exponent fit against synthetic power laws, failures recorded
per point, reruns that keep measured rows and points, the settings' checks."""
import csv
import importlib.util
import math
import os
import subprocess
import sys

import jax
import matplotlib.image
import numpy as np
import pytest

from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model
from attn_jax.studies import step_cost
from attn_jax.studies.seq_len_scaling import (capability, capability_report, gradient_flow,
                                              results_table, scaling_report, seq_len_scaling,
                                              settings)
from launcher import CONFIGS, REPO, launch


def _config_module():
  spec = importlib.util.spec_from_file_location(
      'seq_len_scaling_config', os.path.join(CONFIGS, 'seq_len_scaling.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


CONFIG_MODULE = _config_module()
# Two models at two short lengths (the config file's smoke settings); capability at L=8 only.
TINY = {**CONFIG_MODULE.SMOKE_TEST, 'models': 'lstm,transformer', 'lengths': '8,16'}
TARGET = TINY['study.target_params']
PLOTS = ('step_time.png', 'memory.png', 'accuracy.png', 'steps_to_solve.png', 'grad_flow.png',
         'inference.png')
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
    if int(line['seq_len']) == 8:  # from the capability phase (first_token at L=8)...
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
  assert '| model | seq_len |' in report and 'Growth exponents' in report
  for model in ('lstm', 'transformer'):
    assert f'| {model} | 8 |' in report and f'| {model} | 16 |' in report
    assert f'| first_token | {model} | 8 |' in report  # capability table
    assert f'- {model}: ' in report.split('## Reading: capability')[1]
  for section in ('## Capability', '### Fair comparison', '## Gradient flow',
                  '## Inference', '## Reading: capability'):
    assert section in report
  for name in PLOTS:
    image = matplotlib.image.imread(os.path.join(workdir, name))
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.01  # not a blank canvas
    assert f'({name})' in report


def check_capability(lines):
  assert list(lines[0]) == list(results_table.CAPABILITY_COLUMNS)
  assert sorted((l['model'], int(l['seed'])) for l in lines) == [
      ('lstm', 0), ('lstm', 1), ('transformer', 0), ('transformer', 1)]
  for line in lines:
    assert line['status'] == 'ok' and line['task'] == 'first_token' and int(line['seq_len']) == 8
    assert float(line['learning_rate']) in (1e-3, 1e-2)
    assert int(line['steps_trained']) in (2, 4) and int(line['num_layers']) == 2
    assert 0 <= float(line['final_accuracy']) <= float(line['best_accuracy']) <= 1
    assert abs(int(line['num_params']) - TARGET) <= 0.1 * TARGET


@pytest.mark.slow  # two launches of every phase: about a minute on a quiet 2-core CPU
def test_tiny_study_end_to_end(tmp_path):
  """Plain `python launch.py` (the study is the default) with a tiny study writes every contract
  column, the capability, gradient-flow and inference CSVs, the report and the plots; the same
  command again keeps every measured row and point."""
  result = plain_launch(tmp_path, TINY)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = read_csv(tmp_path / 'results.csv')
  check_rows(lines)
  capability_lines = read_csv(tmp_path / 'capability.csv')
  check_capability(capability_lines)
  flow = read_csv(tmp_path / 'grad_flow.csv')
  assert {(l['model'], l['stage']) for l in flow} == {
      (m, s) for m in ('lstm', 'transformer') for s in ('init', 'trained')}
  inference = read_csv(tmp_path / 'inference.csv')
  assert sorted((l['model'], int(l['context_len'])) for l in inference) == [
      ('lstm', 4), ('lstm', 8), ('transformer', 4), ('transformer', 8)]
  check_report_and_plots(tmp_path)

  again = plain_launch(tmp_path, TINY)
  assert again.returncode == 0, again.stderr[-3000:]
  assert '0 cost point(s) measured' in again.stdout
  assert read_csv(tmp_path / 'results.csv') == lines
  assert read_csv(tmp_path / 'capability.csv') == capability_lines
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


def fake_result(seeds, rates, steps_to_solve, final):
  """A `capability.PointResult` with the given per-member records (no training)."""
  shape = (len(seeds), len(rates))
  record = capability.MemberRecord(
      steps_to_solve=np.broadcast_to(np.asarray(steps_to_solve, float), shape).copy(),
      seconds_to_solve=np.ones(shape),
      best_accuracy=np.broadcast_to(np.asarray(final, float), shape).copy(),
      final_accuracy=np.broadcast_to(np.asarray(final, float), shape).copy(),
      steps_trained=np.full(shape, 4), compile_s=1.0, train_s=2.0)
  chosen = capability.choose_rates(record.best_accuracy, record.steps_to_solve)
  return capability.PointResult(record, chosen, {}, None, 'classification', None, None, None)


def test_capability_points_resume_and_failures_are_measured_again(monkeypatch, tmp_path):
  """A finished point is not trained again; a failed one is recorded with its status for every
  seed and trained again by the next run; results.csv's accuracy is the mean final accuracy of
  the first_token point; the reading names the longest length solved in every seed."""
  calls, failing = [], {'lstm'}

  def members(point, *, seeds, rates, **_):
    calls.append((point.model.name, point.data.seq_len))
    if point.model.name in failing:
      raise ValueError('compilation failed')
    solved = point.data.seq_len == 8 or point.model.name == 'transformer'
    return fake_result(seeds, rates, [[4, np.nan], [2, np.nan]] if solved else np.nan,
                       [[1.0, 0.5], [1.0, 0.2]] if solved else 0.4)

  monkeypatch.setattr(capability, 'measure_members', members)
  monkeypatch.setattr(step_cost, 'measure_step', lambda *_, **__: dict(
      compile_s=1.0, step_ms=1.0, tokens_per_s=1.0, peak_memory_bytes=1.0,
      memory_source='compiler', flops_per_step=1.0))
  config = study_config(**{**COST_ONLY, 'study.tasks': 'first_token',
                           'study.capability_lengths': '8,16', 'study.gradient_flow_task': ''})
  seq_len_scaling.run(config, str(tmp_path))
  rows = results_table.read_rows(tmp_path / 'capability.csv', results_table.CAPABILITY_COLUMNS)
  failed = [r for r in rows if r['status'] != 'ok']
  assert {(r['model'], r['seq_len'], r['seed']) for r in failed} == {
      ('lstm', l, s) for l in (8, 16) for s in (0, 1)}
  assert all(r['status'] == 'error: ValueError: compilation failed' for r in failed)
  chosen = {(r['model'], r['seq_len'], r['seed']): (r['learning_rate'], r['steps_to_solve'])
            for r in rows if r['status'] == 'ok'}
  assert chosen['transformer', 16, 0] == (1e-3, 4) and chosen['transformer', 16, 1] == (1e-3, 2)

  calls.clear()
  failing.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert sorted(calls) == [('lstm', 8), ('lstm', 16)]  # only the failed points again
  rows = results_table.read_rows(tmp_path / 'capability.csv', results_table.CAPABILITY_COLUMNS)
  assert len(rows) == 8 and all(r['status'] == 'ok' for r in rows)
  results = {(r['model'], r['seq_len']): r for r in
             results_table.read_rows(tmp_path / 'results.csv')}
  assert results['lstm', 8]['accuracy'] == 1.0  # mean final accuracy of the chosen members
  assert results['lstm', 16]['accuracy'] == pytest.approx(0.4)
  with open(tmp_path / 'report.md') as f:
    reading = f.read().split('## Reading: capability')[1]
  assert '- lstm: longest length solved in every seed L=8' in reading
  assert '- transformer: longest length solved in every seed L=16' in reading

  calls.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert calls == []


def test_a_crash_before_the_gradient_flow_phase_is_made_good(monkeypatch, tmp_path):
  """Killed after the capability phase, before gradient flow: the rerun trains the gradient-flow
  points again (their parameters are not kept) and writes every model's gradient flow; the
  capability rows stay as they were."""
  calls = []

  def members(point, *, seeds, rates, **_):
    calls.append((point.model.name, point.data.seq_len))
    return fake_result(seeds, rates, 4, 1.0)

  class Crash(Exception):
    pass

  def crash(*_):
    raise Crash()

  monkeypatch.setattr(capability, 'measure_members', members)
  monkeypatch.setattr(step_cost, 'measure_step', lambda *_, **__: dict(
      compile_s=1.0, step_ms=1.0, tokens_per_s=1.0, peak_memory_bytes=1.0,
      memory_source='compiler', flops_per_step=1.0))
  monkeypatch.setattr(gradient_flow, 'measure', crash)
  config = study_config(**{**COST_ONLY, 'models': 'lstm', 'study.tasks': 'first_token',
                           'study.capability_lengths': '8,16',
                           'study.gradient_flow_task': 'first_token'})
  with pytest.raises(Crash):
    seq_len_scaling.run(config, str(tmp_path))
  untimed = lambda: [{k: v for k, v in r.items() if k != 'cell_s'}  # cell_s: wall time
                     for r in read_csv(tmp_path / 'capability.csv')]
  capability_rows = untimed()
  assert len(calls) == 2 and not (tmp_path / 'grad_flow.csv').exists()

  calls.clear()
  monkeypatch.setattr(gradient_flow, 'measure', lambda name, *_: gradient_flow.GradientFlow(
      [dict(model=name, seq_len=16, stage=s, distance=0, grad_norm=1.0)
       for s in ('init', 'trained')], []))
  seq_len_scaling.run(config, str(tmp_path))
  assert calls == [('lstm', 16)]  # the gradient-flow point only
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
])
def test_bad_capability_settings_name_the_setting(tmp_path, setting, value, message):
  with pytest.raises(ConfigError, match=message) as error:
    seq_len_scaling.run(study_config(**{setting: value}), str(tmp_path))
  assert error.value.setting == setting


def test_max_steps_must_be_a_multiple_of_check_every():
  with pytest.raises(ConfigError, match='multiple of study.check_every') as error:
    settings.validate(study_config(**{'study.max_steps': 5, 'study.check_every': 2}))
  assert error.value.setting == 'study.max_steps'


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
