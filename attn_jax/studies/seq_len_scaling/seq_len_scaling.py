"""Sequence-length scaling: what each family learns as the length grows, and at what price.

`run(config, workdir)` (experiment `seq_len_scaling`, docs/design.md §3.3) has four phases
(and an optional one, 2b). Every model's width is set so that it has `study.target_params`
parameters (within `study.param_tolerance`), per task; every family has `study.num_layers`
layers.
  1. Cost: for each (model, length) of `config.models` x `config.lengths`, one train step on
     `config.data` (`step_cost.measure_step`: compile time, median step time, memory, FLOPs) ->
     `DIR/results.csv`. Its `accuracy` column is the capability phase's mean final accuracy over
     seeds where the same (model, length) was trained on `first_token`, else NaN.
  2. Capability, as curves: for each (task, model) of `study.tasks` x `config.models`, each of
     `study.seeds` seeds trains ONE model on the mixture of that task's
     `study.capability_lengths` until every one of them reaches `study.solve_accuracy` or
     `study.max_steps` are spent, and is evaluated at those lengths and at `study.extrapolate` x
     the longest (`capability`); one rate per (task, model) from a pilot over
     `study.learning_rates` -> `DIR/capability.csv`, one row per (evaluation length, seed).
  2b. State-size frontier (when `study.frontier_lengths` is set): `study.frontier_task`, every
     model at each width of `study.frontier_widths` (the width sets the state), one curve over
     the frontier lengths each, trained as in phase 2 -> `DIR/frontier.csv`; accuracy against
     state bytes per sequence at each length. Phase 2's curves of the same task and lengths are
     points too (every family at its matched width, every seed): not trained again.
  3. Gradient flow (`gradient_flow`): || d loss / d embedding_t || against the distance, at
     initialisation and after training, for the first seed of each model on
     `study.gradient_flow_task` at the longest training length of its curve ->
     `DIR/grad_flow.csv`, `DIR/grad_flow_decay.csv`.
  4. Inference cost (`inference_cost`): ms per generated token and carried-state bytes of each
     model's LM form at the contexts `study.inference_lengths` -> `DIR/inference.csv`.
Rows are written after every point; a point that runs out of memory or fails is recorded with its
status and the sweep goes on. Rerunning keeps the rows and points already measured
(`results_table.is_final`). `DIR/report.md` and the plots are rewritten after every phase (and
every minute within one) from the files so far, with a line on what is still running and its ETA.
"""
import concurrent.futures
import math
import os
import time
import traceback
from concurrent.futures import Executor
from typing import Callable, Iterator, NamedTuple, Sequence

import jax
import ml_collections

from attn_jax import progress
from attn_jax.data import load_dataset
from attn_jax.data import generated
from attn_jax.data.generated import TASKS
from attn_jax.errors import ConfigError
from attn_jax.models.registry import (MODEL_NAMES, SOFTMAX_ATTENTION_SETTINGS,
                                      TRANSFORMER_FAMILIES, build_model, model_config_defaults)
from attn_jax.studies import step_cost
from attn_jax.studies.model_list import parse_model_list
from attn_jax.studies.seq_len_scaling import (capability, capability_report, frontier_report,
                                              gradient_flow, inference_cost, param_match,
                                              results_table, settings, study_report)

# Held-out examples per evaluation call of a curve (fewer at long lengths:
# `capability.sequences_per_call`).
EVAL_BATCH_SIZE = 256

def parse_models(text: str) -> tuple[str, ...]:
  """'lstm,transformer' -> ('lstm', 'transformer'); raises ConfigError('models', ...)."""
  return parse_model_list(text, [m for m in settings.STUDY_MODELS if m in MODEL_NAMES], 'models')


def parse_lengths(text, setting: str = 'lengths') -> tuple[int, ...]:
  """'64,128' -> (64, 128), sorted; raises ConfigError(setting, ...)."""
  parts = [p.strip() for p in str(text).split(',') if p.strip()]
  try:
    lengths = sorted({int(p) for p in parts})
  except ValueError:
    lengths = []
  if not lengths or lengths[0] < 1 or len(lengths) != len(parts):
    raise ConfigError(setting, f'{text!r} is not a list of distinct positive integers; '
                      f"accepted: comma-separated sequence lengths such as '64,128,256'")
  return tuple(lengths)


