"""The capability half of the sequence-length study's report: what each family learns, why it stops
(gradient flow) and what it costs to run (inference), as markdown lines generated from the CSVs.

Aggregates over seeds are the mean and the min..max spread, never the best seed alone. A family
"solves" a (task, length) when EVERY seed's chosen member reached the solve accuracy.
"""
import math
from typing import Sequence

import numpy as np

from attn_jax.tables import markdown_table

GRAD_FLOW_COLUMNS = ('model', 'seq_len', 'stage', 'distance', 'grad_norm')
GRAD_DECAY_COLUMNS = ('model', 'seq_len', 'stage', 'decay_per_step', 'fit_first', 'fit_last',
                      'fit_points')
INFERENCE_COLUMNS = ('model', 'context_len', 'batch_size', 'ms_per_token', 'state_bytes')

# Each family's initialisation (attn_jax/models/recurrent.py, minrnn.py, transformer.py,
# linear_attention.py).
INITIALISATION = {
    'rnn': 'orthogonal W_h (Saxe et al. 2014), zero biases',
    'lstm': 'orthogonal W_h, forget-gate bias 1 (Jozefowicz et al. 2015)',
    'gru': 'orthogonal W_h, chrono-initialised update-gate bias (Tallec & Ollivier 2018)',
    'mingru': 'chrono-initialised gate bias (Tallec & Ollivier 2018); gates depend on x_t only, '
              'parallel scan over time (Feng et al. 2024)',
    'minlstm': 'chrono-initialised forget-gate bias; gates depend on x_t only, parallel scan '
               'over time (Feng et al. 2024)',
    'mamba': 'the reference implementation\'s: A_n = -(n + 1) (S4D-real), softplus(dt bias) '
             'log-uniform on [1e-3, 1e-1], D = 1 (Gu & Dao 2023); selective scan in parallel form, '
             'transition exp(Delta A) in (0, 1]',
    'transformer': 'Flax defaults (LeCun-normal dense layers), pre-LN',
    'linear_attention': "the transformer's (Flax defaults, pre-LN); feature map elu(x) + 1 "
                        '(Katharopoulos et al. 2020)',
}


def _finite(values) -> list[float]:
  return [float(v) for v in values if not (isinstance(v, float) and math.isnan(v))]


def _ok(rows) -> list[dict]:
  return [r for r in rows if r['status'] == 'ok']


CAPABILITY_HEADER = ('task', 'model', 'L', 'params', 'state/KV bytes per sequence',
                     'lr chosen (pilot)', 'solved seeds', 'steps to solve',
                     's to solve (per run)', 'final accuracy', 'guessing level',
                     'pilot accuracy per lr')
# Right-aligned: every column but the names, the chosen rates and the per-rate accuracies.
CAPABILITY_NUMBERS = CAPABILITY_HEADER[2:5] + CAPABILITY_HEADER[6:11]
EXTRAPOLATION_HEADER = ('model', 'L', 'accuracy at L', 'at 2L', 'at 4L', 'guessing level')
DECAY_HEADER = ('model', 'L', 'per-step factor at init', 'after training',
                'gradient at distance L-1 relative to distance 1, at init / trained')


def trained(row) -> bool:
  """Whether the row's length was trained on (not an extrapolation length of its curve)."""
  return row.get('trained', 1) == 1


def seeds_by_point(rows) -> dict:
  """{(task, model, seq_len): [rows of its seeds]} of the rows whose status is ok."""
  out = {}
  for r in _ok(rows):
    out.setdefault((r['task'], r['model'], r['seq_len']), []).append(r)
  return out


def solved_everywhere(seeds: Sequence[dict]) -> bool:
  return bool(seeds) and all(not math.isnan(float(r['steps_to_solve'])) for r in seeds)


