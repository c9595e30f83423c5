"""Published results beside the sequence-length study's own: each anchor states what a paper found
and what this run's rows (`capability.csv`, `frontier.csv`) say about the same question, with
"agrees", "disagrees" or "undecided" (the rows measured the question but cannot answer it)
decided from the numbers, not written in advance.

A family solves a (task, length) when every seed's chosen member reached the solve accuracy
(`capability_report.solved_everywhere`). The anchors read the lengths each curve was trained on;
extrapolation (Deletang et al.) reads a curve's accuracy at 4x its longest training length.
"""
import math
from typing import Callable, NamedTuple, Sequence

import numpy as np

from attn_jax.studies.seq_len_scaling import frontier_report
from attn_jax.studies.seq_len_scaling.capability_report import (seeds_by_point,
                                                             solved_everywhere, trained)

RECURRENT = ('rnn', 'lstm', 'gru')
# Held-out accuracy at 4L that counts as "extrapolates" (parity: 0.5 is chance), and the mean
# accuracy at L from which a family counts as having learned the task there.
EXTRAPOLATES = 0.9
LEARNED = 0.95
# Accuracy differences smaller than this read as equal: about two binomial standard errors of a
# held-out accuracy near the mqar guessing level (256 sequences x 16 queries at L = 64: 0.005).
NOISE = 0.01
VERDICTS = {True: 'agrees', False: 'disagrees', None: 'undecided'}  # by `Finding.agrees`


class Finding(NamedTuple):
  text: str       # what our rows show
  agrees: bool | None  # whether that agrees with the paper; None: the rows cannot tell


class Anchor(NamedTuple):
  source: str     # the paper
  claim: str      # its result, in one sentence
  check: Callable[[list, list], Finding | None]  # (capability rows, frontier rows) -> finding


def _solved_lengths(rows, task: str, model: str) -> list[int]:
  return sorted(l for (t, m, l), seeds in seeds_by_point(rows).items()
                if (t, m) == (task, model) and solved_everywhere(seeds))


def _lengths(rows, task: str, model: str) -> list[int]:
  return sorted(l for (t, m, l) in seeds_by_point(rows) if (t, m) == (task, model))


def _mean(seeds: Sequence[dict], column: str) -> float:
  values = [float(r[column]) for r in seeds if not math.isnan(float(r[column]))]
  return float(np.mean(values)) if values else math.nan


def _solved_text(rows, task: str, models) -> str:
  parts = []
  for m in models:
    solved = _solved_lengths(rows, task, m)
    parts.append(f'{m} solves L = {", ".join(map(str, solved))}' if solved
                 else f'{m} solves none of L = {", ".join(map(str, _lengths(rows, task, m)))}')
  return '; '.join(parts)


def zoology_mqar(rows, frontier) -> Finding | None:
  """Attention recalls at every length; the recurrent families at matched size do not."""
  lengths = _lengths(rows, 'mqar', 'transformer')
  recurrent = [m for m in RECURRENT + ('mingru', 'minlstm', 'mamba')
               if _lengths(rows, 'mqar', m)]
  if not lengths or not recurrent:
    return None
  attention = _solved_lengths(rows, 'mqar', 'transformer')
  longest = max(lengths)
  beaten = all(longest not in _solved_lengths(rows, 'mqar', m) for m in recurrent)
  return Finding(_solved_text(rows, 'mqar', ['transformer', *recurrent]),
                 attention == lengths and beaten)


def recall_state_tradeoff(rows, frontier) -> Finding | None:
  """On the frontier at its longest length, every family's recall at its largest width (largest
  state) is at least that at its smallest (to within `NOISE`: a family flat at the guessing level
  does not disagree)."""
  models = list(dict.fromkeys(r['model'] for r in frontier if r['status'] == 'ok'))
  if len(models) < 2:
    return None
  longest = max(r['seq_len'] for r in frontier if r['status'] == 'ok')
  frontier = [r for r in frontier if r['seq_len'] == longest]
  parts, rising = [], True
  for model in models:
    widths = frontier_report.points(frontier, model)
    accuracy = [_mean(seeds, 'final_accuracy') for _, seeds in widths]
    rising &= accuracy[-1] >= accuracy[0] - NOISE
    parts.append(f'{model} {accuracy[0]:.2f} -> {accuracy[-1]:.2f} from width {widths[0][0]} to '
                 f'{widths[-1][0]}')
  return Finding(f'frontier accuracy at L={longest}, smallest to largest width: '
                 + '; '.join(parts), rising)


