"""Plots (matplotlib, Agg: no display needed): sequence-length scaling curves.

Figures are built with `matplotlib.figure.Figure` directly, so nothing here touches pyplot's global
state or backend.
"""
import math
import os
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

# (file name, rows column, y label, log y, title)
SCALING_PLOTS = (
    ('step_time.png', 'step_ms', 'median train step (ms)', True,
     'Train step time vs sequence length'),
    ('memory.png', 'peak_memory_bytes', 'peak memory (MiB)', True,
     'Peak memory vs sequence length'),
    ('accuracy.png', 'accuracy', 'eval accuracy', False,
     'Accuracy after the same step budget vs sequence length'),
)
_SCALE = {'peak_memory_bytes': 1 / 2**20}


def _series(rows: Sequence[dict], model: str, column: str):
  points = sorted((r['seq_len'], r[column]) for r in rows
                  if r['model'] == model and r['status'] == 'ok'
                  and not math.isnan(float(r[column])))
  return [l for l, _ in points], [v * _SCALE.get(column, 1.0) for _, v in points]


def _guides(ax, lengths: Sequence[int], values: Sequence[float]):
  """Dashed reference slopes L^1 and L^2 through the geometric middle of the data."""
  x = np.array([min(lengths), max(lengths)], np.float64)
  x_mid, y_mid = math.sqrt(x[0] * x[1]), math.exp(np.mean(np.log(values)))
  for power, style in ((1, ':'), (2, '--')):
    ax.plot(x, y_mid * (x / x_mid) ** power, style, color='grey', linewidth=1,
            label=f'∝ L^{power}')


def scaling_plot(rows: Sequence[dict], models: Sequence[str], column: str, path: str, *,
                 ylabel: str, title: str, log_y: bool = True, chance: float | None = None):
  """One line per model of `column` against `seq_len` (log-2 x axis; log y if `log_y`).

  Cells that ran out of memory or failed are marked with an x on the x axis.
  """
  fig = Figure(figsize=(6.4, 4.4), layout='constrained')
  ax = fig.subplots()
  all_lengths, all_values = [], []
  for model in models:
    lengths, values = _series(rows, model, column)
    if lengths:
      ax.plot(lengths, values, 'o-', label=model)
      all_lengths += lengths
      all_values += values
  failed = sorted({r['seq_len'] for r in rows if r['model'] in models and r['status'] != 'ok'})
  if failed:
    ax.plot(failed, [0] * len(failed), 'x', color='red', clip_on=False,
            transform=ax.get_xaxis_transform(), label='oom / failed')
  log_y = log_y and min(all_values, default=0) > 0  # nothing to draw on a log axis otherwise
  if log_y and len(set(all_lengths)) > 1:
    _guides(ax, all_lengths, all_values)
  if chance is not None and not math.isnan(chance):
    ax.axhline(chance, color='grey', linestyle=':', linewidth=1, label='chance')
  ax.set_xscale('log', base=2)
  if log_y:
    ax.set_yscale('log')
  ax.set_xlabel('sequence length L')
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize='small')
  fig.savefig(path, dpi=110)


def write_scaling_plots(rows: Sequence[dict], models: Sequence[str], workdir: str, *,
                        chance: float | None = None) -> list[str]:
  """Writes `SCALING_PLOTS` into `workdir`; returns their file names."""
  names = []
  for name, column, ylabel, log_y, title in SCALING_PLOTS:
    scaling_plot(rows, models, column, os.path.join(workdir, name), ylabel=ylabel, title=title,
                 log_y=log_y, chance=chance if column == 'accuracy' else None)
    names.append(name)
  return names


def gradient_flow_plot(rows: Sequence[dict], path: str, *, seq_len: int | None = None,
                       title: str | None = None):
  """Gradient norm || d loss_L / d e_t || against the distance L - 1 - t (log y): one colour per
  model, the 'init' stage dashed and 'trained' solid (rows of `studies.gradient_flow.measure`,
  at `seq_len`, default the longest in `rows`)."""
  seq_len = seq_len or max(r['seq_len'] for r in rows)
  rows = [r for r in rows if r['seq_len'] == seq_len and r['grad_norm'] > 0]
  fig = Figure(figsize=(6.4, 4.4), layout='constrained')
  ax = fig.subplots()
  colours = {}
  for model in dict.fromkeys(r['model'] for r in rows):
    for stage in dict.fromkeys(r['stage'] for r in rows if r['model'] == model):
      points = sorted((r['distance'], r['grad_norm']) for r in rows
                      if r['model'] == model and r['stage'] == stage)
      line, = ax.plot(*zip(*points), '--' if stage == 'init' else '-',
                      color=colours.get(model), label=f'{model} ({stage})')
      colours.setdefault(model, line.get_color())
  ax.set_yscale('log')
  ax.set_xlabel('distance L - 1 - t from the differentiated position')
  ax.set_ylabel('mean || d loss / d embedding_t ||')
  ax.set_title(title or f'Gradient flow to the inputs (L = {seq_len})')
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(fontsize='small')
  fig.savefig(path, dpi=110)


def inference_cost_plot(rows: Sequence[dict], path: str, *, title: str | None = None):
  """Two log-log panels against the context length: milliseconds per generated token, and the
  bytes of carried state (RNN state vs transformer KV cache); one line per model (rows of
  `studies.inference_cost.measure`)."""
  fig = Figure(figsize=(10.4, 4.2), layout='constrained')
  axes = fig.subplots(1, 2)
  panels = (('ms_per_token', 'ms per generated token'), ('state_bytes', 'carried state (bytes)'))
  for ax, (column, ylabel) in zip(axes, panels):
    for model in dict.fromkeys(r['model'] for r in rows):
      points = sorted((r['context_len'], r[column]) for r in rows if r['model'] == model)
      ax.plot(*zip(*points), 'o-', label=model)
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('context length N')
    ax.set_ylabel(ylabel)
    ax.grid(True, which='both', alpha=0.3)
  axes[0].legend(fontsize='small')
  fig.suptitle(title or 'Generating one token: time and carried state vs context')
  fig.savefig(path, dpi=110)