def spread(values, fmt='{:.3f}') -> str:
  """'0.912 [0.85..0.99]' (mean [min..max]) of the finite values; '-' if none."""
  values = _finite(values)
  if not values:
    return '-'
  mean = fmt.format(float(np.mean(values)))
  if len(values) == 1 or min(values) == max(values):
    return mean
  return f'{mean} [{fmt.format(min(values))}..{fmt.format(max(values))}]'


def mean_final_accuracy(rows, task: str) -> dict:
  """{(model, seq_len): mean over seeds of final held-out accuracy} of `task`'s points."""
  return {(m, l): float(np.mean(_finite(r['final_accuracy'] for r in seeds) or [math.nan]))
          for (t, m, l), seeds in seeds_by_point(rows).items() if t == task}


def format_bytes(value) -> str:
  value = float(value)
  if math.isnan(value):
    return '-'
  for unit, size in (('MiB', 2**20), ('KiB', 2**10)):
    if value >= size:
      return f'{value / size:.1f} {unit}'
  return f'{value:.0f} B'


def capability_table(rows, tasks, models) -> list[str]:
  """One line per (task, model, length) point, then one per failed seed."""
  by_point = seeds_by_point(rows)
  table = [_capability_entry(key, by_point[key]) for task in tasks for model in models
           for key in sorted((k for k in by_point if k[:2] == (task, model)), key=lambda k: k[2])]
  table += [{'task': r['task'], 'model': r['model'], 'L': r['seq_len'],
             'solved seeds': f"seed {r['seed']}: {r['status']}"}
            for r in rows if r['status'] != 'ok']
  return markdown_table(table, CAPABILITY_HEADER, right=CAPABILITY_NUMBERS).split('\n')


def _capability_entry(point: tuple, seeds: list[dict]) -> dict:
  """A point's line of the capability table: the first seed's shape, the seeds' spreads."""
  task, model, length = point
  solved = sum(not math.isnan(float(r['steps_to_solve'])) for r in seeds)
  return {'task': task, 'model': model, 'L': length if trained(seeds[0]) else f'{length}*', 'params': f"{seeds[0]['num_params']:,}",
          'state/KV bytes per sequence': format_bytes(seeds[0]['state_bytes']),
          'lr chosen (pilot)': f'{seeds[0]["learning_rate"]:g}',
          'solved seeds': f'{solved}/{len(seeds)}',
          'steps to solve': spread([r['steps_to_solve'] for r in seeds], '{:.0f}'),
          's to solve (per run)': spread([r['seconds_to_solve'] for r in seeds], '{:.1f}'),
          'final accuracy': spread([r['final_accuracy'] for r in seeds]),
          'guessing level': _level(seeds[0]),
          'pilot accuracy per lr': seeds[0]['best_accuracy_by_lr']}


def extrapolation_table(rows, tasks, models) -> list[str]:
  """Accuracy at the training length L and on the 2L / 4L splits, for tasks that have them."""
  lines = []
  by_point = seeds_by_point(rows)
  for task in tasks:
    task_points = {k: v for k, v in by_point.items() if k[0] == task
                   and _finite(r['accuracy_2x'] for r in v)}
    if not task_points:
      continue
    table = [{'model': m, 'L': l, 'accuracy at L': spread([r['final_accuracy'] for r in seeds]),
              'at 2L': spread([r['accuracy_2x'] for r in seeds]),
              'at 4L': spread([r['accuracy_4x'] for r in seeds]),
              'guessing level': _level(seeds[0])}
             for model in models
             for (_, m, l), seeds in sorted(task_points.items(), key=lambda kv: kv[0][2])
             if m == model]
    lines += [f'`{task}`: the accuracy of one curve\'s model (final parameters) at L, 2L and 4L, '
              'where those lengths were evaluated.', '',
              *markdown_table(table, EXTRAPOLATION_HEADER,
                              right=EXTRAPOLATION_HEADER[1:]).split('\n'), '']
  return lines


