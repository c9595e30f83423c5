"""Which attention implementation is fastest, by length and train/decode, on this platform and CPU
model: the measurement behind `attention_impl='auto'` (`attn_jax/models/attention_choice.py`).

`run(config, workdir)` (experiment `attention_impl`, experiments/configs/attention_impl.py) times,
at each of `config.lengths`, every implementation of `attention.ATTENTION_IMPLS` in the
benchmark's `TransformerLM` (`benchmark.transformer_train`, `benchmark.transformer_decode`):
- `train`: one train step (forward, backward, Adam) over `[batch, length]` tokens;
- `decode`: one generated token against a KV cache of `length` positions.
Where the scores fit one tile (q_len * k_len <= `attention.BLOCK_SIZE` ** 2: train at L <= 128,
and every decode step up to a 16384-token cache) 'blocked' runs the explicit code
(`attention.blocked_attention`), so its time there measures the same program as 'explicit' twice:
the noise of the run. It is reported, but it is no candidate there.
The implementations take turns step by step (`benchmark.time_alternating`: load from other
processes falls on all of them), each step blocks on its result, and the median after
`config.warmup_steps` is reported, over as many turns as fit in `config.seconds_per_point`
(estimated from one timed turn), at least `config.timed_steps` and at most
`config.max_timed_steps`: a millisecond decode step gets hundreds of samples, a train step of
seconds a few.

The winner at a (workload, length) is the fastest candidate, except that the earlier implementation
of `ATTENTION_IMPLS` (explicit, fused, blocked: simplest first; explicit also sows the weights) is
kept while it is within `TIE_MARGIN` of the fastest: a difference inside the noise of a shared
machine does not switch the implementation.

Writes DIR/results.csv (one row per workload, length and implementation, naming the platform and
the host's CPU model; a rerun in the same workdir keeps the (workload, length) points measured
there on this platform and CPU model and measures the others), DIR/report.md (naming the CPU model
and the table entry) and DIR/attention_impl_table.json: the committed `attention_choice` table
with this host's entry (`attention_choice.table_key`: 'cpu/AMD EPYC') replaced by the winners
here, every other entry kept (copy it over attn_jax/models/attention_impl_table.json to adopt it).
"""
import csv
import datetime
import io
import json
import os
import time

import jax

from attn_jax import durable
from attn_jax.models import attention, attention_choice
from attn_jax.studies.benchmark import benchmark, benchmark_report
from attn_jax.studies.study_runs import write_csv
from attn_jax.tables import markdown_table

COLUMNS = ('platform', 'device_kind', 'cpu_model', 'workload', 'length', 'impl', 'ms', 'of_fastest',
           'steps')
TIE_MARGIN = 0.10


def steps(config, length: int, workloads=attention_choice.WORKLOADS) -> dict:
  """{workload: {impl: blocking callable running one step}} at `length`."""
  out = {workload: {} for workload in workloads}
  for impl in attention.ATTENTION_IMPLS:
    step, args, _, params, tokens, _ = benchmark.transformer_train(
        config.seed, config.transformer, length, impl)
    if 'train' in out:
      out['train'][impl] = benchmark.blocking(step, list(args))
    if 'decode' in out:
      decode, decode_args = benchmark.transformer_decode(config.transformer, length, impl,
                                                         params, tokens)
      out['decode'][impl] = benchmark.blocking(decode, list(decode_args))
  return out


def timed_turns(config, sides: dict) -> int:
  """Warms `sides` up (`config.warmup_steps` turns, compiling included), times two turns by the
  clock (the second with the untimed steps `benchmark.time_alternating` runs before short ones:
  at 0.3 ms decode steps they are most of a turn), and returns how many turns fit in
  `config.seconds_per_point` (within the step limits)."""
  benchmark.time_alternating(sides, config.warmup_steps, 1)
  start = time.perf_counter()
  benchmark.time_alternating(sides, 1, 1)
  turn_s = (time.perf_counter() - start) / 2
  return max(config.timed_steps, min(config.max_timed_steps,
                                     int(config.seconds_per_point / turn_s)))