def capability_tasks() -> list[str]:
  """The generated tasks that have an accuracy (not the regression task)."""
  return [t for t, task in TASKS.items() if task.kind != 'regression']


def parse_tasks(text) -> tuple[str, ...]:
  """'first_token,parity' -> ('first_token', 'parity'); raises ConfigError('study.tasks', ...).
  Accepted: `capability_tasks()`."""
  accepted = capability_tasks()
  names = tuple(dict.fromkeys(n.strip() for n in str(text).split(',') if n.strip()))
  unknown = [n for n in names if n not in accepted]
  if unknown:
    raise ConfigError('study.tasks', f'unknown task {unknown[0]!r}; accepted: a comma-separated '
                      f'list of {", ".join(accepted)} (or empty: no capability phase)')
  return names


def parse_task_lengths(text, tasks) -> dict[str, tuple[int, ...]]:
  """{task: lengths} from '16,64' (every task) or 'mqar=8,16;parity=8;16,64' (per task; a part
  without a task name serves the tasks not named); raises ConfigError('study.capability_lengths').
  """
  setting = 'study.capability_lengths'
  if not tasks:
    return {}  # no capability phase: the lengths of the tasks left out are not read
  named, default = {}, None
  for part in (p.strip() for p in str(text).split(';') if p.strip()):
    task, _, lengths = part.rpartition('=')
    if not task:
      default = parse_lengths(lengths, setting)
    elif task.strip() in named or task.strip() not in tasks:
      raise ConfigError(setting, f'{task.strip()!r} is not a task of study.tasks, or named twice; '
                        f"accepted: '16,64' or 'task=16,64;task2=8,16' with tasks of study.tasks")
    else:
      named[task.strip()] = parse_lengths(lengths, setting)
  missing = [t for t in tasks if t not in named and default is None]
  if missing:
    raise ConfigError(setting, f'no lengths for task {missing[0]!r}; accepted: lengths for every '
                      f"task of study.tasks, e.g. '16,64' or '{missing[0]}=16,64'")
  return {t: named.get(t, default) for t in tasks}


def parse_rates(text) -> tuple[float, ...]:
  """'1e-3,3e-3' -> (0.001, 0.003); raises ConfigError('study.learning_rates', ...)."""
  try:
    rates = tuple(float(p) for p in str(text).split(',') if p.strip())
  except ValueError:
    rates = ()
  if not rates or min(rates) <= 0 or len(set(rates)) != len(rates):
    raise ConfigError('study.learning_rates', f'{text!r} is not a list of distinct positive '
                      "numbers; accepted: comma-separated peak learning rates such as '1e-3,3e-3'")
  return rates


def data_config(config, length: int, task: str | None = None) -> ml_collections.ConfigDict:
  """`config.data` at `length` (and `task`, default `config.data.name`)."""
  data = config.data.copy_and_resolve_references()
  data.seq_len = length
  if task is not None:
    data.name = task
  return data


def family_model_config(config, model: str, hidden_size: int) -> ml_collections.ConfigDict:
  """The study's `config.model` for `model` at width `hidden_size`, `study.num_layers` layers.

  The softmax transformer's own settings (`registry.SOFTMAX_ATTENTION_SETTINGS`: the attention
  implementation and its dropout) do not reach linear attention, which forms no softmax weights:
  it keeps the registry's defaults, the only values it accepts.
  """
  model_config = config.model.copy_and_resolve_references()
  model_config.name = model
  model_config.num_layers = config.study.num_layers
  if model == 'linear_attention':
    defaults = model_config_defaults()
    for key in SOFTMAX_ATTENTION_SETTINGS:
      model_config[key] = defaults[key]
  return param_match.with_width(model_config, hidden_size, config.study.mlp_ratio)


