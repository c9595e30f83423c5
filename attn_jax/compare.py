"""Finished runs side by side: `python -m attn_jax.compare DIR [DIR ...] [--metric=loss]
[--split=eval] [--out=OUT]`.

Each DIR is a workdir (it holds `config.json`) or a folder of workdirs. Writes to OUT (default:
the current directory) `compare.md` and `compare.csv`, one row per run: its name, exactly the
settings whose values differ between the runs (from each `config.json`, flattened), the step of
its last evaluation and the final eval metrics (`eval_<name>`), and the final train loss; and
`compare_<split>_<metric>.png`, the metric against step with one line per run. Bad input is one
`error:` line and exit status 2, as with `launch.py`.

A DIR that holds a sweep (`sweep.json`, `python -m attn_jax.sweep`) stands for its finished
points. Then `compare.md` also has the final metric's mean, min and max over seeds (where `seed`
varies), and `sweep_<split>_<metric>_by_<setting>.png` plots the final metric against each
swept setting: one line per value of the other swept settings, the mean over seeds with a
min..max band. Settings swept together (`--zip`: each value of one goes with one value of the
other) share a plot.
"""
import argparse
import json
import math
import os
import statistics
import sys

from matplotlib.figure import Figure

from attn_jax import plots
from attn_jax.durable import write_csv
from attn_jax.errors import ConfigError
from attn_jax.sweep import record as sweep_record
from attn_jax.tables import markdown_table
from attn_jax.training.metrics import read_metrics
from attn_jax.training.config_changes import json_flat

MISSING = '-'  # a setting one run's config does not have
SEED = 'seed'  # the setting a sweep's mean and band are over
STATISTICS = (('mean', statistics.fmean), ('min', min), ('max', max))  # over a sweep's seeds


def find_runs(paths: list[str]) -> list[str]:
  """The workdirs named: each path that holds `config.json`, else the subfolders of it that do.

  Raises:
    ConfigError('runs', ...): a path that is neither, or fewer than two runs in all.
  """
  runs = []
  for path in paths:
    if os.path.exists(os.path.join(path, sweep_record.SWEEP_FILE)):
      runs.extend(sweep_record.finished_points(path))
      continue
    if os.path.exists(os.path.join(path, 'config.json')):
      runs.append(path)
      continue
    inner = sorted(os.path.join(path, name) for name in os.listdir(path)
                   if os.path.exists(os.path.join(path, name, 'config.json'))
                   ) if os.path.isdir(path) else []
    if not inner:
      raise ConfigError('runs', f'{path} is neither a workdir (with config.json) nor a folder '
                        'of workdirs')
    runs.extend(inner)
  if len(runs) < 2:
    raise ConfigError('runs', f'found {len(runs)} run; accepted: two or more workdirs, or '
                      'folders of them')
  return runs


def run_labels(runs: list[str]) -> list[str]:
  """Each run's folder name, or its path where two runs share a name."""
  names = [os.path.basename(os.path.normpath(run)) for run in runs]
  return [name if names.count(name) == 1 else os.path.normpath(run)
          for name, run in zip(names, runs)]


def differing_settings(runs: list[str]) -> list[dict]:
  """Per run, `{setting: value}` for exactly the flattened config keys whose values are not the
  same in every run (`MISSING` where a run's config lacks the key), in sorted key order."""
  configs = []
  for run in runs:
    with open(os.path.join(run, 'config.json')) as f:
      configs.append(json_flat(json.load(f)))
  keys = sorted(set().union(*configs))
  differ = [k for k in keys if len({json.dumps(c.get(k, MISSING)) for c in configs}) > 1]
  return [{k: config.get(k, MISSING) for k in differ} for config in configs]


def final_metrics(run: str) -> dict:
  """`step` of the run's last evaluation, its metrics as `eval_<name>`, and `train_loss` of the
  last train line (NaN where there is none)."""
  lines = read_metrics(run)
  evals = [line for line in lines if line['split'] == 'eval']
  trains = [line for line in lines if line['split'] == 'train']
  last = evals[-1] if evals else {'step': math.nan}
  return {'step': last['step'],
          **{f'eval_{k}': v for k, v in last.items() if k not in ('step', 'split')},
          'train_loss': trains[-1]['loss'] if trains else math.nan}