def deletang_parity(rows, frontier) -> Finding | None:
  """RNN and LSTM extrapolate parity to longer inputs; the transformer does not. Read at each
  curve's longest training length L where the family learned parity there (mean final accuracy
  >= `LEARNED`): extrapolation is a question only there, so a side that learned parity at no
  length leaves the verdict undecided."""
  measured, four = {}, {}
  points = seeds_by_point(rows)
  top = {m: max(l for (t, mm, l) in points if (t, mm) == ('parity', m))
         for (t, m, _) in points if t == 'parity'}
  for (t, m, l), seeds in points.items():
    if t != 'parity' or l != top[m] or math.isnan(_mean(seeds, 'accuracy_4x')):
      continue
    accuracy = _mean(seeds, 'final_accuracy')
    measured.setdefault(m, []).append((accuracy, l))
    if accuracy >= LEARNED:
      four.setdefault(m, []).append((l, _mean(seeds, 'accuracy_4x')))
  models = [m for m in ('rnn', 'lstm', 'transformer') if m in measured]
  if 'transformer' not in models or models == ['transformer']:
    return None

  def reading(model):
    if model in four:
      return f'{model} at 4L: ' + ', '.join(f'{a:.2f} (L={l})' for l, a in sorted(four[model]))
    accuracy, length = max(measured[model])
    return (f'{model} did not learn its longest training length (mean accuracy {accuracy:.2f} '
            f'at L={length})')

  text = ('; '.join(map(reading, models))
          + f' (where the family learned L: mean accuracy >= {LEARNED})')
  recurrent = [m for m in models[:-1] if m in four]
  if not recurrent or 'transformer' not in four:
    return Finding(text, None)
  return Finding(text, all(a >= EXTRAPOLATES for m in recurrent for _, a in four[m])
                 and all(a < EXTRAPOLATES for _, a in four['transformer']))


def feng_mingru(rows, frontier) -> Finding | None:
  """minGRU, with gates of x_t only and a parallel scan, keeps a token over the distance."""
  lengths = _lengths(rows, 'first_token', 'mingru')
  if not lengths:
    return None
  return Finding(_solved_text(rows, 'first_token', ['mingru', 'gru']),
                 _solved_lengths(rows, 'first_token', 'mingru') == lengths)


def grazzi_parity(rows, frontier) -> Finding | None:
  """A diagonal linear recurrence with transitions in (0, 1) (minGRU, Mamba) cannot track
  parity."""
  diagonal = [m for m in ('mingru', 'mamba') if _lengths(rows, 'parity', m)]
  if not diagonal:
    return None
  solved = any(_solved_lengths(rows, 'parity', m) for m in diagonal)
  return Finding(_solved_text(rows, 'parity', [*diagonal, 'rnn']), not solved)


ANCHORS = (
    Anchor('Zoology (Arora et al. 2024, ICLR, figure 2)',
           'two-layer attention solves multi-query associative recall at every width tried (64 '
           'to 512) and length (64 to 256), where gated-convolution and recurrent mixers need a '
           'width that grows with the number of key-value pairs',
           zoology_mqar),
    Anchor('Arora et al. 2024b ("Simple linear attention language models balance the '
           'recall-throughput tradeoff", figure 2)',
           'recall accuracy rises with the state a model carries; attention, whose KV cache '
           'grows with the context, recalls at any width',
           recall_state_tradeoff),
    Anchor('Deletang et al. 2023 ("Neural networks and the Chomsky hierarchy", ICLR)',
           'on parity, RNNs and LSTMs trained on short inputs stay near 100% on much longer ones; '
           'transformers fall to about chance (50%)',
           deletang_parity),
    Anchor('Feng et al. 2024 ("Were RNNs all we needed?")',
           'minGRU and minLSTM, whose gates read only x_t so that training is a parallel scan, '
           'learn long-range memory tasks (selective copying) like the full GRU and LSTM',
           feng_mingru),
    Anchor('Grazzi et al. 2025 ("Unlocking state-tracking in linear RNNs through negative '
           'eigenvalues", ICLR)',
           'a diagonal linear recurrence whose transition lies in [0, 1] (minGRU: 1 - z_t; '
           'Mamba: exp(Delta A)) cannot solve parity at arbitrary length; a non-linear RNN can',
           grazzi_parity),
)


def anchor_lines(rows, frontier) -> list[str]:
  """The report's anchors section: each paper's result, ours, and whether they agree."""
  lines = ['## Published anchors', '',
           'Each line: what the paper found; what this run measured on the same question; '
           'whether they agree (decided from the rows). A disagreement is a question for our '
           'code first, then for the budget.', '']
  rows = [r for r in rows if trained(r)]
  for anchor in ANCHORS:
    finding = anchor.check(rows, frontier)
    ours = ('not measured in this run' if finding is None else
            f'{finding.text}: **{VERDICTS[finding.agrees]}**')
    lines.append(f'- {anchor.source}: {anchor.claim}. Ours: {ours}.')
  return lines + ['']