def point_config(config, model: str, length: int, hidden_size: int, *, task: str | None = None,
                 max_len: int = 0) -> ml_collections.ConfigDict:
  """The training config of one point: `config` without the study keys, for one model and length
  (and `task`, default `config.data.name`), `study.num_layers` layers; `max_len` > 0 sizes the
  transformer's position table for longer evaluation splits."""
  point = config.copy_and_resolve_references()
  with point.unlocked():
    for key in settings.STUDY_KEYS:
      del point[key]
  point.experiment = 'train'
  point.model = family_model_config(config, model, hidden_size)
  if max_len:
    point.model.max_len = max_len
  point.data = data_config(config, length, task)
  return point


class Widths:
  """The matched width of each model on one task; re-matched at a length where the count drifts
  (e.g. a vocabulary or position table that grows with the length)."""

  def __init__(self, config):
    self.config = config
    self.width: dict[str, int] = {}

  def model_config(self, model: str, hidden_size: int) -> ml_collections.ConfigDict:
    """`family_model_config` of this study's config."""
    return family_model_config(self.config, model, hidden_size)

  def __call__(self, model: str, info) -> tuple[int, int]:
    study = self.config.study
    if model in self.width:
      params = param_match.count_params(self.model_config(model, self.width[model]), info)
      if abs(params - study.target_params) <= study.param_tolerance * study.target_params:
        return self.width[model], params
    hidden, params = param_match.match_width(self.model_config(model, 1), info,
                                             study.target_params, mlp_ratio=study.mlp_ratio,
                                             tolerance=study.param_tolerance)
    self.width[model] = hidden
    return hidden, params


class FixedWidth(Widths):
  """Every model at one width, whatever its parameter count (the frontier's points)."""

  def __init__(self, config, hidden_size: int):
    super().__init__(config)
    self.hidden_size = hidden_size

  def __call__(self, model: str, info) -> tuple[int, int]:
    return self.hidden_size, param_match.count_params(
        self.model_config(model, self.hidden_size), info)


def failure_status(error: BaseException) -> str:
  """'oom' for an out-of-memory error, else 'error: <type>: <first line>'."""
  text = str(error)
  if (isinstance(error, MemoryError) or 'RESOURCE_EXHAUSTED' in text
      or 'out of memory' in text.lower()):
    return 'oom'
  first = text.strip().splitlines()[0] if text.strip() else ''
  return f'error: {type(error).__name__}: {first[:160]}'


def measure_point(config, model: str, length: int, widths: Widths) -> dict:
  """One cost row: width and step cost (accuracy comes from the capability phase); failures
  become a status."""
  start = time.perf_counter()
  row = results_table.failed_row(model, length, 'ok', batch_size=config.train.batch_size)
  try:
    dataset = load_dataset(data_config(config, length), seed=config.seed)
    hidden, params = widths(model, dataset.info)
    row.update(hidden_size=hidden, num_params=params)
    point = point_config(config, model, length, hidden)
    row.update(step_cost.measure_step(point, build_model(point.model, dataset.info), dataset,
                                      warmup_steps=config.study.warmup_steps,
                                      timed_steps=config.study.timed_steps))
  except Exception as error:  # pylint: disable=broad-except  # recorded in the row, sweep goes on
    row['status'] = failure_status(error)
    progress.write(f'{model} L={length}: {row["status"]}\n{traceback.format_exc(limit=3)}')
  row['cell_s'] = time.perf_counter() - start
  return row


class CurveSetup(NamedTuple):
  """What one curve trains with, made before its training (`prepare_curve`): its training config,
  model, task info, protocol, rates, datasets ({(seed, length): dataset} and one per evaluation
  length), width and parameter count, and `capability.compile_programs`' (programs, seconds)."""
  point: ml_collections.ConfigDict
  model: object
  info: object
  protocol: capability.Protocol
  rates: tuple
  train_data: dict
  eval_data: list
  hidden_size: int
  num_params: int
  compiled: tuple


def eval_lengths_of(train_lengths, multipliers) -> tuple[int, ...]:
  """A curve's evaluation lengths: its training lengths, then `multipliers` x the longest."""
  return tuple(train_lengths) + tuple(m * train_lengths[-1] for m in multipliers)


