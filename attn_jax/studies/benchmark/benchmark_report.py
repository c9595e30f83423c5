"""The benchmark's files: `results.csv` (one row per shape and workload, train or decode),
`breakdown.csv` (forward, backward and optimizer per train shape), `profile.csv` (operations of the
profiled steps) and the markdown `report.md` (`attn_jax/studies/benchmark/benchmark.py` measures
what they hold), all in one folder per CPU model (`results_folder`)."""
import dataclasses
import os
import re

import jax
import numpy as np

from attn_jax.studies.benchmark import step_profile
from attn_jax.studies.study_runs import write_csv
from attn_jax.tables import markdown_table
from attn_jax.host_cpu import cpu_model, cpu_vendor


# `kind`: the case's workload, 'train' or 'decode' (`benchmark.Case.workload`); the column keeps
# its name, as do profile.csv's (`kind`: an operation's `step_profile.OpTime.op_class`), since
# committed results (experiments/results/benchmark_cpu/) and their readers use them.
COLUMNS = ('shape', 'kind', 'family', 'length', 'ours_ms', 'torch_ms', 'ratio', 'flops',
           'ours_gflops', 'torch_gflops', 'ours_share_of_peak', 'torch_share_of_peak',
           'memory_bytes', 'batch_size', 'hidden_size', 'num_layers', 'load_avg')
PROFILE_COLUMNS = ('shape', 'name', 'opcode', 'kind', 'part', 'in_loop', 'op_name', 'ms_per_step',
                   'calls_per_step')
PHASE_COLUMNS = ('shape', 'length', 'phase', 'ours_ms', 'torch_ms', 'ratio',
                 'ours_us_per_position', 'torch_us_per_position')
# The report's tables.
RESULT_HEADER = ('shape', 'step', 'project ms', 'torch ms', 'project/torch', 'GFLOP',
                 'project GFLOP/s (share)', 'torch GFLOP/s (share)', 'project memory MiB')
BREAKDOWN_HEADER = ('shape', 'part', 'project ms', 'torch ms', 'project/torch',
                    'project us/position', 'torch us/position')
PROFILE_HEADER = ('part', 'kind', 'ms per step', 'of which in loops', 'calls per step', 'share')
SLOWEST_HEADER = ('operation', 'kind', 'part', 'in loop', 'calls per step', 'ms per step', 'from')


def cpu_slug(cpu: str) -> str:
  """A CPU model name as a folder name: lower case, the marks (R), (TM) and (C) dropped, every run
  of other characters than letters and digits one '-' ('Intel(R) Xeon(R) Processor' ->
  'intel-xeon-processor'; 'AMD EPYC 7B13' -> 'amd-epyc-7b13'); 'unknown-cpu' if nothing is left."""
  text = re.sub(r'\((r|tm|c)\)', ' ', cpu.lower())
  return re.sub(r'[^a-z0-9]+', '-', text).strip('-') or 'unknown-cpu'


def results_folder(workdir: str, cpu: str) -> str:
  """Where a run on the CPU model `cpu` (`host_cpu.cpu_model()`) writes its files:
  DIR/<cpu_slug(cpu)>, so that runs on other CPUs into the same workdir keep theirs."""
  return os.path.join(workdir, cpu_slug(cpu))


def write_files(folder: str, rows: list[dict], parts: list[dict], profiles: dict):
  """results.csv, breakdown.csv and profile.csv in `folder` (`results_folder`)."""
  write_csv(os.path.join(folder, 'results.csv'), rows, COLUMNS)
  write_csv(os.path.join(folder, 'breakdown.csv'), parts, PHASE_COLUMNS)
  write_csv(os.path.join(folder, 'profile.csv'),
            [_profile_row(shape, op) for shape, ops in profiles.items() for op in ops],
            PROFILE_COLUMNS)


def _profile_row(shape: str, op: step_profile.OpTime) -> dict:
  """One profile.csv row: the shape and the operation's fields, `op_class` as column `kind`."""
  row = dataclasses.asdict(op)
  return dict(shape=shape, kind=row.pop('op_class'), **row)


def _fmt(x: float, spec: str) -> str:
  return '-' if x is None or np.isnan(x) else format(x, spec)


