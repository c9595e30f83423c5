"""The benchmark's "where the time goes": parts of a train step derived from timed callables, the
report's line on what holds a slower step back, and the machine it names (model and vendor, read
from /proc/cpuinfo)."""
import os
import time

import numpy as np
import pytest

from attn_jax.studies.benchmark import benchmark, benchmark_report, step_profile
from attn_jax import host_cpu
from launcher import CONFIGS, load_config_file


def _sleeper(ms):
  return lambda: time.sleep(ms / 1e3)


def test_parts_are_the_differences_of_the_timed_phases():
  case = benchmark.Case('toy_L10', 'toy', 10, 'train', _sleeper(50), _sleeper(80), 0, 0.0,
                        phases={'forward': (_sleeper(10), _sleeper(20)),
                         'forward+backward': (_sleeper(40), _sleeper(60))})
  seconds = benchmark.time_case(case, warmup=1, timed=3, breakdown=True)
  assert seconds[('step', 'ours')] == pytest.approx(0.050, abs=8e-3)
  parts = {p['phase']: p for p in benchmark.phase_rows(case, seconds)}
  assert list(parts) == ['forward', 'backward', 'optimizer']
  for phase, ours, theirs in [('forward', 10, 20), ('backward', 30, 40), ('optimizer', 10, 20)]:
    assert parts[phase]['ours_ms'] == pytest.approx(ours, abs=8)
    assert parts[phase]['torch_ms'] == pytest.approx(theirs, abs=8)
    assert parts[phase]['ours_us_per_position'] == pytest.approx(
        1e3 * parts[phase]['ours_ms'] / 10)


def _turns(calls):
  """The calls with each run of one name (a switch-in before a timed step) counted once."""
  return [name for i, name in enumerate(calls) if not i or calls[i - 1] != name]


def test_the_step_and_its_parts_take_turns_in_one_alternation():
  calls = []
  record = lambda name: (lambda: calls.append(name))
  case = benchmark.Case('toy_L4', 'toy', 4, 'train', record('step'), record('torch step'), 0, 0.0,
                        phases={'forward': (record('forward'), record('torch forward')),
                                'forward+backward': (record('both'), record('torch both'))})
  benchmark.time_case(case, warmup=0, timed=2, breakdown=True)
  assert _turns(calls) == 2 * ['step', 'torch step', 'forward', 'torch forward', 'both',
                               'torch both']
  calls.clear()
  assert set(benchmark.time_case(case, warmup=0, timed=1, breakdown=False)) == {
      ('step', 'ours'), ('step', 'torch')}
  assert calls == ['step', 'torch step']  # the first turn has no step before it to time by


def test_short_steps_switch_in_before_each_timed_step_long_ones_do_not(monkeypatch):
  """A side whose step is short steps untimed for SWITCH_IN_S first, so that its timed step does
  not start while the other side's threads still spin; a long step is timed at once."""
  monkeypatch.setattr(benchmark, 'SWITCH_IN_BELOW_S', 0.01)
  monkeypatch.setattr(benchmark, 'SWITCH_IN_S', 0.02)
  calls = []

  def side(name, seconds):
    def step():
      calls.append((name, time.perf_counter()))
      time.sleep(seconds)
    return step
  seconds = benchmark.time_alternating({'short': side('short', 0.002),
                                        'long': side('long', 0.03)}, warmup=1, timed=2)
  assert seconds['short'] == pytest.approx(0.002, abs=2e-3)
  names = [name for name, _ in calls]
  assert _turns(names) == 3 * ['short', 'long']
  assert names.count('long') == 3  # timed at once, every turn
  turns = []  # the start times of each turn's calls of the short side
  for i, (name, start) in enumerate(calls):
    if name == 'short':
      if not i or names[i - 1] != 'short':
        turns.append([])
      turns[-1].append(start)
  assert len(turns[0]) == 1  # the first turn has no earlier step to judge by
  for turn in turns[1:]:  # then untimed steps for >= 20 ms before the timed one
    assert len(turn) >= 3 and turn[-1] - turn[0] >= 0.02