def prepare_curve(config, task: str, model: str, train_lengths, widths: Widths,
                  multipliers=()) -> CurveSetup:
  """Loads one (task, model) curve's data, matches its width and compiles its programs: all but
  the training (`config`: the task's, `settings.per_task_config`)."""
  study = config.study
  eval_lengths = eval_lengths_of(train_lengths, multipliers)
  data = lambda length, seed: load_dataset(
      curve_data_config(config, task, length, eval_lengths[-1]), seed=seed)
  eval_data = [data(length, config.seed) for length in eval_lengths]
  info = eval_data[0].info
  hidden, params = widths(model, info)
  point = point_config(config, model, train_lengths[-1], hidden, task=task,
                       max_len=eval_lengths[-1])
  point.train.num_steps = study.max_steps  # the learning-rate schedule's length
  protocol = capability.Protocol(
      train_lengths=tuple(train_lengths), eval_lengths=eval_lengths,
      batch_size=config.train.batch_size, check_every=study.check_every,
      max_steps=study.max_steps, pilot_steps=study.pilot_steps,
      solve_accuracy=study.solve_accuracy)
  train_data = {(s, l): data(l, s) for s in settings.seeds_of(config) for l in train_lengths}
  network = build_model(point.model, info)
  compiled = capability.compile_programs(point, network, info, protocol, train_data, eval_data,
                                         EVAL_BATCH_SIZE)
  return CurveSetup(point, network, info, protocol, parse_rates(study.learning_rates),
                    train_data, eval_data, hidden, params, compiled)


def overlapped(items: Sequence, run: Callable, window: int = 2) -> Iterator[tuple[object, object]]:
  """Yields (item, `run(item)`) for each of `items`, in order, with up to `window` of them
  running at once on threads: the next curve loads its data and compiles (XLA compiles with
  Python's lock released) while the current one trains, and its members take the cores its
  last members leave idle (the curves in flight share one member pool); `run` raising raises
  here, at its item."""
  with concurrent.futures.ThreadPoolExecutor(max_workers=window) as pool:
    futures = [pool.submit(run, item) for item in items]
    for i, item in enumerate(items):
      yield item, futures[i].result()
      futures[i] = None  # its programs and data go with the curve


def capability_point(config, task: str, model: str, train_lengths, widths: Widths, *,
                     multipliers=(), pool: Executor | None = None):
  """The rows of one (task, model) curve, one per (seed, evaluation length), and (for the
  gradient-flow phase) its `capability.CurveResult` (None when the point failed): every seed
  trained once on `train_lengths`, evaluated at them and at `multipliers` x the longest
  (`capability`; its members on `pool`'s threads). `config` is the task's
  (`settings.per_task_config`). `cell_s` is the curve's seconds, from loading its data to its
  last member; curves in flight overlap (`overlapped`)."""
  start = time.perf_counter()
  study, seeds = config.study, settings.seeds_of(config)
  eval_lengths = eval_lengths_of(train_lengths, multipliers)
  base = {c: math.nan for c in results_table.CAPABILITY_COLUMNS}
  base.update(task=task, model=model, num_layers=study.num_layers,
              batch_size=config.train.batch_size, max_steps=study.max_steps,
              train_lengths=results_table.lengths_text(train_lengths), learning_rates='',
              best_accuracy_by_lr='')
  result = None
  try:
    curve = prepare_curve(config, task, model, train_lengths, widths, multipliers)
    base.update(hidden_size=curve.hidden_size, num_params=curve.num_params)
    result = capability.measure_curve(
        curve.point, curve.model, curve.info, curve.protocol, seeds=seeds, rates=curve.rates,
        train_data=curve.train_data, eval_data=curve.eval_data, eval_batch_size=EVAL_BATCH_SIZE,
        compiled=curve.compiled, pool=pool)
    per_length = {l: dict(guessing_accuracy=d.guessing_accuracy,
                          state_bytes=capability.state_bytes(curve.point.model, l))
                  for l, d in zip(eval_lengths, curve.eval_data)}
    rows = [{**base, **per_length[r['seq_len']], **r, 'status': 'ok'}
            for r in capability.curve_rows(result, curve.protocol, curve.rates)]
  except Exception as error:  # pylint: disable=broad-except  # recorded in the rows, study goes on
    status = failure_status(error)
    progress.write(f'{task} {model} L={results_table.lengths_text(train_lengths)}: {status}\n'
                   f'{traceback.format_exc(limit=3)}')
    rows = [{**base, 'seed': s, 'seq_len': l, 'trained': int(l in train_lengths),
             'status': status} for s in seeds for l in eval_lengths]
  for row in rows:
    row['cell_s'] = time.perf_counter() - start
  return rows, result


