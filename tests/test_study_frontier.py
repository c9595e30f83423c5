"""The sequence-length study's state-size frontier (phase 2b) and its published anchors: which
curves it trains (every model at every width, one curve over the frontier lengths each, at the
task's own settings), what it writes, that a rerun trains nothing again (unless the lengths
change), the reading's smallest solving state per length, and the anchors' verdicts."""
import math

import matplotlib.image
import pytest

from attn_jax.errors import ConfigError
from attn_jax.studies.seq_len_scaling import (frontier_report, published_anchors, results_table,
                                              seq_len_scaling)
from test_study_seq_len_scaling import COST_ONLY, check_curve_rows, fake_study, study_config

FRONTIER = {**COST_ONLY, 'models': 'rnn,transformer', 'study.frontier_lengths': '8,16',
            'study.frontier_widths': '4,8,16', 'study.frontier_seeds': 2}
MODELS, WIDTHS = ('rnn', 'transformer'), (4, 8, 16)


def frontier_outcome(point, length, seed):
  """The transformer solves L=8 from width 4 up and L=16 from width 8 up; the RNN nowhere (its
  accuracy rises with the width)."""
  del seed
  width = point.model.hidden_size
  if point.model.name == 'transformer' and width >= length / 2:
    return 4, 1.0
  return math.nan, width / 32


def test_frontier_trains_every_width_once_and_reads_the_smallest_solving_state(monkeypatch,
                                                                                tmp_path):
  """One curve per (model, width) over the frontier lengths, at mqar's own batch and rates; a row
  per (length, seed) with the state at that length; the reading per length; a rerun trains
  nothing, new frontier lengths train every curve again."""
  calls = fake_study(monkeypatch, frontier_outcome)
  config = study_config(**FRONTIER)
  config.study.per_task = {'mqar': {'batch_size': 8, 'learning_rates': '3e-3'}}
  seq_len_scaling.run(config, str(tmp_path))
  seeds, lengths = (0, 1), (8, 16)
  assert sorted(calls) == sorted(  # no extrapolation: evaluated at the training lengths only
      (m, lengths, lengths, w, 8, (3e-3,), seeds, tuple((s, l) for s in seeds for l in lengths))
      for m in MODELS for w in WIDTHS)
  rows = results_table.read_rows(tmp_path / 'frontier.csv', results_table.CAPABILITY_COLUMNS)
  assert {(r['task'], r['status']) for r in rows} == {('mqar', 'ok')}
  for model in MODELS:
    for width in WIDTHS:
      check_curve_rows([r for r in rows if (r['model'], r['hidden_size']) == (model, width)],
                       lengths, lengths, seeds)
  state = {(r['model'], r['hidden_size'], r['seq_len']): r['state_bytes'] for r in rows}
  for model in MODELS:  # the state grows with the width...
    assert state[model, 4, 16] < state[model, 8, 16] < state[model, 16, 16]
  assert state['rnn', 8, 8] == state['rnn', 8, 16]  # ...a recurrent state at any length; the KV
  # cache grows with it: 2 layers x (a key and a value) x 16 positions x width 4 x 4 bytes.
  assert state['transformer', 4, 16] == 2 * state['transformer', 4, 8] == 2 * 2 * 16 * 4 * 4
  with open(tmp_path / 'report.md') as f:
    report = f.read()
  assert '## State-size frontier' in report and '(frontier.png)' in report
  assert '- L=8, `transformer`: solves from width 4 (512 B of state per sequence) up.' in report
  assert '- L=16, `transformer`: solves from width 8 (2.0 KiB of state per sequence) up.' in report
  assert '- L=16, `rnn`: solves at none of widths 4-16' in report
  assert 'best: 0.500 at width 16' in report
  assert '## Published anchors' in report
  image = matplotlib.image.imread(tmp_path / 'frontier.png')
  assert image[..., :3].std() > 0.01

  calls.clear()
  seq_len_scaling.run(config, str(tmp_path))
  assert calls == []  # every frontier curve was final
  config.study.frontier_lengths = '8,32'  # may change in a workdir: every curve trains again
  seq_len_scaling.run(config, str(tmp_path))
  assert sorted((c.model, c.hidden_size, c.train_lengths) for c in calls) == [
      (m, w, (8, 32)) for m in MODELS for w in WIDTHS]
  rows = results_table.read_rows(tmp_path / 'frontier.csv', results_table.CAPABILITY_COLUMNS)
  assert {(r['seq_len'], r['train_lengths']) for r in rows} == {(8, '8/32'), (32, '8/32')}