def blocked_runs_explicit(workload: str, length: int) -> bool:
  """Whether 'blocked' runs the explicit code at (workload, length): the scores fit one tile."""
  return (length if workload == 'train' else 1) * length <= attention.BLOCK_SIZE ** 2


def winner(ms: dict, workload: str, length: int) -> str:
  """The implementation chosen from {impl: ms} at (workload, length): the fastest candidate, ties
  within `TIE_MARGIN` of it to the earliest of `ATTENTION_IMPLS` (see the module docstring)."""
  candidates = {impl: t for impl, t in ms.items()
                if not (impl == 'blocked' and blocked_runs_explicit(workload, length))}
  fastest = min(candidates.values())
  return next(impl for impl in attention.ATTENTION_IMPLS
              if impl in candidates and candidates[impl] <= fastest * (1 + TIE_MARGIN))


def by_point(rows: list[dict]) -> dict:
  """{workload: {length: [its rows, one per implementation]}}, workloads in `WORKLOADS` order,
  lengths ascending."""
  points = {}
  for r in sorted(rows, key=lambda r: r['length']):
    points.setdefault(r['workload'], {}).setdefault(r['length'], []).append(r)
  return {w: points[w] for w in attention_choice.WORKLOADS if w in points}


def table_entry(rows: list[dict]) -> dict:
  """{workload: [[from_length, impl], ...]}: each measured length's winner, from that length on,
  runs of one winner merged (the `attention_choice` table format)."""
  entry = {}
  for workload, lengths in by_point(rows).items():
    ranges = []
    for length, point in lengths.items():
      impl = winner({r['impl']: r['ms'] for r in point}, workload, length)
      if not ranges or ranges[-1][1] != impl:
        ranges.append([length, impl])
    entry[workload] = ranges
  return entry


def read_rows(path: str) -> list[dict]:
  """The rows of a results.csv (none if there is no file), `length` int and `ms` float (a file
  written before the `cpu_model` column has none in its rows)."""
  rows = list(csv.DictReader(io.StringIO(durable.complete_text(path))))
  return [dict(r, length=int(r['length']), ms=float(r['ms']), of_fastest=float(r['of_fastest']),
               steps=int(r['steps'])) for r in rows]


def run(config, workdir: str):
  """Times every implementation at every length; writes results.csv, report.md and the table
  (this host's entry)."""
  lengths = benchmark.parse_lengths(config.lengths, 'lengths')
  os.makedirs(workdir, exist_ok=True)
  where = dict(platform=jax.default_backend(), device_kind=jax.devices()[0].device_kind,
               cpu_model=attention_choice.host_cpu_model())
  rows = [r for r in read_rows(os.path.join(workdir, 'results.csv'))
          if r['platform'] == where['platform'] and r.get('cpu_model') == where['cpu_model']
          and r['length'] in lengths]
  measured = {(r['workload'], r['length']) for r in rows}
  for length in lengths:
    todo = [w for w in attention_choice.WORKLOADS if (w, length) not in measured]
    if not todo:
      continue
    for workload, sides in steps(config, length, todo).items():
      turns = timed_turns(config, sides)
      seconds = benchmark.time_alternating(sides, 0, turns)
      fastest = min(seconds.values())
      for impl, s in seconds.items():
        rows.append(dict(where, workload=workload, length=length, impl=impl, ms=round(1e3 * s, 3),
                         of_fastest=round(s / fastest, 3), steps=turns))
      print(f'{workload:>6} L={length:<5} ' + '  '.join(f'{i} {1e3 * s:9.2f} ms'
                                                   for i, s in seconds.items()), flush=True)
    write_csv(os.path.join(workdir, 'results.csv'), rows, COLUMNS)  # each length as it ends
  key = attention_choice.table_key(where['platform'], where['cpu_model'])
  source = (f'{where["platform"]} ({where["cpu_model"]}, {os.cpu_count()} cores), jax '
            f'{jax.__version__}, {datetime.date.today()}: '
            f'experiments/results/attention_impl/{benchmark_report.cpu_slug(where["cpu_model"])}/'
            'results.csv')
  durable.write_text(os.path.join(workdir, 'attention_impl_table.json'),
                     table_json(key, table_entry(rows), source))
  durable.write_text(os.path.join(workdir, 'report.md'), report(config, rows, source, key))
  print(f'wrote {workdir}/results.csv, report.md and attention_impl_table.json')