def member_pool(config) -> concurrent.futures.ThreadPoolExecutor:
  """The threads the members of a phase's curves train on, `study.parallel_members` of them:
  that many members train at a time, whichever curve in flight they belong to."""
  return concurrent.futures.ThreadPoolExecutor(max_workers=config.study.parallel_members)


def curve_data_config(config, task: str, length: int, longest: int) -> ml_collections.ConfigDict:
  """`task`'s data at `length`, its vocabulary pinned at its size at `longest` (one model reads
  every length of a curve: `generated.vocabulary_of`)."""
  data = generated.vocabulary_of(data_config(config, longest, task), longest)
  data.seq_len = length
  return data


def models_without_flow(workdir: str, models) -> set[str]:
  """The models whose gradient flow `DIR/grad_flow.csv` lacks (at init or trained): a run killed
  between the capability and gradient-flow phases left their points final but unprobed."""
  rows = results_table.read_rows(os.path.join(workdir, results_table.GRAD_FLOW_FILE),
                                 capability_report.GRAD_FLOW_COLUMNS)
  done = {m for m in models if {'init', 'trained'} <= {r['stage'] for r in rows
                                                       if r['model'] == m}}
  return set(models) - done


def curve_finished(rows, train_lengths, num_rows: int) -> bool:
  """Whether a curve's rows are all there (`num_rows`: seeds x evaluation lengths), final, and
  trained on `train_lengths` (a curve of other lengths is trained again)."""
  lengths = results_table.lengths_text(train_lengths)
  return results_table.finished(rows, num_rows) and all(r['train_lengths'] == lengths
                                                        for r in rows)


def multipliers_of(config) -> tuple[int, ...]:
  """`study.extrapolate`: '2,4' -> (2, 4); '' -> (); raises ConfigError for a multiple below 2."""
  if not str(config.study.extrapolate).strip():
    return ()
  multipliers = parse_lengths(config.study.extrapolate, 'study.extrapolate')
  if multipliers[0] < 2:
    raise ConfigError('study.extrapolate', f'{config.study.extrapolate!r}: 1 x the longest '
                      "training length is trained on; accepted: multiples >= 2 such as '2,4', "
                      "or '' for none")
  return multipliers


def run_capability(config, workdir: str, tasks, models, lengths: dict, *,
                   on_point: Callable = lambda done, total: None) -> tuple[list[dict], dict]:
  """Phase 2: the curve of every (task, model) not yet final in `DIR/capability.csv` (`lengths`:
  {task: training lengths}), and those of the models without gradient-flow rows on
  `study.gradient_flow_task` (trained again: the probe needs their parameters; training is
  deterministic, so their rows come out the same). `on_point(done, total)` after each curve.

  Returns:
    All rows, and {model: CurveResult} of this invocation's gradient-flow curves.
  """
  path = os.path.join(workdir, results_table.CAPABILITY_FILE)
  columns = results_table.CAPABILITY_COLUMNS
  points = {}
  for row in results_table.read_rows(path, columns):
    points.setdefault((row['task'], row['model']), []).append(row)
  multipliers = multipliers_of(config)
  flow_task = config.study.gradient_flow_task
  unprobed = models_without_flow(workdir, models) if flow_task in tasks else set()
  task_configs = {t: settings.per_task_config(config, t) for t in tasks}
  size = lambda t: task_configs[t].study.seeds * (len(lengths[t]) + len(multipliers))
  todo = [(t, m) for t in tasks for m in models
          if not curve_finished(points.get((t, m), []), lengths[t], size(t))
          or (t == flow_task and m in unprobed)]
  rank = lambda t: tasks.index(t) if t in tasks else len(tasks)
  order = lambda r: (rank(r['task']), r['task'], *results_table.sort_key(r, models), r['seed'])
  ordered = lambda: sorted((r for c in points.values() for r in c), key=order)
  flow, widths = {}, {t: Widths(task_configs[t]) for t in tasks}
  with member_pool(config) as pool:
    curve = lambda point: capability_point(task_configs[point[0]], *point, lengths[point[0]],
                                           widths[point[0]], multipliers=multipliers, pool=pool)
    bar = progress.bar(overlapped(todo, curve), total=len(todo), unit='curve', desc='capability')
    for done, ((task, model), (points[task, model], result)) in enumerate(bar):
      bar.set_description(f'{task} {model} L={results_table.lengths_text(lengths[task])}')
      if result is not None and task == flow_task:
        flow[model] = result
      results_table.write_rows(path, ordered(), columns)
      on_point(done + 1, len(todo))
    bar.close()
  return ordered(), flow


