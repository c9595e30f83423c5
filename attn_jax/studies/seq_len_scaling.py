"""Sequence-length scaling: recurrent networks vs the transformer, at a matched parameter budget.

`run(config, workdir)` (experiment `seq_len_scaling`, docs/design.md §3.3) sweeps `config.models` x
`config.lengths`. For each (model, length) cell it
  1. sets the model's width so that it has `study.target_params` parameters (within
     `study.param_tolerance`),
  2. measures one train step (`cost.measure_step`: compile time, median step time, memory, FLOPs),
  3. trains the model with the training package's `train_and_evaluate` for `train.num_steps` steps
     in `DIR/runs/<model>-<length>/` (the same budget for every cell) and reads its eval accuracy.
A row is written to `DIR/results.csv` after every cell; a cell that runs out of memory or fails is
recorded with its status and NaNs and the sweep goes on. Rerunning keeps the rows already measured
(`results_table.is_final`). At the end it writes `DIR/report.md` and the plots.
"""
import math
import os
import platform
import time
import traceback

import ml_collections

from attn_jax import plots, progress
from attn_jax.data import load_dataset
from attn_jax.errors import ConfigError
from attn_jax.models.registry import MODEL_NAMES, build_model
from attn_jax.studies import cost, param_match, results_table, scaling_report, settings
from attn_jax.studies.model_list import parse_model_list
from attn_jax.training.loop import train_and_evaluate
from attn_jax.training.run_record import platform_info

STUDY_MODELS = ('rnn', 'lstm', 'gru', 'lru', 'transformer')  # sequence models this study compares
TASK_DESCRIPTIONS = {
    'first_token': 'remember the first token: the class is the first of L tokens, the other '
                   'L-1 are random distractors from the same alphabet',
    'recall': 'associative recall: key-value pairs, then a query key; the class is its value',
    'copy': 'delayed copy of the first symbols after a long blank stretch',
    'adding': 'the adding problem: sum of the two marked values of L',
}


def parse_models(text: str) -> tuple[str, ...]:
  """'lstm,transformer' -> ('lstm', 'transformer'); raises ConfigError('models', ...)."""
  return parse_model_list(text, [m for m in STUDY_MODELS if m in MODEL_NAMES], 'models')


def parse_lengths(text) -> tuple[int, ...]:
  """'64,128' -> (64, 128), sorted; raises ConfigError('lengths', ...)."""
  parts = [p.strip() for p in str(text).split(',') if p.strip()]
  try:
    lengths = sorted({int(p) for p in parts})
  except ValueError:
    lengths = []
  if not lengths or lengths[0] < 1 or len(lengths) != len(parts):
    raise ConfigError('lengths', f'{text!r} is not a list of distinct positive integers; '
                      f"accepted: comma-separated sequence lengths such as '64,128,256'")
  return tuple(lengths)


def data_config(config, length: int) -> ml_collections.ConfigDict:
  data = config.data.copy_and_resolve_references()
  data.seq_len = length
  return data


def cell_config(config, model: str, length: int, hidden_size: int) -> ml_collections.ConfigDict:
  """The training config of one cell: `config` without the study keys, for one model and length."""
  cell = config.copy_and_resolve_references()
  with cell.unlocked():
    for key in settings.STUDY_KEYS:
      del cell[key]
  cell.experiment = 'train'
  cell.model.name = model
  cell.model = param_match.with_width(cell.model, hidden_size, config.study.mlp_ratio)
  cell.data.seq_len = length
  return cell


class Widths:
  """The matched width of each model; re-matched at a length where the count drifts (e.g. a
  vocabulary or position table that grows with the length)."""

  def __init__(self, config):
    self.config = config
    self.width: dict[str, int] = {}

  def __call__(self, model: str, info) -> tuple[int, int]:
    study = self.config.study
    model_config = self.config.model.copy_and_resolve_references()
    model_config.name = model
    if model in self.width:
      params = param_match.count_params(
          param_match.with_width(model_config, self.width[model], study.mlp_ratio), info)
      if abs(params - study.target_params) <= study.param_tolerance * study.target_params:
        return self.width[model], params
    hidden, params = param_match.match_width(model_config, info, study.target_params,
                                             mlp_ratio=study.mlp_ratio,
                                             tolerance=study.param_tolerance)
    self.width[model] = hidden
    return hidden, params


def failure_status(error: BaseException) -> str:
  """'oom' for an out-of-memory error, else 'error: <type>: <first line>'."""
  text = str(error)
  if (isinstance(error, MemoryError) or 'RESOURCE_EXHAUSTED' in text
      or 'out of memory' in text.lower()):
    return 'oom'
  first = text.strip().splitlines()[0] if text.strip() else ''
  return f'error: {type(error).__name__}: {first[:160]}'


