"""The sequence-length study's `report.md`: the table, fitted growth exponents, the platform and a
reading generated from the numbers of the run (no fixed prose about the results).

Growth exponents are least-squares slopes on log-log axes, `log y = b log L + log a`, over the
lengths where the length-dependent cost dominates: by default the upper half of the measured
lengths (from the median length up), where fixed per-step costs (optimizer update, dispatch)
weigh least.
"""
import math
from typing import NamedTuple, Sequence

import numpy as np

from attn_jax import durable
from attn_jax.tables import markdown_table

# Long Range Arena (Tay et al., 2021), vanilla transformer on byte-level text, batch 32,
# TPU v3 4x4: steps/s and GB per device at lengths 1K, 2K, 3K, 4K.
LRA_LENGTHS = (1024, 2048, 3072, 4096)
LRA_STEPS_PER_S = (8.1, 4.9, 2.3, 1.4)
LRA_MEMORY_GB = (0.85, 2.65, 5.51, 9.48)

RECURRENT = ('rnn', 'lstm', 'gru', 'mingru', 'minlstm', 'mamba')
ATTENTION = 'transformer'

# The report's tables: results.csv's rows, and the growth exponents per model.
RESULTS_HEADER = ('model', 'seq_len', 'batch', 'hidden', 'params', 'compile s', 'step ms',
                  'tokens/s', 'peak memory MiB', 'GFLOPs/step', 'accuracy', 'status')
EXPONENT_HEADER = ('model', 'step time exponent', 'memory exponent',
                   'FLOPs exponent (XLA count)', 'points')


class PowerFit(NamedTuple):
  """y ~= coefficient * L ** exponent, fitted on `num_points` lengths."""
  exponent: float
  coefficient: float
  num_points: int

  def __call__(self, length: float) -> float:
    return self.coefficient * length ** self.exponent


def fit_power_law(lengths: Sequence[float], values: Sequence[float]) -> PowerFit:
  """Least squares of log(values) on log(lengths); non-finite and non-positive values are left out.

  Returns NaN exponent and coefficient when fewer than two points remain.
  """
  x = np.asarray(lengths, np.float64)
  y = np.asarray(values, np.float64)
  keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
  if keep.sum() < 2 or len(np.unique(x[keep])) < 2:
    return PowerFit(math.nan, math.nan, int(keep.sum()))
  slope, intercept = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
  return PowerFit(float(slope), float(np.exp(intercept)), int(keep.sum()))