def parse_frontier(config, models) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
  """(task, lengths, widths) of the frontier phase (no lengths: no phase); raises ConfigError."""
  study = config.study
  if not str(study.frontier_lengths).strip():
    return study.frontier_task, (), ()
  names = parse_tasks(study.frontier_task)
  if len(names) != 1:
    raise ConfigError('study.frontier_task', f'{study.frontier_task!r}: accepted: one task of '
                      f'{", ".join(capability_tasks())}')
  task, = names
  widths = parse_lengths(study.frontier_widths, 'study.frontier_widths')
  step = config.model.num_heads
  if any(m in TRANSFORMER_FAMILIES for m in models) and any(w % step for w in widths):
    raise ConfigError('study.frontier_widths', f'{study.frontier_widths!r}: the attention models '
                      f'need widths that are multiples of model.num_heads={step}')
  return task, parse_lengths(study.frontier_lengths, 'study.frontier_lengths'), widths


def run_frontier(config, workdir: str, models, task: str, lengths, widths, *,
                 on_point: Callable = lambda done, total: None) -> list[dict]:
  """Phase 2b, the state-size frontier: every model at each of `widths` (its state grows with
  the width; the transformer's KV cache with the length too), one curve each over `lengths`,
  `study.frontier_seeds` seeds, trained as the capability phase trains (the task's budget and
  rates) -> `DIR/frontier.csv` (capability.csv's columns, a row per evaluation length). Curves
  already final are kept, and those the capability phase trained (`DIR/capability.csv`: the
  same task, lengths and width) are not trained again: they are points of the frontier as they
  stand (`frontier_report.with_matched_points`)."""
  path = os.path.join(workdir, results_table.FRONTIER_FILE)
  columns = results_table.CAPABILITY_COLUMNS
  points = {}
  for row in results_table.read_rows(path, columns):
    points.setdefault((row['model'], row['hidden_size']), []).append(row)
  trained = frontier_report.matched_widths(results_table.read_rows(
      os.path.join(workdir, results_table.CAPABILITY_FILE), columns), task, lengths)
  task_config = settings.per_task_config(config, task).copy_and_resolve_references()
  task_config.study.seeds = config.study.frontier_seeds
  size = task_config.study.seeds * len(lengths)
  todo = [(m, w) for m in models for w in widths if (m, w) not in trained
          and not curve_finished(points.get((m, w), []), lengths, size)]
  order = lambda r: (*results_table.sort_key(r, models), r['hidden_size'], r['seed'])
  ordered = lambda: sorted((r for c in points.values() for r in c), key=order)
  with member_pool(config) as pool:
    curve = lambda point: capability_point(task_config, task, point[0], lengths,
                                           FixedWidth(task_config, point[1]), pool=pool)[0]
    bar = progress.bar(overlapped(todo, curve), total=len(todo), unit='curve', desc='frontier')
    for done, ((model, width), points[model, width]) in enumerate(bar):
      bar.set_description(f'frontier {model} width={width}')
      results_table.write_rows(path, ordered(), columns)
      on_point(done + 1, len(todo))
    bar.close()
  return ordered()