def test_without_the_peer_its_parts_are_missing():
  case = benchmark.Case('toy_L4', 'toy', 4, 'train', _sleeper(5), None, 0, 0.0,
                        phases={'forward': (_sleeper(1), None), 'forward+backward': (_sleeper(3), None)})
  parts = benchmark.phase_rows(case, benchmark.time_case(case, warmup=0, timed=1, breakdown=True))
  assert all(np.isnan(p['torch_ms']) and np.isnan(p['ratio']) for p in parts)
  assert all(np.isfinite(p['ours_ms']) for p in parts)


def test_holdback_names_the_parts_of_a_slower_train_step():
  rows = [{'shape': 'lstm_L64', 'kind': 'train', 'ours_ms': 60.0, 'torch_ms': 36.0,
           'ratio': 60 / 36},
          {'shape': 'gru_L64', 'kind': 'train', 'ours_ms': 30.0, 'torch_ms': 36.0,
           'ratio': 30 / 36},
          {'shape': 'lstm_L64', 'kind': 'decode', 'ours_ms': 2.0, 'torch_ms': 1.0, 'ratio': 2.0}]
  parts = [{'shape': 'lstm_L64', 'phase': 'forward', 'ours_ms': 20.0, 'torch_ms': 15.0},
           {'shape': 'lstm_L64', 'phase': 'backward', 'ours_ms': 35.0, 'torch_ms': 18.0}]
  op = lambda op_class, ms: step_profile.OpTime('x', 'dot', op_class, 'backward', True, '', ms,
                                                1.0)
  blank, line = benchmark_report.holdback_lines(
      rows, parts, {'lstm_L64': [op('matmul', 3.0), op('elementwise', 1.0)]})
  assert blank == ''
  assert line == ('- lstm_L64 train: 24.0 ms over torch (forward +5.0 ms, backward +17.0 ms); '
                  'project operation time: matmul 75%, elementwise 25%.')


@pytest.mark.parametrize('model,vendor,named', [
    ('AMD EPYC 7B13', 'AuthenticAMD', 'AMD EPYC 7B13 (vendor AuthenticAMD)'),
    ('Intel(R) Xeon(R) Processor', '', 'Intel(R) Xeon(R) Processor (vendor unknown)')])
def test_the_report_names_the_cpu_model_and_vendor(monkeypatch, model, vendor, named):
  monkeypatch.setattr(benchmark_report, 'cpu_model', lambda: model)
  monkeypatch.setattr(benchmark_report, 'cpu_vendor', lambda: vendor)
  config = load_config_file(os.path.join(CONFIGS, 'benchmark.py')).get_config()
  setup_section = benchmark_report._setup_section  # pylint: disable=protected-access
  lines = setup_section(config, 'PyTorch 2.13.0+cpu, 2 threads', {'ours': 100.0, 'torch': 90.0})
  platform_line = next(line for line in lines if line.startswith('- Platform:'))
  assert platform_line.startswith(f'- Platform: {named}, {os.cpu_count()} cores')
  assert ', jax ' in platform_line


def test_the_report_says_how_many_cores_the_run_could_use(monkeypatch):
  cores = benchmark_report._cores  # pylint: disable=protected-access
  monkeypatch.setattr(os, 'cpu_count', lambda: 2)
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0}, raising=False)
  assert cores() == '2 cores (1 of them for this run)'
  monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: {0, 1}, raising=False)
  assert cores() == '2 cores'


def test_the_cpu_model_and_vendor_are_read_from_cpuinfo(monkeypatch, tmp_path):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text('processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n'
                     'model\t\t: 167\nmodel name\t: Intel(R) Xeon(R) Processor\n')
  monkeypatch.setattr(host_cpu, 'open', lambda path: open(
      cpuinfo if path == '/proc/cpuinfo' else path), raising=False)
  assert (host_cpu.cpu_model(), host_cpu.cpu_vendor()) == ('Intel(R) Xeon(R) Processor',
                                                               'GenuineIntel')
