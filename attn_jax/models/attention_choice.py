"""`attention_impl='auto'`: the fastest attention implementation for a platform, a length and a
workload (train or decode), read from a committed table of measurements.

The table is `attention_impl_table.json` beside this file. It is written by the measurement
`python launch.py --config=experiments/configs/attention_impl.py --workdir=DIR` (module
`attn_jax/studies/benchmark/attention_impl.py`), which times every implementation's train step
and one-token decode step over lengths, writes `DIR/results.csv` and `DIR/report.md`, and writes
`DIR/attention_impl_table.json`: this table with the measured platform's entry replaced (the other
platforms kept). Copy that file over this one to adopt it; the measured CSV behind the committed
table is `experiments/results/attention_impl/results.csv`.

Table format:

    {"platforms": {"cpu": {"decode": [[64, "explicit"]],
                           "train": [[64, "explicit"], [512, "blocked"]]}},
     "sources": {"cpu": "..."}}           per platform: what was measured, where, when

(the committed CPU rows: explicit below L=512 in training, blocked from 512; explicit in decode.)

Each `[from_length, impl]` row holds from its length up to the next row's; lengths below the
first row take the first row's impl (the winner at the shortest measured length).

Workloads: 'train' is attention over full sequences (measured as the whole train step: forward,
backward, update; forward-only evaluation reads the same row); 'decode' is one query attending
to `length` keys (a generated token against its KV cache, or its cross-attention).
A platform (or workload) without an entry gets `UNMEASURED`: 'fused' on gpu and tpu, where
`jax.nn.dot_product_attention` is XLA's fused attention (cuDNN's on a GPU where eligible), an
assumption that no measurement here backs; 'explicit' elsewhere. Active attention dropout always
gives 'explicit', the only implementation that applies it.
"""
import json
import os

TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'attention_impl_table.json')
WORKLOADS = ('train', 'decode')
# Platforms with no measured entry (an assumption, not a measurement: see the module docstring).
UNMEASURED = {'gpu': 'fused', 'tpu': 'fused'}
UNMEASURED_DEFAULT = 'explicit'


def load_table(path: str = TABLE_PATH) -> dict:
  """The committed table: {platform: {workload: [[from_length, impl], ...] sorted by length}}."""
  with open(path) as f:
    platforms = json.load(f)['platforms']
  return {platform: {workload: sorted((int(n), impl) for n, impl in rows)
                     for workload, rows in workloads.items()}
          for platform, workloads in platforms.items()}


TABLE = load_table()


def _platform_rows(platform: str, table: dict | None) -> dict:
  """{workload: rows} of `platform` in `table` (default: the committed `TABLE`); {} if none."""
  return (TABLE if table is None else table).get(platform, {})


def _unmeasured(platform: str) -> str:
  return UNMEASURED.get(platform, UNMEASURED_DEFAULT)


def choose_attention_impl(platform: str, length: int, workload: str, dropout: bool = False,
                          table: dict | None = None) -> str:
  """The attention implementation 'auto' runs.

  Args:
    platform: `jax.default_backend()`: 'cpu', 'gpu', 'tpu', ...
    length: keys each query attends to (the sequence length; the KV cache length in decode).
    workload: 'train' (full sequences) or 'decode' (one query), see the module docstring.
    dropout: attention dropout is active (rate > 0 and training): then 'explicit'.
    table: the table to read (default: the committed `TABLE`).
  Returns:
    'explicit', 'fused' or 'blocked'.
  """
  if workload not in WORKLOADS:
    raise ValueError(f'workload {workload!r}; accepted: {", ".join(WORKLOADS)}')
  if dropout:
    return 'explicit'
  rows = _platform_rows(platform, table).get(workload)
  if not rows:
    return _unmeasured(platform)
  impl = rows[0][1]
  for from_length, row_impl in rows:
    if length >= from_length:
      impl = row_impl
  return impl


def describe_choice(platform: str, table: dict | None = None) -> str:
  """What 'auto' runs on `platform`, in words for a report: 'train: explicit from L=64, blocked
  from L=512; decode: explicit from L=64' (or the unmeasured fallback)."""
  workloads = _platform_rows(platform, table)
  if not workloads:
    return f'{_unmeasured(platform)} (no measurement on {platform})'
  return '; '.join(f'{workload}: ' + ', '.join(f'{impl} from L={n}' for n, impl in rows)
                   for workload, rows in workloads.items())