def report(config, peer: str, rows: list[dict], peak: dict, memory: dict,
           parts: list[dict] = (), impl_times: dict = None, profiles: dict = None) -> str:
  """The markdown report; `peer` describes PyTorch (version, threads) or its absence."""
  b, t = config.bench, config.transformer
  lines = [*_setup_section(config, peer, peak), *_load_lines(rows), *_results_section(rows),
           *_target_section(rows, parts, profiles or {})]
  if memory:
    lines += _memory_section(memory, b.memory_length, t.batch_size)
  if parts:
    lines += _breakdown_section(parts)
  if impl_times:
    lines += _attention_times_section(impl_times, b.attention_time_length, t.batch_size)
  for shape, ops in (profiles or {}).items():
    lines += profile_section(shape, ops, b.timed_steps)
  return '\n'.join(lines) + '\n'


def _setup_section(config, peer: str, peak: dict) -> list[str]:
  """The title and what was measured how: platform, matmul peak, shapes, timing, FLOPs."""
  b = config.bench
  return [
      '# Benchmark: the project against PyTorch on the same machine', '',
      f'- Platform: {cpu_model()} (vendor {cpu_vendor() or "unknown"}), {_cores()}, '
      f'jax {jax.__version__} ({jax.default_backend()}); {peer}.',
      f'- Matmul throughput (fp32 {b.matmul_size}^3, median of {b.timed_steps}): project '
      f'{_fmt(peak["ours"], ".1f")} GFLOP/s, torch {_fmt(peak.get("torch", np.nan), ".1f")} '
      'GFLOP/s. "share" is model GFLOP/s over this peak, per framework.',
      *_shapes_lines(config),
      f'- Train step: forward, backward, Adam update (float32). Decode: one token (recurrent '
      f'step from the carried state; transformer against a KV cache of `length` positions). '
      f'Medians of {b.timed_steps} steps after {b.warmup_steps} warm-up steps, the two sides '
      'alternating step by step (fair on a shared machine), each blocking on its result; a side '
      'with short steps steps untimed before each timed one, so that the other side\'s '
      'spinning threads are idle by then (`benchmark.time_alternating`). Both sides start from '
      'the same weights and were checked to give the same loss.',
      '- Model FLOPs: matrix products of the project\'s step counted from its jaxpr '
      '(`attn_jax/studies/flops.py`, every time step of a scan counted), used for both sides. '
      'Memory: XLA `memory_analysis()` of the project\'s compiled step.', '']


def _cores() -> str:
  """'2 cores', or '2 cores (1 of them for this run)' when the process may run on fewer (its CPU
  affinity, e.g. under `taskset -c 0`)."""
  allowed = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return f'{os.cpu_count()} cores' + (f' ({allowed} of them for this run)'
                                      if allowed != os.cpu_count() else '')


def _shapes_lines(config) -> list[str]:
  """What each group of shapes that has lengths holds, and what the torch side runs."""
  r, t, s = config.recurrent, config.transformer, config.study_shapes
  lines = []
  if r.lengths:
    lines.append(f'- Recurrent shapes: {r.num_layers} layer(s) + dense head, batch '
                 f'{r.batch_size}, features {r.features}, hidden {r.hidden_size}, MSE.')
  if t.lengths:
    lines.append(f'- Transformer: `TransformerLM` {t.num_layers} pre-LN blocks, d{t.hidden_size}, '
                 f'{t.num_heads} heads, mlp {t.mlp_dim}, gelu (tanh), learned positions, tied '
                 f'output, vocab {t.vocab_size}, batch {t.batch_size}.')
  if s.lengths:
    budgets = '; '.join(f'{budget.params:,} parameters as matched on {budget.task}, batch '
                        f'{budget.batch_size}: widths {budget.widths}'
                        for budget in s.budgets.values() if budget.widths)
    lines.append(
        '- The sequence-length study\'s shapes (`experiments/configs/seq_len_scaling.py`), named '
        '`{family}_w{width}_b{batch}_L{length}`: every family with '
        f'{s.num_layers} layers at the width the study matches to a parameter budget '
        f'({budgets}). Recurrent families and Mamba: the stack + dense head, float inputs as '
        'wide as the state, MSE; transformer and linear attention: `TransformerLM`, '
        f'{s.num_heads} heads, mlp {s.mlp_ratio} x width, gelu (tanh), learned positions, tied '
        f'output, vocab {s.vocab_size}.')
  lines.append(f'- Softmax attention `{config.attention_impl}`. Torch: `nn.RNN/LSTM/GRU` (as '
               'many layers) + `nn.Linear`; `nn.TransformerEncoderLayer(norm_first=True)` blocks '
               'with a causal mask; decode with a KV cache on the same weights.')
  return lines


