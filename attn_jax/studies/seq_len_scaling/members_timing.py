"""Members by measurement: the capability phase's point program (seeds x learning rates of one
shape) timed with its members batched (`jax.vmap`) and looped inside the program (`lax.map`), on
this machine, so that `capability.MEMBERS_BY_PLATFORM` rests on numbers.

`run(config, workdir)` (experiment `members_timing`): for each model of `config.models` at each
length of `config.lengths`, the sequence-length study's matched width on `config.data`, the
members of `study.seeds` seeds x `study.learning_rates`; each mode compiled once, then
`study.timed_steps`-step chunks timed alternately (`repeats` times each, after one warm-up
chunk), median -> `DIR/members.csv` (ms per member-step in each mode, and their ratio) and
`DIR/report.md`.
"""
import os
import statistics
import time

import jax
import numpy as np

from attn_jax import durable, progress
from attn_jax.data import load_dataset
from attn_jax.models.registry import build_model
from attn_jax.studies import study_runs
from attn_jax.studies.seq_len_scaling import capability, scaling_report, seq_len_scaling
from attn_jax.tables import markdown_table
from attn_jax.training.run_record import report_platform

MODES = ('vmap', 'map')
COLUMNS = ('model', 'seq_len', 'batch_size', 'hidden_size', 'num_params', 'members',
           'vmap_ms_per_member_step', 'map_ms_per_member_step', 'map_over_vmap')


def time_modes(point, *, seeds, rates, steps: int, repeats: int) -> dict[str, float]:
  """{mode: median ms per member-step} of `point`'s chunk program in each mode, timed
  alternately."""
  datasets = [load_dataset(point.data, seed=s) for s in seeds]
  info = datasets[0].info
  model = build_model(point.model, info)
  batches = jax.device_put(capability.seed_batches(datasets, 0, steps, point.train.batch_size))
  active = np.ones((len(seeds), len(rates)), bool)
  args = (np.asarray(rates, np.float32), batches, capability.base_keys(seeds))
  states, compiled = {}, {}
  for mode in MODES:
    states[mode] = capability.init_members(point, model, info, seeds, len(rates))
    compiled[mode] = capability.make_chunk_fn(point.train, info.kind, mode).lower(
        states[mode], active, *args).compile()
  times = {mode: [] for mode in MODES}
  for repeat in range(repeats + 1):
    for mode in MODES:
      start = time.perf_counter()
      states[mode], losses = compiled[mode](states[mode], active, *args)
      jax.block_until_ready(losses)
      if repeat:  # the first chunk of each mode is a warm-up
        times[mode].append(time.perf_counter() - start)
  members = len(seeds) * len(rates)
  return {m: 1e3 * statistics.median(t) / (steps * members) for m, t in times.items()}


def run(config, workdir: str) -> list[dict]:
  models = seq_len_scaling.parse_models(config.models)
  lengths = seq_len_scaling.parse_lengths(config.lengths)
  seeds = seq_len_scaling.seeds_of(config)
  rates = seq_len_scaling.parse_rates(config.study.learning_rates)
  os.makedirs(workdir, exist_ok=True)
  widths, rows = seq_len_scaling.Widths(config), []
  for model, length in progress.bar([(m, l) for m in models for l in lengths], unit='point',
                                    desc='members_timing'):
    info = load_dataset(seq_len_scaling.data_config(config, length), seed=config.seed).info
    hidden, params = widths(model, info)
    point = seq_len_scaling.point_config(config, model, length, hidden)
    ms = time_modes(point, seeds=seeds, rates=rates, steps=config.study.timed_steps,
                    repeats=config.repeats)
    rows.append(dict(model=model, seq_len=length, batch_size=config.train.batch_size,
                     hidden_size=hidden, num_params=params, members=len(seeds) * len(rates),
                     vmap_ms_per_member_step=f'{ms["vmap"]:.3f}',
                     map_ms_per_member_step=f'{ms["map"]:.3f}',
                     map_over_vmap=f'{ms["map"] / ms["vmap"]:.3f}'))
    study_runs.write_csv(os.path.join(workdir, 'members.csv'), rows, COLUMNS)
  ratios = [float(r['map_over_vmap']) for r in rows]
  faster = 'map' if statistics.median(ratios) < 1 else 'vmap'
  platform = scaling_report.platform_line(report_platform())
  durable.write_text(os.path.join(workdir, 'report.md'), (
            f'# Members in one program: vmap against lax.map\n\n'
            f'Platform: {platform}. Task `{config.data.name}`; {len(seeds)} seeds x rates '
            f'{config.study.learning_rates}; median of {config.repeats} alternating chunks of '
            f'{config.study.timed_steps} steps after a warm-up chunk, per member-step.\n\n'
            f'{markdown_table(rows)}\n\nmap / vmap: median {statistics.median(ratios):.3f} '
            f'(range {min(ratios):.3f}-{max(ratios):.3f}): `{faster}` is faster on '
            f'{jax.default_backend()} here.\n'))
  print(f'{workdir}: members.csv, report.md; map/vmap median {statistics.median(ratios):.3f}')
  return rows