def measure_cell(config, model: str, length: int, workdir: str, widths: Widths) -> dict:
  """One row: width, step cost, and accuracy after the step budget; failures become a status."""
  start = time.perf_counter()
  row = results_table.failed_row(model, length, 'ok', batch_size=config.train.batch_size)
  try:
    dataset = load_dataset(data_config(config, length), seed=config.seed)
    hidden, params = widths(model, dataset.info)
    row.update(hidden_size=hidden, num_params=params)
    cell = cell_config(config, model, length, hidden)
    row.update(cost.measure_step(cell, build_model(cell.model, dataset.info), dataset,
                                 warmup_steps=config.study.warmup_steps,
                                 timed_steps=config.study.timed_steps))
    final = train_and_evaluate(cell, os.path.join(workdir, 'runs', f'{model}-{length}'))
    row['accuracy'] = float(final.get('accuracy', math.nan))
  except Exception as error:  # pylint: disable=broad-except  # recorded in the row, sweep goes on
    row['status'] = failure_status(error)
    progress.write(f'{model} L={length}: {row["status"]}\n{traceback.format_exc(limit=3)}')
  row['cell_s'] = time.perf_counter() - start
  return row


def _cpu_model() -> str:
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _study_summary(config, rows, dataset, *, wall_s: float, cells_measured: int) -> dict:
  info = dataset.info
  devices = any(r['memory_source'] == 'device_peak' for r in rows)
  m = config.model
  return dict(
      platform={**platform_info(), 'cpu_model': _cpu_model(), 'cpu_count': os.cpu_count()},
      task=config.data.name, task_description=TASK_DESCRIPTIONS.get(config.data.name, ''),
      chance=1.0 / info.num_classes if info.kind == 'classification' else math.nan,
      batch_size=config.train.batch_size, num_steps=config.train.num_steps,
      num_eval_examples=dataset.num_eval_examples(),
      target_params=config.study.target_params, param_tolerance=config.study.param_tolerance,
      model_settings=(f'{m.num_layers} layer(s); transformer: {m.num_heads} heads, mlp_dim = '
                      f'{config.study.mlp_ratio} x width, {m.positional} positions, '
                      f'{m.pooling} pooling, {m.attention_impl} attention; dtype {m.dtype}; '
                      f'learning rate {config.train.learning_rate}'),
      timed_steps=config.study.timed_steps, warmup_steps=config.study.warmup_steps,
      memory_rule=("the device's peak_bytes_in_use where the cell raised the high-water mark, "
                   "else XLA's estimate (column memory_source)" if devices else
                   "XLA's memory_analysis() of the compiled step: arguments + outputs + "
                   "temporaries - aliased bytes (this device reports no peak)"),
      fit_min_length=config.study.fit_min_length, wall_s=wall_s, cells_measured=cells_measured)


def run(config, workdir: str) -> list[dict]:
  """Runs the sweep in `workdir` (see the module docstring); returns the rows of results.csv."""
  wall_start = time.perf_counter()
  models, lengths = parse_models(config.models), parse_lengths(config.lengths)
  settings.validate(config)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, 'results.csv')
  rows = {(r['model'], r['seq_len']): r for r in results_table.read_rows(path)}
  settings.check_workdir(config, workdir, has_rows=bool(rows))
  todo = [(m, l) for m in models for l in lengths
          if (m, l) not in rows or not results_table.is_final(rows[m, l])]
  widths = Widths(config)
  for model in models:  # bad settings fail here, before anything is measured
    first = next((l for m, l in todo if m == model), lengths[0])
    widths(model, load_dataset(data_config(config, first), seed=config.seed).info)
  order = lambda r: results_table.sort_key(r, models)
  bar = progress.bar(todo, unit='cell', desc='seq_len_scaling')
  for model, length in bar:
    bar.set_description(f'{model} L={length}')
    rows[model, length] = measure_cell(config, model, length, workdir, widths)
    results_table.write_rows(path, sorted(rows.values(), key=order))
  bar.close()
  ordered = sorted(rows.values(), key=order)
  results_table.write_rows(path, ordered)
  all_models = tuple(dict.fromkeys([*models, *(r['model'] for r in ordered)]))
  dataset = load_dataset(data_config(config, lengths[0]), seed=config.seed)
  chance = 1.0 / dataset.info.num_classes if dataset.info.kind == 'classification' else None
  names = plots.write_scaling_plots(ordered, all_models, workdir, chance=chance)
  study = _study_summary(config, ordered, dataset, wall_s=time.perf_counter() - wall_start,
                         cells_measured=len(todo))
  scaling_report.write_report(os.path.join(workdir, 'report.md'), ordered, models=all_models,
                              study=study, plots=names)
  print(f'{workdir}: {len(todo)} cell(s) measured, {len(ordered)} rows; report.md, '
        f'{", ".join(names)} written in {time.perf_counter() - wall_start:.0f} s')
  return ordered