def decay_table(decays) -> list[str]:
  """Per (model, length): the fitted per-step gradient decay at init and after training."""
  by_model = {}
  for d in decays:
    by_model.setdefault((d['model'], d['seq_len']), {})[d['stage']] = d['decay_per_step']
  table = []
  for (model, length), stages in by_model.items():
    init, trained = stages.get('init', math.nan), stages.get('trained', math.nan)
    ratio = lambda r: '-' if math.isnan(r) else f'{r ** (length - 2):.2g}'
    table.append({'model': model, 'L': length, 'per-step factor at init': f'{init:.3f}',
                  'after training': f'{trained:.3f}',
                  DECAY_HEADER[4]: f'{ratio(init)} / {ratio(trained)}'})
  return markdown_table(table, DECAY_HEADER, right=DECAY_HEADER[1:]).split('\n')


def inference_table(rows) -> list[str]:
  """ms per generated token and state bytes, one line per model, one column per context."""
  contexts = sorted({r['context_len'] for r in rows})
  models = list(dict.fromkeys(r['model'] for r in rows))
  at = {(r['model'], r['context_len']): r for r in rows}
  entry = lambda m, n: (f"{at[m, n]['ms_per_token']:.3f} ms, "
                        f"{format_bytes(at[m, n]['state_bytes'])}" if (m, n) in at else '-')
  columns = [f'N={n}' for n in contexts]
  table = [{'model': m, **{f'N={n}': entry(m, n) for n in contexts}} for m in models]
  return markdown_table(table, ['model', *columns], right=columns).split('\n')


def _nearest(rows, model, column, length):
  """The row of `model` whose `column` is closest to `length` (log scale), or None."""
  mine = [r for r in rows if r['model'] == model and r.get('status', 'ok') == 'ok']
  return min(mine, key=lambda r: abs(math.log(r[column] / length)), default=None)


def _level(row) -> str:
  """The row's guessing level ('-' where the task states none)."""
  value = float(row.get('guessing_accuracy', math.nan))
  return '-' if math.isnan(value) else f'{value:.3f}'


def task_reading(rows, task, models, *, cost_rows, inference_rows) -> list:
  """Per family: the longest length solved in every seed, its training time, memory and decode
  cost; where it stops, what it reached (beside the task's guessing level there)."""
  by_point = seeds_by_point(rows)
  lengths = sorted({l for (t, _, l) in by_point if t == task})
  lines = []
  for model in models:
    mine = {l: by_point[task, model, l] for l in lengths if (task, model, l) in by_point}
    if not mine:
      continue
    solved = [l for l, seeds in mine.items() if solved_everywhere(seeds)]
    if not solved:
      best_l = max(mine, key=lambda l: np.mean(_finite(r['final_accuracy'] for r in mine[l])))
      lines.append(f'- {model}: solves no length in every seed (threshold held-out accuracy; '
                   f'lengths {", ".join(map(str, mine))}); its best mean final accuracy is '
                   f'{spread([r["final_accuracy"] for r in mine[best_l]])} at L={best_l} '
                   f'(guessing level {_level(mine[best_l][0])}).')
      continue
    top = max(solved)
    seeds = mine[top]
    cost = next((r for r in cost_rows if r['model'] == model and r['seq_len'] == top
                 and r['status'] == 'ok'), None)
    decode = _nearest(inference_rows, model, 'context_len', top)
    price = [f'{spread([r["steps_to_solve"] for r in seeds], "{:.0f}")} steps / '
             f'{spread([r["seconds_to_solve"] for r in seeds], "{:.1f}")} s of training per run']
    if cost is not None:
      price.append(f'train step {cost["step_ms"]:.1f} ms and {cost["peak_memory_bytes"] / 2**20:.1f}'
                   f' MiB at batch {cost["batch_size"]}')
    price.append(f'{format_bytes(seeds[0]["state_bytes"])} of state/KV cache per sequence')
    if decode is not None:
      price.append(f'{decode["ms_per_token"]:.3f} ms per generated token at context '
                   f'{decode["context_len"]}')
    gaps = [l for l in mine if l < top and l not in solved]
    beyond = [l for l in mine if l > top]
    tail = ''
    if beyond:
      first = beyond[0]
      n = sum(not math.isnan(float(r['steps_to_solve'])) for r in mine[first])
      tail = (f'; at L={first}: {n}/{len(mine[first])} seeds solved, final accuracy '
              f'{spread([r["final_accuracy"] for r in mine[first]])} (guessing level '
              f'{_level(mine[first][0])})')
    elif top == lengths[-1]:
      tail = '; that is the longest length measured'
    if gaps:
      tail += f' (not in every seed at the shorter L={", ".join(map(str, gaps))})'
    lines.append(f'- {model}: longest length solved in every seed L={top} ('
                 + '; '.join(price) + ')' + tail + '.')
  return lines


