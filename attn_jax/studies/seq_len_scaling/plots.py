"""The sequence-length scaling study's plots (matplotlib, Agg: no display needed): cost against
length, capability, gradient flow, inference cost and the state-size frontier.

Figures are built with `matplotlib.figure.Figure` directly, so nothing here touches pyplot's global
state or backend.
"""
import math
import os
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from attn_jax.plots import label_and_save

# (file name, rows column, y label, log y, title)
SCALING_PLOTS = (
    ('step_time.png', 'step_ms', 'median train step (ms)', True,
     'Train step time vs sequence length'),
    ('memory.png', 'peak_memory_bytes', 'peak memory (MiB)', True,
     'Peak memory vs sequence length'),
)
_SCALE = {'peak_memory_bytes': 1 / 2**20}
HELD_OUT_ACCURACY = 'held-out accuracy (mean, min..max over seeds)'


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
                 ylabel: str, title: str, log_y: bool = True,
                 guessing_accuracy: float | None = None):
  """One line per model of `column` against `seq_len` (log-2 x axis; log y if `log_y`).

  Points that ran out of memory or failed are marked with an x on the x axis.
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
  if guessing_accuracy is not None and not math.isnan(guessing_accuracy):
    ax.axhline(guessing_accuracy, color='grey', linestyle=':', linewidth=1,
               label='guessing level')
  ax.set_xscale('log', base=2)
  if log_y:
    ax.set_yscale('log')
  label_and_save(ax, path, xlabel='sequence length L', ylabel=ylabel, title=title)


def write_scaling_plots(rows: Sequence[dict], models: Sequence[str], workdir: str, *,
                        guessing_accuracy: float | None = None) -> list[str]:
  """Writes `SCALING_PLOTS` into `workdir`; returns their file names."""
  names = []
  for name, column, ylabel, log_y, title in SCALING_PLOTS:
    scaling_plot(rows, models, column, os.path.join(workdir, name), ylabel=ylabel, title=title,
                 log_y=log_y,
                 guessing_accuracy=guessing_accuracy if column == 'accuracy' else None)
    names.append(name)
  return names


def gradient_flow_plot(rows: Sequence[dict], path: str, *, seq_len: int | None = None,
                       title: str | None = None):
  """Gradient norm || d loss_L / d e_t || against the distance L - 1 - t (log y): one colour per
  model, the 'init' stage dashed and 'trained' solid (rows of `gradient_flow.measure`,
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
  label_and_save(ax, path, xlabel='distance L - 1 - t from the differentiated position',
                  ylabel='mean || d loss / d embedding_t ||',
                  title=title or f'Gradient flow to the inputs (L = {seq_len})')


def inference_cost_plot(rows: Sequence[dict], path: str, *, title: str | None = None):
  """Two log-log panels against the context length: milliseconds per generated token, and the
  bytes of carried state (RNN state vs transformer KV cache); one line per model (rows of
  `inference_cost.measure`)."""
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


def _seed_stats(rows: Sequence[dict], task: str, model: str, column: str):
  """(lengths, mean, min, max) over the seeds of `column` per length (ok rows, finite values)."""
  by_length = {}
  for r in rows:
    if (r['task'], r['model'], r['status']) == (task, model, 'ok'):
      value = float(r[column])
      if not math.isnan(value):
        by_length.setdefault(r['seq_len'], []).append(value)
  lengths = sorted(by_length)
  return (lengths, [float(np.mean(by_length[l])) for l in lengths],
          [min(by_length[l]) for l in lengths], [max(by_length[l]) for l in lengths])


def guessing_levels(rows: Sequence[dict], task: str) -> list[tuple[int, float]]:
  """[(length, the task's guessing accuracy there)] from the rows' `guessing_accuracy`."""
  levels = {r['seq_len']: float(r['guessing_accuracy']) for r in rows
            if r['task'] == task and not math.isnan(float(r.get('guessing_accuracy', math.nan)))}
  return sorted(levels.items())


def _accuracy_axes(ax, *, xlabel: str, title: str, ylabel: str | None = None):
  """An accuracy panel's frame: log-2 x axis, accuracy from 0 to 1, labels, title and grid."""
  ax.set_xscale('log', base=2)
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlabel(xlabel)
  if ylabel:
    ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(True, which='both', alpha=0.3)


def _task_panels(tasks: Sequence[str], height: float = 3.8):
  fig = Figure(figsize=(4.2 * max(len(tasks), 1), height), layout='constrained')
  axes = fig.subplots(1, max(len(tasks), 1), squeeze=False)[0]
  return fig, axes


def capability_accuracy_plot(rows: Sequence[dict], tasks: Sequence[str], models: Sequence[str],
                             path: str, *, column: str = 'final_accuracy',
                             solve_accuracy: float | None = None):
  """Per task, held-out accuracy vs the length: the mean over seeds (line) and the min..max band
  (rows of capability.csv); the lengths beyond the trained ones shaded."""
  fig, axes = _task_panels(tasks)
  for ax, task in zip(axes, tasks):
    for model in models:
      lengths, mean, low, high = _seed_stats(rows, task, model, column)
      if lengths:
        line, = ax.plot(lengths, mean, 'o-', label=model)
        ax.fill_between(lengths, low, high, color=line.get_color(), alpha=0.2)
    guessing = guessing_levels(rows, task)
    if guessing:
      ax.plot(*zip(*guessing), linestyle=':', color='grey', linewidth=1.2,
              label='guessing level')
    if solve_accuracy is not None:
      ax.axhline(solve_accuracy, color='grey', linestyle=':', linewidth=1, label='solved')
    mine = [r for r in rows if r['task'] == task and r['status'] == 'ok']
    beyond = [r['seq_len'] for r in mine if r.get('trained', 1) == 0]
    if beyond:
      top = max(r['seq_len'] for r in mine if r.get('trained', 1) == 1)
      ax.axvspan(top, max(beyond), color='grey', alpha=0.1, label='never trained on')
    _accuracy_axes(ax, xlabel='sequence length L', title=task, ylabel=HELD_OUT_ACCURACY)
  axes[0].legend(fontsize='small')
  fig.savefig(path, dpi=110)


def steps_to_solve_plot(rows: Sequence[dict], tasks: Sequence[str], models: Sequence[str],
                        path: str):
  """Per task, steps to solve vs the length (log-log): mean and min..max over the seeds that
  solved; a filled marker where every seed solved, a hollow one where only some did."""
  fig, axes = _task_panels(tasks)
  for ax, task in zip(axes, tasks):
    for model in models:
      lengths, mean, low, high = _seed_stats(rows, task, model, 'steps_to_solve')
      if not lengths:
        continue
      seeds = {l: sum(1 for r in rows if (r['task'], r['model'], r['seq_len'], r['status'])
                      == (task, model, l, 'ok')) for l in lengths}
      line, = ax.plot(lengths, mean, '-', label=model)
      ax.fill_between(lengths, low, high, color=line.get_color(), alpha=0.2)
      counts = {l: sum(1 for r in rows if (r['task'], r['model'], r['seq_len']) ==
                       (task, model, l) and not math.isnan(float(r['steps_to_solve'])))
                for l in lengths}
      for l, m in zip(lengths, mean):
        ax.plot([l], [m], 'o', color=line.get_color(),
                markerfacecolor=line.get_color() if counts[l] == seeds[l] else 'none')
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('sequence length L')
    ax.set_ylabel('steps to solve (solved seeds)')
    ax.set_title(task)
    ax.grid(True, which='both', alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize='small')
  fig.savefig(path, dpi=110)


def extrapolation_plot(rows: Sequence[dict], task: str, models: Sequence[str], path: str):
  """Accuracy of models trained at L, evaluated at L, 2L and 4L (one panel each): mean and
  min..max over seeds, against the training length L."""
  panels = (('final_accuracy', 'at L'), ('accuracy_2x', 'at 2L'), ('accuracy_4x', 'at 4L'))
  fig = Figure(figsize=(12, 3.8), layout='constrained')
  axes = fig.subplots(1, 3, sharey=True)
  for ax, (column, title) in zip(axes, panels):
    for model in models:
      lengths, mean, low, high = _seed_stats(rows, task, model, column)
      if lengths:
        line, = ax.plot(lengths, mean, 'o-', label=model)
        ax.fill_between(lengths, low, high, color=line.get_color(), alpha=0.2)
    _accuracy_axes(ax, xlabel='training length L', title=f'{task}: evaluated {title}')
  axes[0].set_ylabel('accuracy (mean, min..max over seeds)')
  axes[0].legend(fontsize='small')
  fig.savefig(path, dpi=110)


def frontier_plot(rows: Sequence[dict], models: Sequence[str], path: str, *,
                  solve_accuracy: float | None = None):
  """Per length, held-out accuracy against the state bytes per sequence (log x), one line per
  family through its widths: the mean over seeds, min..max as error bars (frontier.csv rows)."""
  lengths = sorted({r['seq_len'] for r in rows if r['status'] == 'ok'})
  fig, axes = _task_panels([f'L={l}' for l in lengths], height=4.2)
  for ax, length in zip(axes, lengths):
    for model in models:
      by_state = {}
      for r in rows:
        if (r['model'], r['seq_len'], r['status']) == (model, length, 'ok'):
          by_state.setdefault(float(r['state_bytes']), []).append(float(r['final_accuracy']))
      if by_state:
        states = sorted(by_state)
        mean = [float(np.mean(by_state[s])) for s in states]
        low = [m - min(by_state[s]) for m, s in zip(mean, states)]
        high = [max(by_state[s]) - m for m, s in zip(mean, states)]
        ax.errorbar(states, mean, yerr=[low, high], fmt='o-', capsize=3, label=model)
    guessing = {float(r['guessing_accuracy']) for r in rows if r['seq_len'] == length
                and not math.isnan(float(r['guessing_accuracy']))}
    for level in guessing:
      ax.axhline(level, color='grey', linestyle=':', linewidth=1.2, label='guessing level')
    if solve_accuracy is not None:
      ax.axhline(solve_accuracy, color='grey', linestyle='--', linewidth=1, label='solved')
    _accuracy_axes(ax, xlabel='state / KV-cache bytes per sequence',
                   title=f'{rows[0]["task"]} at L={length}: recall vs state size',
                   ylabel=HELD_OUT_ACCURACY)
  axes[0].legend(fontsize='small')
  fig.savefig(path, dpi=110)