def test_frontier_widths_must_suit_the_attention_heads():
  with pytest.raises(ConfigError, match='multiples of model.num_heads=4') as error:
    seq_len_scaling.parse_frontier(study_config(**{**FRONTIER, 'study.frontier_widths': '6,8'}),
                                   ('rnn', 'transformer'))
  assert error.value.setting == 'study.frontier_widths'
  task, lengths, widths = seq_len_scaling.parse_frontier(
      study_config(**{**FRONTIER, 'study.frontier_widths': '6,8'}), ('rnn',))
  assert (task, lengths, widths) == ('mqar', (8, 16), (6, 8))
  with pytest.raises(ConfigError) as error:
    seq_len_scaling.parse_frontier(
        study_config(**{**FRONTIER, 'study.frontier_task': 'mqar,parity'}), ('rnn',))
  assert error.value.setting == 'study.frontier_task'


def _row(task, model, length, seed, solved, final=1.0, **extra):
  return {**dict(task=task, model=model, seq_len=length, seed=seed, status='ok',
                 steps_to_solve=100 if solved else math.nan, final_accuracy=final,
                 accuracy_4x=math.nan, hidden_size=8, state_bytes=64), **extra}


def test_anchor_verdicts_follow_the_rows():
  parity = lambda model, four, final=1.0: [
      _row('parity', model, 8, s, final == 1.0, final=final, accuracy_4x=four) for s in (0, 1)]
  rows = parity('rnn', 1.0) + parity('lstm', 0.98) + parity('transformer', 0.6, final=0.97)
  finding = published_anchors.deletang_parity(rows, [])
  assert finding.agrees and 'transformer at 4L: 0.60 (L=8)' in finding.text
  rows = parity('rnn', 0.7) + parity('lstm', 0.98) + parity('transformer', 0.6)
  assert published_anchors.deletang_parity(rows, []).agrees is False
  rows = parity('rnn', 1.0) + parity('transformer', 0.6, final=0.8)  # not learned at L
  finding = published_anchors.deletang_parity(rows, [])
  assert finding.agrees is None  # measured, but whether it extrapolates cannot be read
  assert ('transformer did not learn its longest training length (mean accuracy 0.80 at L=8)'
          in finding.text)
  assert '**undecided**' in '\n'.join(published_anchors.anchor_lines(rows, []))
  assert published_anchors.deletang_parity(parity('transformer', 0.6), []) is None  # no RNN

  mqar = lambda model, solved: [_row('mqar', model, l, s, l in solved) for l in (16, 64)
                                for s in (0, 1)]
  rows = mqar('transformer', (16, 64)) + mqar('lstm', (16,))
  assert published_anchors.zoology_mqar(rows, []).agrees
  rows = mqar('transformer', (16,)) + mqar('lstm', (16,))
  finding = published_anchors.zoology_mqar(rows, [])
  assert not finding.agrees and 'transformer solves L = 16' in finding.text
  assert published_anchors.grazzi_parity(mqar('lstm', ()), []) is None  # not measured

  frontier = lambda model, *accuracy: [
      _row('mqar', model, 64, 0, False, final=a, hidden_size=w) for w, a in zip((8, 64), accuracy)]
  rows = frontier('transformer', 0.17, 0.96) + frontier('rnn', 0.101, 0.100)  # rnn flat
  assert published_anchors.recall_state_tradeoff([], rows).agrees
  rows = frontier('transformer', 0.17, 0.96) + frontier('gru', 0.30, 0.20)
  finding = published_anchors.recall_state_tradeoff([], rows)
  assert finding.agrees is False and 'gru 0.30 -> 0.20 from width 8 to 64' in finding.text

  lines = published_anchors.anchor_lines(mqar('transformer', (16,)) + mqar('lstm', (16,)), [])
  assert sum('**disagrees**' in l for l in lines) == 1
  assert sum('not measured in this run' in l for l in lines) == len(published_anchors.ANCHORS) - 1