def flow_reading(decays) -> list[str]:
  """One sentence per model: how much of the gradient survives the whole length, trained."""
  lines = []
  for d in decays:
    if d['stage'] != 'trained' or math.isnan(d['decay_per_step']):
      continue
    r, length = d['decay_per_step'], d['seq_len']
    what = ('shrinks' if r < 0.98 else 'grows' if r > 1.02 else 'stays about level')
    lines.append(f'- {d["model"]} (trained, L={length}): the gradient reaching back {what} by a '
                 f'factor {r:.3f} per step, {r ** (length - 2):.2g} over the {length - 2} steps '
                 f'from distance 1 to L-1.')
  return lines


def fairness_lines(study: dict, models, rows) -> list[str]:
  """Every setting that is the same for all families, and every one that differs."""
  widths = {}
  for r in _ok(rows):
    widths.setdefault(r['model'], set()).add((r['task'], r['hidden_size'], r['num_params']))
  width_text = '; '.join(
      f'{m}: ' + ', '.join(f'{t} width {h} ({p:,} params)' for t, h, p in sorted(widths[m]))
      for m in models if m in widths)
  return [
      f'- Same for every family: {study["num_layers"]} layers; parameter budget '
      f'{study["target_params"]:,} (within {100 * study["param_tolerance"]:.0f}%) per task; '
      f'batch {study["batch_size"]}; fresh samples every step; the optimizer '
      f'({study["optimizer"]}); the learning-rate grid {study["learning_rates"]} (one rate per '
      f'family and task, from a {study["pilot_steps"]}-step pilot); up to {study["max_steps"]} '
      f'steps, trained on the lengths of the curve, held-out accuracy checked every '
      f'{study["check_every"]} steps on {study["num_eval_examples"]} examples, solved at '
      f'>= {study["solve_accuracy"]}; seeds {study["seeds"]}.',
      *per_task_lines(study.get('per_task', {})),
      f'- Differ: the width (to match the budget): {width_text}.',
      f'- Differ: the transformer alone has {study["transformer_settings"]}.',
      '- Differ: each family\'s standard initialisation: ' + '; '.join(
          f'{m}: {INITIALISATION[m]}' for m in models if m in INITIALISATION) + '.',
      '- Differ: the learning rate each family\'s pilot chose (in the table).',
      *left_out_lines(study.get('left_out', ())),
  ]


def left_out_lines(families) -> list[str]:
  """Where to find the study's families this run left out (`config.models`)."""
  if not families:
    return []
  names = ', '.join(families)
  return [f'- Not in this run: {names} (add them with `--config.models=...`; the `gpu` '
          'variant has Mamba, and experiments/results/seq_len_scaling_cpu/README.md has Mamba '
          'measured with the default\'s settings).']


def per_task_lines(per_task: dict) -> list[str]:
  """One line naming the settings a task sets for itself (`study.per_task`), if any."""
  if not per_task:
    return []
  text = '; '.join(f'`{task}`: ' + ', '.join(f'{k} {v}' for k, v in sorted(settings.items()))
                   for task, settings in sorted(per_task.items()))
  return [f'- Per task, for every family on it (these replace the settings above): {text}.']