def run_gradient_flow(workdir: str, flow: dict) -> tuple[list[dict], list[dict]]:
  """Phase 3: gradient flow at initialisation and after training of the points in `flow` (seed
  `seed`, its chosen learning rate), replacing those models' rows in the two CSVs."""
  files = ((results_table.GRAD_FLOW_FILE, capability_report.GRAD_FLOW_COLUMNS),
           (results_table.GRAD_DECAY_FILE, capability_report.GRAD_DECAY_COLUMNS))
  measured = {m: gradient_flow.measure(m, r.model, r.kind, r.probe_batch,
                                       {'init': r.init_params, 'trained': r.params})
              for m, r in flow.items()}
  out = []
  for (name, columns), part in zip(files, ('rows', 'decays')):
    path = os.path.join(workdir, name)
    rows = [r for r in results_table.read_rows(path, columns) if r['model'] not in flow]
    rows += [r for m in measured.values() for r in getattr(m, part)]
    results_table.write_rows(path, rows, columns)
    out.append(rows)
  return out[0], out[1]


def run_inference(config, workdir: str, models, widths: Widths) -> list[dict]:
  """Phase 4: ms per generated token and carried-state bytes of the LM form of each model not
  yet in `DIR/inference.csv`, at the cost sweep's matched width."""
  path = os.path.join(workdir, results_table.INFERENCE_FILE)
  columns = capability_report.INFERENCE_COLUMNS
  rows = results_table.read_rows(path, columns)
  done = {r['model'] for r in rows}
  contexts = parse_lengths(config.study.inference_lengths, 'study.inference_lengths')
  info = load_dataset(data_config(config, config.data.seq_len), seed=config.seed).info
  for model in (m for m in models if m not in done):
    hidden, _ = widths(model, info)
    model_config = point_config(config, model, config.data.seq_len, hidden).model
    rows += inference_cost.measure_config(model, model_config, contexts,
                                          vocab_size=info.vocab_size,
                                          repeats=config.study.inference_repeats)
    results_table.write_rows(path, rows, columns)
  return rows


def synchronous_cpu_dispatch():
  """Turns JAX's asynchronous CPU dispatch off for this process (it takes effect where the CPU
  client is not created yet, as in `python launch.py`).

  The study blocks on every timed step anyway, so it costs nothing, and one fewer runtime
  mechanism is in play under its timings (jax-ml/jax#25861 reports CPU hangs with async
  dispatch on). It is not what keeps the study from hanging: `capability.init_members` is. The
  committed results were measured with it.
  """
  jax.config.update('jax_cpu_enable_async_dispatch', False)


class Plan(NamedTuple):
  """The study's parsed settings: what it measures, in which order."""
  models: tuple
  lengths: tuple
  tasks: tuple
  capability_lengths: dict
  frontier: tuple  # (task, lengths, widths); no lengths: no frontier phase


def parse_plan(config) -> Plan:
  """Every study setting parsed and checked; raises ConfigError before anything is measured."""
  models, lengths = parse_models(config.models), parse_lengths(config.lengths)
  tasks = parse_tasks(config.study.tasks)
  plan = Plan(models, lengths, tasks, parse_task_lengths(config.study.capability_lengths, tasks),
              parse_frontier(config, models))
  parse_rates(config.study.learning_rates)
  multipliers_of(config)
  if config.study.inference_lengths:
    parse_lengths(config.study.inference_lengths, 'study.inference_lengths')
  settings.validate(config)
  settings.validate_per_task(config, capability_tasks())
  for task, task_lengths in plan.capability_lengths.items():
    settings.validate_split(settings.per_task_config(config, task), 'study.capability_lengths',
                            len(task_lengths))
  frontier_task, frontier_lengths, _ = plan.frontier
  if frontier_lengths:
    settings.validate_split(settings.per_task_config(config, frontier_task),
                            'study.frontier_lengths', len(frontier_lengths))
  return plan


# The phases in the order they run (docstring of this module).
PHASES = ('cost', 'capability', 'frontier', 'gradient flow', 'inference')