def test_frontier_table_lists_failures():
  rows = [_row('mqar', 'gru', 64, 0, False, final=0.3, num_params=900, guessing_accuracy=0.15),
          dict(_row('mqar', 'gru', 64, 1, False), status='oom', hidden_size=128)]
  table = frontier_report.frontier_table(rows, ['gru'])
  assert table[2] == '| gru | 64 | 8 | 900 | 64 B | 0/1 | - | 0.300 | 0.150 |'
  assert table[3].startswith('| gru | 64 | 128 | | | seed 1: oom')


def test_the_capability_curves_of_the_frontier_lengths_are_frontier_points(monkeypatch, tmp_path):
  """Where the capability phase trained the frontier's task on the frontier's lengths, each
  family's curve at its matched width is a frontier point (every seed) and is not trained
  again, even when a frontier width equals it; curves of other lengths are not points."""
  calls = fake_study(monkeypatch, frontier_outcome)
  config = study_config(**{**FRONTIER, 'study.tasks': 'mqar', 'study.frontier_lengths': '',
                           'study.capability_lengths': 'mqar=8,16', 'study.frontier_seeds': 1})
  config.study.per_task = {'mqar': {'batch_size': 8, 'learning_rates': '3e-3', 'seeds': 2}}
  seq_len_scaling.run(config, str(tmp_path))
  capability_rows = results_table.read_rows(tmp_path / 'capability.csv',
                                            results_table.CAPABILITY_COLUMNS)
  matched = {r['model']: r['hidden_size'] for r in capability_rows}
  assert matched['rnn'] not in (4, 8) and matched['transformer'] not in (4, 8)

  calls.clear()
  config.study.frontier_lengths = '8,16'
  config.study.frontier_widths = f'4,8,{matched["transformer"]}'
  seq_len_scaling.run(config, str(tmp_path))
  assert sorted((c.model, c.hidden_size, c.seeds) for c in calls) == sorted(
      [(m, w, (0,)) for m in MODELS for w in (4, 8)] + [('rnn', matched['transformer'], (0,))])
  rows = results_table.read_rows(tmp_path / 'frontier.csv', results_table.CAPABILITY_COLUMNS)
  assert ('transformer', matched['transformer']) not in {(r['model'], r['hidden_size'])
                                                         for r in rows}
  with open(tmp_path / 'report.md') as f:
    report = f.read()
  for model in MODELS:  # the matched width's line: both capability seeds
    width = matched[model]
    line, = [l for l in report.split('\n') if l.startswith(f'| {model} | 16 | {width} |')]
    assert f'| {2 if model == "transformer" else 0}/2 |' in line
  assert '- L=16, `transformer`: solves from width 8 (2.0 KiB of state per sequence) up.' in report
  assert f'- L=16, `rnn`: solves at none of widths 4-{matched["rnn"]}' in report

  calls.clear()  # other capability lengths: not points of the frontier; its widths train again
  config.study.capability_lengths = 'mqar=8,32'
  seq_len_scaling.run(config, str(tmp_path))
  assert ('transformer', matched['transformer']) in {(c.model, c.hidden_size) for c in calls}