def capability_sections(rows, *, tasks, models, study: dict, cost_rows, decays,
                        inference_rows, plots: Sequence[str]) -> list[str]:
  """The report's capability, extrapolation, gradient-flow and inference sections."""
  lines = ['## Capability: what each family learns as the length grows', '',
           'Protocol: length curves from one training (Zoology, Arora et al. 2024; Deletang et '
           'al. 2023). Per (task, family, seed) ONE model is trained on a mixture of lengths '
           '(each chunk of steps cycles through the training lengths, every batch of one length, '
           'every length seen equally) and its held-out accuracy is read at every training '
           'length at every check, and once, after its last step, at multiples of the longest '
           '(lengths marked * were never trained on: extrapolation). It trains until every '
           'training length reached '
           f'{study["solve_accuracy"]} at one check (every {study["check_every"]} steps) or '
           f'{study["max_steps"]} steps were spent. Learning rate: with several rates, a pilot '
           f'trains the first seed at each rate of {study["learning_rates"]} for '
           f'{study["pilot_steps"]} steps; the rate that solved first, else the best mean '
           'held-out accuracy over the training lengths, is the rate of every seed (the pilot\'s '
           'member at that rate continues; the others stop). Values are mean [min..max] over '
           'seeds; "steps to solve" at a length is the first check at which that length reached '
           'the threshold, "s to solve" the member\'s training seconds up to it (compiling and '
           f'evaluation excluded; {study["parallel_members"]} member(s) train at a time, each '
           'on a thread, and two curves are in flight, so these seconds include sharing the '
           'cores). Fixed-length training (one model per length) was dropped: a curve answers '
           'the same question at every length at the price of one training, and it adds what '
           'fixed lengths could not, the accuracy beyond the trained lengths.',
           '', *[f'- `{t}`: {study["task_descriptions"].get(t, "")}' for t in tasks], '',
           *capability_table(rows, tasks, models), '',
           '### Fair comparison: the settings', '', *fairness_lines(study, models, rows), '']
  extrapolation = extrapolation_table(rows, tasks, models)
  if extrapolation:
    lines += ['## Length extrapolation', '', *extrapolation]
  lines += ['## Gradient flow: why recurrent models forget', '']
  if decays:
    lines += [f'The norm of the gradient of the loss at the last position with respect to the '
              f'input embedding at every position t (mean over a held-out batch), against the '
              f'distance L-1-t, at initialisation and after training, for seed '
              f'{study["seeds"][0]}\'s chosen member on `{study["gradient_flow_task"]}` at the '
              f'longest capability length. The per-step factor is exp(slope) of a least-squares '
              f'line through log norm against distance (`gradient_flow.fit_decay`).', '',
              *decay_table(decays), '', *flow_reading(decays), '']
  else:
    lines += ['Not measured in this workdir (no gradient-flow point: '
              f'`{study["gradient_flow_task"]}` is not among the tasks).', '']
  lines += ['## Inference: the cost of generating one token', '']
  if inference_rows:
    lines += ['Each model\'s language-model form at the cost sweep\'s matched width generates one '
              'token after a context of N tokens (median ms of a jitted one-token step; batch 1) '
              'and carries this many bytes of state (recurrent state vs KV cache):', '',
              *inference_table(inference_rows), '']
  else:
    lines += ['Not measured (`study.inference_lengths` is empty).', '']
  lines += ['## Reading: capability (generated from this run\'s numbers)', '']
  for task in tasks:
    lines += [f'`{task}` (the lengths trained on):', '',
              *task_reading([r for r in rows if trained(r)], task, models, cost_rows=cost_rows,
                            inference_rows=inference_rows), '']
  if decays:
    lines += ['Why (gradient flow):', '', *flow_reading(decays), '']
  lines += [f'![{p}]({p})' for p in plots] + ['']
  return lines