def comparison_rows(runs: list[str]) -> list[dict]:
  """One row per run: `run`, the differing settings, then the final metrics (every row has
  every column; NaN where a run lacks a metric)."""
  finals = [final_metrics(run) for run in runs]
  columns = list(dict.fromkeys(k for final in finals for k in final))
  return [{'run': label, **settings, **{k: final.get(k, math.nan) for k in columns}}
          for label, settings, final in zip(run_labels(runs), differing_settings(runs), finals)]


def _shown(value) -> str:
  return f'{value:.4g}' if isinstance(value, float) else str(value)


def metric_curves(runs: list[str], metric: str, split: str) -> dict:
  """Label -> (steps, values) of `metric` on the `split` lines of each run that logged it.

  Raises:
    ConfigError('metric', ...): no run logged it; lists the metrics logged.
  """
  curves, logged = {}, set()
  for label, run in zip(run_labels(runs), runs):
    lines = [line for line in read_metrics(run) if line['split'] == split]
    logged.update(k for line in lines for k in line if k not in ('step', 'split'))
    points = [(line['step'], line[metric]) for line in lines if metric in line]
    if points:
      curves[label] = tuple(zip(*points))
  if not curves:
    raise ConfigError('metric', f'no run logged {metric!r} on {split} lines; accepted: '
                      f'{", ".join(sorted(logged)) or "none logged"}')
  return curves


def _order(value):
  """Sorts numbers by value before anything else by its text."""
  return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _tied(rows: list[dict], a: str, b: str) -> bool:
  """Whether settings `a` and `b` were swept together: each value of one goes with one value of
  the other."""
  pairs = {(json.dumps(row[a]), json.dumps(row[b])) for row in rows}
  return len(pairs) == len({pair[0] for pair in pairs}) == len({pair[1] for pair in pairs})


def swept_groups(rows: list[dict], settings: list[str]) -> list[list[str]]:
  """The differing `settings` other than seed, grouped: settings swept together share a group,
  in the order named."""
  groups = []
  for key in settings:
    group = next((g for g in groups if _tied(rows, g[0], key)), None) if key != SEED else []
    if group is None:
      groups.append([key])
    elif group:
      group.append(key)
  return groups


def seed_bands(rows: list[dict], group: list[str], others: list[str],
               column: str) -> dict[str, tuple]:
  """One line per value of the `others` settings (label `key=value, ...`): the values of
  `group[0]` in order and, at each, the mean, min and max of `column` over the rows there (the
  seeds)."""
  lines = {}
  for row in rows:
    label = ', '.join(f'{k}={_shown(row[k])}' for k in others) or column
    lines.setdefault(label, {}).setdefault(row[group[0]], []).append(row[column])
  bands = {}
  for label, by_x in lines.items():
    xs = sorted(by_x, key=_order)
    bands[label] = (xs, *([f(by_x[x]) for x in xs] for _, f in STATISTICS))
  return bands


def seed_summary(rows: list[dict], settings: list[str], column: str) -> list[dict]:
  """Per combination of the settings other than seed: how many seeds, and the mean, min and max
  of `column` over them."""
  others = [k for k in settings if k != SEED]
  groups = {}
  for row in rows:
    groups.setdefault(tuple(json.dumps(row[k]) for k in others), []).append(row)
  return [{**{k: group[0][k] for k in others}, 'seeds': len(group),
           **{f'{column}_{name}': f([r[column] for r in group]) for name, f in STATISTICS}}
          for group in groups.values()]