def _load_lines(rows: list[dict]) -> list[str]:
  """The machine's load while the cases ran (`load_avg`), against its core count: on a machine
  shared with other processes the two sides' threads lose unequally (PyTorch's more)."""
  if not rows:
    return []
  loads = sorted(row['load_avg'] for row in rows)
  return [f'Machine load as each case ended (1-minute average, this run included; '
          f'{os.cpu_count()} cores): min {loads[0]:.2f}, median {np.median(loads):.2f}, max '
          f'{loads[-1]:.2f} (`load_avg` in results.csv). A load well above the core count means '
          'other processes shared the cores, which slows the two sides unequally.', '']


def _results_section(rows: list[dict]) -> list[str]:
  """One line per shape and workload: both sides' times, their ratio, FLOP rates, memory."""
  share = lambda row, side: (f"{_fmt(row[f'{side}_gflops'], '.1f')} "
                             f"({_fmt(100 * row[f'{side}_share_of_peak'], '.0f')}%)")
  table = [{'shape': row['shape'], 'step': row['kind'],
            'project ms': _fmt(row['ours_ms'], '.2f'), 'torch ms': _fmt(row['torch_ms'], '.2f'),
            'project/torch': _fmt(row['ratio'], '.2f'), 'GFLOP': _fmt(row['flops'] / 1e9, '.3g'),
            'project GFLOP/s (share)': share(row, 'ours'),
            'torch GFLOP/s (share)': share(row, 'torch'),
            'project memory MiB': _fmt(row['memory_bytes'] / 2 ** 20, '.1f')} for row in rows]
  return markdown_table(table, RESULT_HEADER, right=RESULT_HEADER[2:]).split('\n')


def _target_section(rows: list[dict], parts: list[dict], profiles: dict) -> list[str]:
  """Whether project/torch <= 1.0 was met, and what holds back each slower train step."""
  ratios = [row['ratio'] for row in rows if not np.isnan(row['ratio'])]
  if not ratios:
    return []
  over = [f"{row['shape']} {row['kind']} ({row['ratio']:.2f})" for row in rows
          if row['ratio'] > 1.0]
  return ['', 'Target project/torch <= 1.0: '
          + ('met at every shape.' if not over else 'not met at ' + ', '.join(over) + '.'),
          *holdback_lines(rows, parts, profiles)]


def _memory_section(memory: dict, length: int, batch_size: int) -> list[str]:
  """The transformer train step's compiled memory per attention implementation."""
  table = [{'attention_impl': impl, 'MiB': f'{mem / 2 ** 20:.0f}',
            'vs explicit': f'{memory["explicit"] / mem:.2f}x lower'}
           for impl, mem in memory.items()]
  return ['', f'## Attention memory at L={length}', '',
          f'XLA `memory_analysis()` of the transformer train step above at length {length} '
          f'(batch {batch_size}), per `attention_impl`:', '',
          *markdown_table(table, right=('MiB', 'vs explicit')).split('\n')]


