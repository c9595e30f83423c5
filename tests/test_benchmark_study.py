"""The benchmark's `study` variant (experiments/configs/benchmark.py:study): the sequence-length
study's shapes (its families at the widths its parameter budgets give them), a tiny run of them end
to end, and the per-CPU folders the benchmark's files go to."""
import csv
import math
import os

import pytest

from attn_jax.data.registry import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.studies.benchmark import benchmark, benchmark_report
from attn_jax.studies.seq_len_scaling import param_match, seq_len_scaling, settings
from attn_jax.host_cpu import cpu_model
from launcher import CONFIGS, load_config_file

STUDY_DEFAULT_FAMILIES = {'rnn', 'lstm', 'gru', 'mingru', 'transformer', 'linear_attention'}
TINY = {'study_shapes.lengths': '8', 'study_shapes.num_heads': 2, 'study_shapes.vocab_size': 11,
        'study_shapes.budgets.p25k.batch_size': 2,
        'study_shapes.budgets.p25k.widths': 'lstm=8,mingru=8,mamba=8,linear_attention=8',
        'study_shapes.budgets.p100k.widths': '', 'bench.warmup_steps': 1,
        'bench.timed_steps': 2, 'bench.matmul_size': 64}


def study_config(**overrides):
  """`benchmark.py:study` with flattened `overrides`."""
  config = load_config_file(os.path.join(CONFIGS, 'benchmark.py')).get_config('study')
  config.update_from_flattened_dict(overrides)
  return config


def test_the_study_variant_times_each_family_of_each_budget_at_each_length():
  config = study_config()
  shapes = benchmark.select_shapes(config)
  lengths = [int(n) for n in config.study_shapes.lengths.split(',')]
  assert lengths == [16, 64, 256, 1024]
  assert config.attention_impl == 'explicit'
  budgets = config.study_shapes.budgets.values()
  assert {b.batch_size for b in budgets} == {16, 64}
  for budget in budgets:
    widths = benchmark.parse_widths(budget.widths, 'widths')
    assert STUDY_DEFAULT_FAMILIES | {'mamba'} == set(widths)
    for family, width in widths.items():
      timed = [s for s in shapes if s.family == family and s.sizes.hidden_size == width
               and s.sizes.batch_size == budget.batch_size]
      assert [s.name for s in timed] == [f'{family}_w{width}_b{budget.batch_size}_L{n}'
                                         for n in lengths]
      assert [s.length for s in timed] == lengths
      assert all(s.sizes.num_layers == 2 for s in timed)
      if family in ('transformer', 'linear_attention'):
        assert (timed[0].sizes.num_heads, timed[0].sizes.mlp_dim) == (4, 4 * width)
      else:
        assert timed[0].sizes.features == width
  assert len(shapes) == 7 * 2 * 4  # the default variant's shapes are not among them


def _study_info(study, task: str):
  """The task's `TaskInfo` as the study's capability curves size their models: at the task's
  longest training length, its vocabulary pinned at the longest evaluation length."""
  plan = seq_len_scaling.parse_plan(study)
  train_lengths = plan.capability_lengths[task]
  longest = train_lengths[-1] * max(seq_len_scaling.multipliers_of(study), default=1)
  data = seq_len_scaling.curve_data_config(study, task, train_lengths[-1], longest)
  return load_dataset(data, seed=study.seed).info


@pytest.mark.parametrize('budget', ['p25k', 'p100k'])
def test_the_widths_are_the_ones_the_study_matches_to_the_budget(budget):
  b = study_config().study_shapes.budgets[budget]
  study = settings.per_task_config(
      load_config_file(os.path.join(CONFIGS, 'seq_len_scaling.py')).get_config('cpu'), b.task)
  assert (b.params, b.batch_size) == (study.study.target_params, study.train.batch_size)
  assert study.study.num_layers == study_config().study_shapes.num_layers
  info, target = _study_info(study, b.task), study.study.target_params
  for family, width in benchmark.parse_widths(b.widths, 'widths').items():
    model = seq_len_scaling.family_model_config(study, family, 1)
    step = param_match.width_step(model)
    miss = {w: abs(param_match.count_params(seq_len_scaling.family_model_config(
        study, family, w), info) - target) for w in (width - step, width, width + step)}
    assert miss[width] <= min(miss.values()), (family, width, miss)
    assert miss[width] <= study.study.param_tolerance * target, (family, width, miss)