def table_json(key: str, entry: dict, source: str,
               path: str = attention_choice.TABLE_PATH) -> str:
  """The JSON of the table at `path` (default: the committed one) with the entry `key` (and its
  source) replaced or added, every other entry kept; one line per (entry, workload)."""
  with open(path) as f:
    table = json.load(f)
  table.setdefault('sources', {})[key] = source
  table.setdefault('entries', {})[key] = entry
  entries = [f'  {json.dumps(name)}: {{\n' + ',\n'.join(
      f'   {json.dumps(workload)}: {json.dumps(ranges)}'
      for workload, ranges in sorted(workloads.items())) + '\n  }'
             for name, workloads in sorted(table['entries'].items())]
  sources = [f'  {json.dumps(name)}: {json.dumps(text)}'
             for name, text in sorted(table['sources'].items())]
  return ('{\n "entries": {\n' + ',\n'.join(entries) + '\n },\n "sources": {\n'
          + ',\n'.join(sources) + '\n }\n}\n')


def report(config, rows: list[dict], source: str, key: str) -> str:
  """The markdown report: the setup (`source`: where and when, the CPU model included), one table
  (ms per implementation, the winner), the ranges (the table entry `key`)."""
  t = config.transformer
  impls = attention.ATTENTION_IMPLS
  lines = ['# Attention implementations by length: train step and decode step', '',
           f'- Measured: {source}.',
           f'- Model: `TransformerLM`, {t.num_layers} pre-LN blocks, d={t.hidden_size}, '
           f'{t.num_heads} heads, mlp {t.mlp_dim}, gelu, learned positions, vocab {t.vocab_size}; '
           f'batch {t.batch_size}. Train: one step (forward, backward, Adam). Decode: one token '
           'against a KV cache of `length` positions.',
           f'- Median of as many steps as fit in {config.seconds_per_point} s (at least '
           f'{config.timed_steps}, at most {config.max_timed_steps}; column `steps`) after '
           f'{config.warmup_steps} warm-up, the implementations alternating step by step. Winner: '
           f'the fastest candidate, or the first of {", ".join(impls)} within {TIE_MARGIN:.0%} '
           'of it.', '']
  table = []
  for workload, lengths in by_point(rows).items():
    for length, point in lengths.items():
      ms = {r['impl']: r['ms'] for r in point}
      best = winner(ms, workload, length)
      same = blocked_runs_explicit(workload, length)
      table.append({'workload': workload, 'length': length, 'steps': point[0]['steps'],
                    **{f'{i} ms': f'{ms[i]:.2f}' + ('=' if i == 'blocked' and same else '')
                       for i in impls if i in ms},
                    'winner': best, 'explicit/winner': f'{ms["explicit"] / ms[best]:.2f}'})
  lines += [markdown_table(table, right=('length', 'steps', *(f'{i} ms' for i in impls),
                                         'explicit/winner')), '',
            '`=`: blocked runs the explicit code there (one tile); its time against explicit\'s '
            'is the noise of the run, and it is no candidate.', '']
  lines += [f'`auto` on this platform and CPU model (table entry `{key}`; the winners: a length '
            'between two measured ones takes the shorter one\'s winner, a length below them all '
            'the shortest\'s):', '']
  for workload, ranges in table_entry(rows).items():
    lines.append(f'- {workload}: ' + '; '.join(
        f'{impl} from L={n}' for n, impl in ranges))
  return '\n'.join(lines) + '\n'