def fit_lengths(lengths: Sequence[int], min_length: int = 0) -> tuple[int, ...]:
  """The lengths a fit uses: those >= `min_length`, or (0) the upper half, from the median up."""
  ordered = sorted(set(lengths))
  if min_length > 0:
    return tuple(l for l in ordered if l >= min_length)
  return tuple(ordered[(len(ordered) - 1) // 2:])


def _ok(rows, model):
  return sorted((r for r in rows if r['model'] == model and r['status'] == 'ok'),
                key=lambda r: r['seq_len'])


def model_fits(rows: list[dict], models: Sequence[str], min_length: int = 0) -> dict:
  """{model: {column: PowerFit}} for step time, memory and FLOPs, over `fit_lengths`."""
  fitted = fit_lengths([r['seq_len'] for r in rows if r['status'] == 'ok'], min_length)
  fits = {}
  for model in models:
    ok = [r for r in _ok(rows, model) if r['seq_len'] in fitted]
    fits[model] = {c: fit_power_law([r['seq_len'] for r in ok], [r[c] for r in ok])
                   for c in ('step_ms', 'peak_memory_bytes', 'flops_per_step')}
  return fits


def describe_exponent(b: float) -> str:
  if math.isnan(b):
    return 'not enough points'
  for upper, words in ((0.3, 'about flat: fixed costs dominate'), (0.75, 'sub-linear'),
                       (1.25, 'about linear'), (1.6, 'between linear and quadratic'),
                       (2.4, 'about quadratic')):
    if b < upper:
      return words
  return 'super-quadratic'


# ----------------------------------------------------------------------------- formatting


def _num(value, fmt='{:.3g}') -> str:
  if isinstance(value, float) and math.isnan(value):
    return '-'
  return fmt.format(value)


def _mib(value) -> str:
  return _num(value / 2**20 if not math.isnan(value) else value, '{:.1f}')


def results_table(rows: list[dict]) -> list[str]:
  """One line per results.csv row (model, seq_len)."""
  gflops = lambda r: r['flops_per_step'] / 1e9 if not math.isnan(r['flops_per_step']) else math.nan
  table = [{'model': r['model'], 'seq_len': r['seq_len'], 'batch': _num(r['batch_size'], '{}'),
            'hidden': _num(r['hidden_size'], '{}'), 'params': _num(r['num_params'], '{:,}'),
            'compile s': _num(r['compile_s'], '{:.2f}'), 'step ms': _num(r['step_ms'], '{:.2f}'),
            'tokens/s': _num(r['tokens_per_s'], '{:,.0f}'),
            'peak memory MiB': _mib(r['peak_memory_bytes']),
            'GFLOPs/step': _num(gflops(r), '{:.3g}'), 'accuracy': _num(r['accuracy'], '{:.3f}'),
            'status': r['status']} for r in rows]
  return markdown_table(table, RESULTS_HEADER, right=RESULTS_HEADER[1:-1]).split('\n')


def exponent_table(fits: dict) -> list[str]:
  """One line per model: the fitted growth exponents of step time, memory and FLOPs."""
  exponent = lambda fit: f'{_num(fit.exponent, "{:.2f}")} ({describe_exponent(fit.exponent)})'
  table = [{'model': model, 'step time exponent': exponent(f['step_ms']),
            'memory exponent': exponent(f['peak_memory_bytes']),
            'FLOPs exponent (XLA count)': _num(f['flops_per_step'].exponent, '{:.2f}'),
            'points': f['step_ms'].num_points} for model, f in fits.items()]
  return markdown_table(table, EXPONENT_HEADER, right=EXPONENT_HEADER[1:]).split('\n')


def param_summary(rows, model: str, target: int) -> str:
  """'lstm: width 112, 103,162 parameters (+3.2%)' (ranges where the width varies by length)."""
  measured = [r for r in rows if r['model'] == model and not math.isnan(r['num_params'])]
  if not measured:
    return f'{model}: not built'
  widths = sorted({r['hidden_size'] for r in measured})
  counts = sorted({r['num_params'] for r in measured})
  off = [100 * (c / target - 1) for c in counts]
  width = f'{widths[0]}' if len(widths) == 1 else f'{widths[0]}..{widths[-1]}'
  count = f'{counts[0]:,}' if len(counts) == 1 else f'{counts[0]:,}..{counts[-1]:,}'
  spread = f'{off[0]:+.1f}%' if len(off) == 1 else f'{off[0]:+.1f}%..{off[-1]:+.1f}%'
  return f'{model}: width {width}, {count} parameters ({spread})'


def platform_line(platform: dict) -> str:
  return (f"{platform.get('device_count', '?')} x {platform.get('device_kind', '?')} "
          f"({platform.get('platform', '?')} backend; host CPU {platform.get('cpu_model', '?')}, "
          f"{platform.get('cpu_count', '?')} cores), jax {platform.get('jax_version', '?')}, "
          f"flax {platform.get('flax_version', '?')}")


# ----------------------------------------------------------------------------- the reading


def _crossing(tr_rows, r_rows, column):
  """How the transformer's `column` compares with a recurrent model's over their common lengths.

  Returns (lengths, ratios transformer / recurrent).
  """
  theirs = {r['seq_len']: r[column] for r in r_rows}
  common = [(t['seq_len'], t[column] / theirs[t['seq_len']]) for t in tr_rows
            if t['seq_len'] in theirs and theirs[t['seq_len']] > 0]
  return [l for l, _ in common], [q for _, q in common]


def _fits_cross(fit_a: PowerFit, fit_b: PowerFit) -> float:
  """The length where two power laws meet (NaN if they do not, going up)."""
  if math.isnan(fit_a.exponent) or math.isnan(fit_b.exponent) or fit_a.exponent == fit_b.exponent:
    return math.nan
  return (fit_b.coefficient / fit_a.coefficient) ** (1.0 / (fit_a.exponent - fit_b.exponent))


def crossover_sentence(rows, fits, recurrent: str, column: str, what: str, unit_fmt) -> str:
  tr, rc = _ok(rows, ATTENTION), _ok(rows, recurrent)
  lengths, ratios = _crossing(tr, rc, column)
  if not lengths:
    return f'- {what}: no length where both the transformer and {recurrent} were measured.'
  at = {r['seq_len']: r[column] for r in tr}, {r['seq_len']: r[column] for r in rc}
  over = [l for l, q in zip(lengths, ratios) if q > 1]
  if ratios[0] > 1 and len(over) == len(lengths):
    return (f'- {what}: the transformer is above {recurrent} at every measured length '
            f'({ratios[0]:.2f}x at L={lengths[0]}, {ratios[-1]:.2f}x at L={lengths[-1]}).')
  if not over:
    meet = _fits_cross(fits[ATTENTION][column], fits[recurrent][column])
    beyond = (f'; extrapolating both fits, they would meet near L={meet:,.0f}'
              if not math.isnan(meet) and meet > lengths[-1] else '; the fitted curves do not '
              'meet at longer lengths')
    return (f'- {what}: the transformer stays below {recurrent} at every measured length '
            f'(ratio {ratios[0]:.2f}x at L={lengths[0]}, {ratios[-1]:.2f}x at L={lengths[-1]})'
            f'{beyond}.')
  first = over[0]
  before = [l for l in lengths if l < first]
  between = f'between L={before[-1]} and L={first}' if before else f'by L={first}'
  return (f'- {what}: the transformer overtakes {recurrent} {between} '
          f'({unit_fmt(at[0][first])} vs {unit_fmt(at[1][first])} at L={first}); '
          f'at L={lengths[-1]} it is {ratios[-1]:.2f}x {recurrent}.')


def growth_sentence(rows, fits, model, fitted) -> str:
  ok = _ok(rows, model)
  if not ok:
    return f'- {model}: no length measured successfully.'
  lo, hi = ok[0], ok[-1]
  t, m = fits[model]['step_ms'], fits[model]['peak_memory_bytes']
  return (f'- {model}: step time {lo["step_ms"]:.2f} ms at L={lo["seq_len"]} -> '
          f'{hi["step_ms"]:.2f} ms at L={hi["seq_len"]} ({hi["step_ms"] / lo["step_ms"]:.1f}x for '
          f'{hi["seq_len"] / lo["seq_len"]:.0f}x the length); fitted over L={fitted[0]}..'
          f'{fitted[-1]} it grows as L^{_num(t.exponent, "{:.2f}")} '
          f'({describe_exponent(t.exponent)}), memory as L^{_num(m.exponent, "{:.2f}")} '
          f'({describe_exponent(m.exponent)}).')


def lra_sentence(fits) -> str:
  times = fit_power_law(LRA_LENGTHS, [1 / s for s in LRA_STEPS_PER_S])
  memory = fit_power_law(LRA_LENGTHS, LRA_MEMORY_GB)
  ours = fits.get(ATTENTION)
  mine = ('' if ours is None else
          f' Here the transformer\'s exponents are {_num(ours["step_ms"].exponent, "{:.2f}")} '
          f'(time) and {_num(ours["peak_memory_bytes"].exponent, "{:.2f}")} (memory).')
  return (f'- Reference: the Long Range Arena vanilla transformer (byte-level text, batch 32, TPU '
          f'v3 4x4) runs {LRA_STEPS_PER_S[0]} -> {LRA_STEPS_PER_S[-1]} steps/s and '
          f'{LRA_MEMORY_GB[0]} -> {LRA_MEMORY_GB[-1]} GB per device from L=1K to 4K: by the same '
          f'fit, time exponent {times.exponent:.2f} and memory exponent {memory.exponent:.2f}.'
          + mine)


def reading(rows, models, fits, fitted) -> list[str]:
  lines = [growth_sentence(rows, fits, m, fitted) for m in models]
  rec = [m for m in models if m in RECURRENT and not math.isnan(fits[m]['step_ms'].exponent)]
  if rec:
    exps = [fits[m]['step_ms'].exponent for m in rec]
    lines.append(f'- Recurrent family ({", ".join(rec)}): step-time exponents '
                 f'{min(exps):.2f}..{max(exps):.2f}, '
                 + ('all about linear in the length.' if all(0.75 <= e < 1.25 for e in exps)
                    else 'not all about linear (see the table).'))
  if ATTENTION in models:
    for m in (m for m in models if m in RECURRENT):
      lines.append(crossover_sentence(rows, fits, m, 'step_ms', f'Step time vs {m}',
                                      lambda v: f'{v:.2f} ms'))
    for m in (m for m in models if m in RECURRENT):
      lines.append(crossover_sentence(rows, fits, m, 'peak_memory_bytes', f'Memory vs {m}',
                                      lambda v: f'{v / 2**20:.1f} MiB'))
    lines.append(lra_sentence(fits))
  failed = [r for r in rows if r['status'] != 'ok']
  if failed:
    lines.append('- Points that did not complete: ' + '; '.join(
        f'{r["model"]} at L={r["seq_len"]}: {r["status"]}' for r in failed) + '.')
  return lines


def status_line(study: dict) -> str:
  """'complete' or 'still running: <phase> (..., about N min left); then <phases>'."""
  running = study.get('running', '')
  return f'still running: {running}' if running else 'complete'


def write_report(path: str, rows: list[dict], *, models: Sequence[str], study: dict,
                 plots: Sequence[str], sections: Sequence[str] = ()):
  """Writes `report.md` from the cost rows, the study's settings (`study`, see seq_len_scaling)
  and further `sections` (markdown lines: the capability half, `capability_report`)."""
  models = [m for m in models if any(r['model'] == m for r in rows)]
  fitted = fit_lengths([r['seq_len'] for r in rows if r['status'] == 'ok'],
                       study['fit_min_length'])
  fits = model_fits(rows, models, study['fit_min_length'])
  fit_rule = (f'lengths >= {study["fit_min_length"]}' if study['fit_min_length'] > 0 else
              'the upper half of the measured lengths (from the median length up)')
  params = '; '.join(param_summary(rows, m, study['target_params']) for m in models)
  measuring_s = sum(r['cell_s'] for r in rows if not math.isnan(r.get('cell_s', math.nan)))
  lines = [
      '# Sequence-length scaling: recurrent networks vs the transformer', '',
      f'- Status: {status_line(study)}.',
      f'- Platform: {platform_line(study["platform"])}.',
      f'- Cost sweep task: `{study["task"]}` ({study["task_description"]}); batch '
      f'{study["batch_size"]}. The `accuracy` column is the capability phase\'s mean final '
      f'held-out accuracy over seeds where the same (model, length) was trained on '
      f'`first_token` (below), else empty.',
      f'- Parameter budget {study["target_params"]:,} (each model within '
      f'{100 * study["param_tolerance"]:.0f}%): {params}. Common settings: {study["model_settings"]}.',
      f'- Step time: median of {study["timed_steps"]} train steps (forward, backward, optimizer '
      f'update; after {study["warmup_steps"]} warm-up steps), blocking on the results. Memory: '
      f'{study["memory_rule"]}. FLOPs: the step\'s matrix products, counted from its jaxpr '
      f'with every scanned time step included (`attn_jax/studies/flops.py`).',
      f'- Time spent measuring the cost rows (sum of their point times): '
      f'{measuring_s / 60:.1f} min; '
      f'this invocation: {study["wall_s"] / 60:.1f} min in all ('
      + ', '.join(f'{k} {v / 60:.1f} min' for k, v in study['phase_s'].items())
      + f'), {study["points_measured"]} new cost point(s).', '',
      '## Results', '', *results_table(rows), '',
      '## Growth exponents', '',
      f'Least-squares slope of log(value) on log(length), fitted over {fit_rule}: '
      f'L = {", ".join(map(str, fitted))}. 1 is linear, 2 quadratic.', '',
      *exponent_table(fits), '',
      '## Reading: cost (generated from this run\'s numbers)', '',
      *reading(rows, models, fits, fitted), '', *[f'![{p}]({p})' for p in plots], '',
      *sections,
      '## Notes', '',
      '- Rows whose status is `ok` or `oom` (cost) and points whose seeds all have such a status '
      '(capability) are kept when the command is run again in the same workdir; an `error` is '
      'measured again.', '']
  durable.write_text(path, '\n'.join(lines))