WIDTHS = 'study_shapes.budgets.p25k.widths'


@pytest.mark.parametrize('setting,overrides,message', [
    (WIDTHS, {WIDTHS: 'lstm=0'}, "bad entry 'lstm=0'"),
    (WIDTHS, {WIDTHS: 'lstn=8'}, "bad entry 'lstn=8'"),
    (WIDTHS, {WIDTHS: 'lstm=8,lstm=9'}, "bad entry 'lstm=9'"),
    (WIDTHS, {WIDTHS: 'transformer=30'}, 'width 30 is not a multiple of'),
    ('study_shapes.budgets.p25k.batch_size', {'study_shapes.budgets.p25k.batch_size': 0},
     'accepted: a positive integer'),
    ('study_shapes.lengths', {'study_shapes.lengths': '16,x'}, 'comma-separated positive'),
    (None,  # the same width and batch in two budgets: refused at the second (either)
     {WIDTHS: 'rnn=72', 'study_shapes.budgets.p100k.widths': 'rnn=72',
      'study_shapes.budgets.p100k.batch_size': 16}, 'rnn at width 72 and batch 16 is in budget'),
    ('shapes', {'shapes': 'lstm_L64'}, 'unknown shape(s) lstm_L64'),
])
def test_a_bad_study_setting_is_refused_with_its_name(setting, overrides, message):
  with pytest.raises(ConfigError) as refused:
    benchmark.select_shapes(study_config(**overrides))
  assert refused.value.setting in ((setting,) if setting else (
      WIDTHS, 'study_shapes.budgets.p100k.widths'))
  assert message in refused.value.message


def test_a_tiny_study_run_times_every_family_and_names_those_without_a_peer(tmp_path):
  benchmark.run(study_config(**TINY), str(tmp_path))
  folder = benchmark_report.results_folder(str(tmp_path), cpu_model())
  with open(os.path.join(folder, 'results.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  families = ('lstm', 'mingru', 'mamba', 'linear_attention')
  assert [(r['shape'], r['kind']) for r in rows] == [
      (f'{family}_w8_b2_L8', kind) for family in families for kind in ('train', 'decode')]
  assert all(float(r['ours_ms']) > 0 and float(r['flops']) > 0 and float(r['load_avg']) >= 0
             for r in rows)
  assert {(r['batch_size'], r['hidden_size'], r['num_layers']) for r in rows} == {('2', '8', '2')}
  with open(os.path.join(folder, 'report.md')) as f:
    report = f.read()
  assert f'Platform: {cpu_model()}' in report
  assert 'Machine load as each case ended' in report
  if benchmark.HAS_TORCH:  # the two-layer LSTM ran against torch (same loss checked); no others
    assert [r['shape'] for r in rows if math.isfinite(float(r['torch_ms']))] == [
        'lstm_w8_b2_L8'] * 2
    assert 'no PyTorch peer runs for mingru, mamba, linear_attention' in report


@pytest.mark.parametrize('cpu,slug', [
    ('Intel(R) Xeon(R) Processor', 'intel-xeon-processor'),
    ('AMD EPYC 7B13 64-Core Processor', 'amd-epyc-7b13-64-core-processor'),
    ('Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz', 'intel-core-i7-8700-cpu-3-20ghz'),
    ('(R)', 'unknown-cpu')])
def test_the_cpu_slug_is_the_model_name_lower_case_without_marks(cpu, slug):
  assert benchmark_report.cpu_slug(cpu) == slug


def test_runs_on_two_cpus_into_one_workdir_keep_both_file_sets(tmp_path, monkeypatch):
  config = study_config(**{'study_shapes.lengths': '', 'bench.timed_steps': 1,
                           'bench.matmul_size': 64})
  cpus = {'Intel(R) Xeon(R) Processor': 'intel-xeon-processor', 'AMD EPYC 7B13': 'amd-epyc-7b13'}
  for cpu in cpus:
    for module in (benchmark, benchmark_report):
      monkeypatch.setattr(module, 'cpu_model', lambda cpu=cpu: cpu)
    benchmark.run(config, str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == sorted(cpus.values())
  for cpu, slug in cpus.items():
    assert benchmark_report.results_folder(str(tmp_path), cpu) == str(tmp_path / slug)
    with open(tmp_path / slug / 'report.md') as f:
      assert f'- Platform: {cpu} (vendor ' in f.read()
    assert os.path.exists(tmp_path / slug / 'results.csv')