class StudyRun:
  """One invocation: the phases' seconds, and report.md and the plots rewritten from the files so
  far after every phase (and every `report_every_s` within a phase), with a line on what is
  still running and its ETA. `dataset`: the cost task at the first length, loaded once (the
  widths are matched on it and the report reads its guessing level)."""

  def __init__(self, config, workdir: str, plan: Plan, report_every_s: float = 60.0):
    self.config, self.workdir, self.plan = config, workdir, plan
    self.dataset = load_dataset(data_config(config, plan.lengths[0]), seed=config.seed)
    self.start = time.perf_counter()
    self.phase_s: dict = {}
    self.points_measured = 0
    self.report_every_s, self.last_report = report_every_s, -math.inf
    skipped = {'frontier': not plan.frontier[1], 'inference': not config.study.inference_lengths}
    self.planned = [p for p in PHASES if not skipped.get(p)]

  def phase(self, name: str, fn: Callable, *args, points: bool = False):
    """Runs phase `name`, `fn(*args)` (`fn(*args, on_point=...)` if it measures `points`: it
    calls `on_point(done, total)` after each), times it and rewrites the report."""
    begin = time.perf_counter()
    later = ', '.join(self.planned[self.planned.index(name) + 1:])

    def on_point(done: int, total: int):
      now = time.perf_counter()
      if done < total and now - self.last_report >= self.report_every_s:
        left = (now - begin) / done * (total - done)
        self.report(f'{name} ({done} of {total} done, about {left / 60:.1f} min left)'
                    + (f'; then {later}' if later else ''))

    out = fn(*args, on_point=on_point) if points else fn(*args)
    self.phase_s[name] = time.perf_counter() - begin
    self.report(later)
    return out

  def report(self, running: str):
    """report.md and the plots from the workdir's files; `running`: what is still to come."""
    study_report.write_outputs(self.config, self.workdir, self.plan, self.dataset,
                               running=running, wall_s=time.perf_counter() - self.start,
                               phase_s=dict(self.phase_s), points_measured=self.points_measured)
    self.last_report = time.perf_counter()



def run_cost(config, workdir: str, plan: Plan, widths: Widths, *,
             on_point: Callable = lambda done, total: None) -> int:
  """Phase 1: every (model, length) cost row not yet final -> `DIR/results.csv`; returns how many
  were measured. `on_point(done, total)` after each."""
  path = os.path.join(workdir, results_table.RESULTS_FILE)
  rows = {(r['model'], r['seq_len']): r for r in results_table.read_rows(path)}
  todo = [(m, l) for m in plan.models for l in plan.lengths
          if (m, l) not in rows or not results_table.is_final(rows[m, l])]
  order = lambda r: results_table.sort_key(r, plan.models)
  bar = progress.bar(todo, unit='point', desc='seq_len_scaling')
  for done, (model, length) in enumerate(bar):
    bar.set_description(f'{model} L={length}')
    rows[model, length] = measure_point(config, model, length, widths)
    results_table.write_rows(path, sorted(rows.values(), key=order))
    on_point(done + 1, len(todo))
  bar.close()
  return len(todo)


def run(config, workdir: str) -> list[dict]:
  """Runs the study in `workdir` (see the module docstring); returns the rows of results.csv."""
  synchronous_cpu_dispatch()
  plan = parse_plan(config)
  os.makedirs(workdir, exist_ok=True)
  settings.check_workdir(config, workdir, has_rows=os.path.exists(
      os.path.join(workdir, results_table.RESULTS_FILE)))
  study = StudyRun(config, workdir, plan)
  widths = Widths(config)
  for model in plan.models:  # bad settings fail here, before anything is measured
    widths(model, study.dataset.info)
  study.points_measured = study.phase('cost', run_cost, config, workdir, plan, widths,
                                      points=True)
  _, flow = study.phase('capability', run_capability, config, workdir, plan.tasks, plan.models,
                        plan.capability_lengths, points=True)
  frontier_task, frontier_lengths, frontier_widths = plan.frontier
  if frontier_lengths:
    study.phase('frontier', run_frontier, config, workdir, plan.models, frontier_task,
                frontier_lengths, frontier_widths, points=True)
  study.phase('gradient flow', run_gradient_flow, workdir, flow)
  if config.study.inference_lengths:
    study.phase('inference', run_inference, config, workdir, plan.models, widths)
  rows = results_table.read_rows(os.path.join(workdir, results_table.RESULTS_FILE))
  print(f'{workdir}: {study.points_measured} cost point(s) measured, {len(rows)} rows; '
        f'report.md and the plots written in {time.perf_counter() - study.start:.0f} s')
  return rows