def _breakdown_section(parts: list[dict]) -> list[str]:
  """Each train step split into forward, backward and optimizer, both sides."""
  table = [{'shape': part['shape'], 'part': part['phase'],
            'project ms': _fmt(part['ours_ms'], '.2f'), 'torch ms': _fmt(part['torch_ms'], '.2f'),
            'project/torch': _fmt(part['ratio'], '.2f'),
            'project us/position': _fmt(part['ours_us_per_position'], '.1f'),
            'torch us/position': _fmt(part['torch_us_per_position'], '.1f')} for part in parts]
  return ['', '## Where the time goes', '',
          'Each train step split into its parts: the whole step, the loss alone and the loss '
          'with its gradients, both sides, timed in one alternation (medians): `forward` (the '
          'loss), `backward` (loss and gradients minus the forward), `optimizer` (the whole '
          'step minus loss and gradients: Adam, and for the project the work XLA could not '
          'overlap); parts are differences of medians, so a small part can read slightly '
          'negative. Per position: milliseconds over the sequence '
          'length (for a recurrent layer, the cost of one scanned time step).', '',
          *markdown_table(table, BREAKDOWN_HEADER, right=BREAKDOWN_HEADER[2:]).split('\n')]


def _attention_times_section(impl_times: dict, length: int, batch_size: int) -> list[str]:
  """The transformer train step's time per attention implementation, against the fastest."""
  best = min(impl_times, key=impl_times.get)
  table = [{'attention_impl': impl, 'ms': f'{ms:.1f}',
            'vs fastest': f'{ms / impl_times[best]:.2f}x'} for impl, ms in impl_times.items()]
  return ['', f'## Attention implementations at L={length}', '',
          f'Project transformer train step (batch {batch_size}) per `attention_impl` on '
          f'this machine ({jax.default_backend()}); fastest: `{best}`.', '',
          *markdown_table(table, right=('ms', 'vs fastest')).split('\n')]


def holdback_lines(rows: list[dict], parts: list[dict], profiles: dict) -> list[str]:
  """For each train shape slower than torch: which part of the step holds it back (the
  breakdown's excess per part) and, where profiled, how the project's operation time divides."""
  lines = []
  for row in rows:
    if row['kind'] != 'train' or not row['ratio'] > 1.0:
      continue
    excess = {p['phase']: p['ours_ms'] - p['torch_ms'] for p in parts
              if p['shape'] == row['shape']}
    text = f"- {row['shape']} train: {row['ours_ms'] - row['torch_ms']:.1f} ms over torch"
    if excess:
      text += ' (' + ', '.join(f'{phase} {ms:+.1f} ms' for phase, ms in excess.items()) + ')'
    if row['shape'] in profiles:
      classes = {}
      for group in step_profile.summarise(profiles[row['shape']]):
        classes[group['op_class']] = classes.get(group['op_class'], 0.0) + group['share']
      text += '; project operation time: ' + ', '.join(
          f'{op_class} {100 * share:.0f}%' for op_class, share in sorted(classes.items(),
                                                                         key=lambda kv: -kv[1]))
    lines.append(text + '.')
  return [''] + lines if lines else []


def profile_section(shape: str, ops: list, steps: int, top: int = 10) -> list[str]:
  """The report's profile of one project train step (`step_profile`): totals by part and class of
  operation, and the slowest operations."""
  totals = [{'part': row['part'], 'kind': row['op_class'],
             'ms per step': f"{row['ms_per_step']:.2f}",
             'of which in loops': f"{row['in_loop_ms']:.2f}",
             'calls per step': f"{row['calls_per_step']:.0f}",
             'share': f"{100 * row['share']:.0f}%"}
            for row in step_profile.summarise(ops)]
  slowest = [{'operation': f'`{op.name}`', 'kind': op.op_class, 'part': op.part,
              'in loop': 'yes' if op.in_loop else 'no',
              'calls per step': f'{op.calls_per_step:.0f}',
              'ms per step': f'{op.ms_per_step:.2f}', 'from': f"`{op.op_name.split('/', 1)[-1]}`"}
             for op in ops[:top]]
  return ['', f'## Profile of the project\'s {shape} train step', '',
          f'`jax.profiler` over {steps} steps; every XLA operation matched to its HLO instruction '
          'and the JAX code that made it (`attn_jax/studies/benchmark/step_profile.py`; all '
          'operations in `profile.csv`). Operation times are summed, so they can exceed the wall '
          'time where XLA ran operations side by side.', '',
          *markdown_table(totals, PROFILE_HEADER, right=PROFILE_HEADER[2:]).split('\n'),
          '', f'The {top} slowest operations:', '',
          *markdown_table(slowest, SLOWEST_HEADER,
                          right=('calls per step', 'ms per step')).split('\n')]