def band_plot(bands: dict[str, tuple], path: str, *, xlabel: str, ylabel: str, title: str):
  """One line per label, its mean against x and a min..max band; a numeric x spanning a factor
  of 4 or more on a log-2 axis, text values evenly spaced."""
  fig = Figure(figsize=(6.4, 4.4), layout='constrained')
  ax = fig.subplots()
  values = sorted({x for xs, *_ in bands.values() for x in xs}, key=_order)
  numeric = all(isinstance(x, (int, float)) for x in values)
  for label, (xs, mean, low, high) in bands.items():
    where = xs if numeric else [values.index(x) for x in xs]
    line, = ax.plot(where, mean, 'o-', label=label)
    ax.fill_between(where, low, high, color=line.get_color(), alpha=0.2)
  if numeric and values[0] > 0 and values[-1] >= 4 * values[0]:
    ax.set_xscale('log', base=2)
  ax.set_xticks(values if numeric else range(len(values)), [_shown(x) for x in values])
  plots.label_and_save(ax, path, xlabel=xlabel, ylabel=ylabel, title=title)


def sweep_outputs(runs: list[str], rows: list[dict], metric: str, split: str,
                  out: str) -> tuple[str, list[str]]:
  """A sweep's markdown table of `split_metric` over seeds (empty where seed does not vary) and
  its plots against each swept setting (`sweep_<split>_<metric>_by_<setting>.png`; none where
  the final metrics lack `split_metric`); returns the table and the plots' paths."""
  column = f'{split}_{metric}'
  settings = list(differing_settings(runs)[0])
  if column not in rows[0]:
    return '', []
  table = markdown_table([{k: _shown(v) for k, v in row.items()}
                          for row in seed_summary(rows, settings, column)])
  groups, paths_out = swept_groups(rows, settings), []
  for group in groups:
    others = [k for g in groups if g is not group for k in g]
    paths_out.append(os.path.join(out, f'sweep_{column}_by_{group[0]}.png'))
    band_plot(seed_bands(rows, group, others, column), paths_out[-1],
              xlabel=' / '.join(group), ylabel=f'final {split} {metric}',
              title=f'final {split} {metric} (mean, min..max over seeds)'
              if SEED in settings else f'final {split} {metric}')
  return (f'\n## {column} over seeds\n\n{table}\n' if SEED in settings else ''), paths_out


def compare(paths: list[str], *, metric: str = 'loss', split: str = 'eval',
            out: str = '.') -> list[str]:
  """Writes `compare.md`, `compare.csv` and the plot of `metric` into `out` (and for a sweep the
  table over seeds and the plots against its settings); returns the paths."""
  runs = find_runs(paths)
  rows = comparison_rows(runs)
  curves = metric_curves(runs, metric, split)
  os.makedirs(out, exist_ok=True)
  paths_out = [os.path.join(out, name) for name in
               ('compare.md', 'compare.csv', f'compare_{split}_{metric}.png')]
  over_seeds, sweep_plots = (sweep_outputs(runs, rows, metric, split, out) if any(
      os.path.exists(os.path.join(p, sweep_record.SWEEP_FILE)) for p in paths) else ('', []))
  with open(paths_out[0], 'w') as f:
    f.write(f'# {len(runs)} runs\n\n'
            + markdown_table([{k: _shown(v) for k, v in row.items()} for row in rows]) + '\n'
            + over_seeds)
  write_csv(paths_out[1], rows, list(rows[0]))
  plots.curves_plot(curves, paths_out[2], ylabel=f'{split} {metric}',
                    title=f'{split} {metric} by step', log_y=metric in ('loss', 'perplexity'))
  return paths_out + sweep_plots


class _Parser(argparse.ArgumentParser):

  def error(self, message):
    raise ConfigError('compare', message)


def main(argv: list[str]) -> int:
  parser = _Parser(prog='python -m attn_jax.compare', description=__doc__.split('\n\n')[0])
  parser.add_argument('runs', nargs='+', help='workdirs, or folders of workdirs')
  parser.add_argument('--metric', default='loss', help='metric to plot against step')
  parser.add_argument('--split', default='eval', choices=('train', 'eval'))
  parser.add_argument('--out', default='.', help='folder for compare.md, .csv and the plot')
  try:
    args = parser.parse_args(argv)
    written = compare(args.runs, metric=args.metric, split=args.split, out=args.out)
  except ConfigError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  with open(written[0]) as f:
    print(f.read())
  print('wrote ' + ', '.join(written))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
