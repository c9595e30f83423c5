"""`attention_impl='auto'`: the fastest attention implementation for a platform, the host's CPU
model, a length and a workload (train or decode), read from a committed table of measurements.

The table is `attention_impl_table.json` beside this file. Its entries are keyed by platform and
host CPU model, `'<platform>/<model>'` (`table_key`: 'cpu/AMD EPYC', the model name as
`host_cpu.cpu_model()` gives it, Linux `/proc/cpuinfo`'s), or by platform alone ('cpu'): the
fallback for that platform's hosts whose model has no entry. 'auto' reads the host model's entry,
else the platform's, else `UNMEASURED` (`entry_key` says which entry; `describe_choice` names it):
what was measured on one CPU model is not assumed to hold on another. The host's model is read once
per process (`host_cpu_model`).

The table is written by the measurement
`python launch.py --config=experiments/configs/attention_impl.py --workdir=DIR` (module
`attn_jax/studies/benchmark/attention_impl.py`), which times every implementation's train step
and one-token decode step over lengths, writes `DIR/results.csv` and `DIR/report.md`, and writes
`DIR/attention_impl_table.json`: this table with the measured host's entry
(`'<platform>/<model>'`) replaced, every other entry kept. Copy that file over this one to adopt
it; the measured CSV behind the committed table is
`experiments/results/attention_impl/results.csv`. A platform-wide fallback entry is made by hand
(renaming a model's entry), where one measurement is taken to hold for every host of a platform;
the committed table has none.

Table format:

    {"entries": {"cpu/AMD EPYC": {"decode": [[64, "explicit"]],
                                  "train": [[64, "explicit"], [512, "blocked"]]}},
     "sources": {"cpu/AMD EPYC": "..."}}   per entry: what was measured, where, when

(the committed entries: a 2-core AMD EPYC, explicit below L=512 in training, blocked from 512,
explicit in decode; a 2-core Intel Xeon, explicit everywhere since the explicit path runs causal
query chunks: blocked within 10% of it from L=512 in training, all three within 10% in decode.)

Each `[from_length, impl]` row holds from its length up to the next row's; lengths below the
first row take the first row's impl (the winner at the shortest measured length).

Workloads: 'train' is attention over full sequences (measured as the whole train step: forward,
backward, update; forward-only evaluation reads the same row); 'decode' is one query attending
to `length` keys (a generated token against its KV cache, or its cross-attention).
A host with no entry (neither its model's nor its platform's), or an entry without the workload,
gets `UNMEASURED`: 'fused' on gpu and tpu, where `jax.nn.dot_product_attention` is XLA's fused
attention (cuDNN's on a GPU where eligible), an assumption that no measurement here backs;
'explicit' elsewhere (a CPU model not measured included). Active attention dropout always gives
'explicit', the only implementation that applies it.
"""
import functools
import json
import os

from attn_jax import host_cpu

TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'attention_impl_table.json')
WORKLOADS = ('train', 'decode')
# Platforms with no measured entry (an assumption, not a measurement: see the module docstring).
UNMEASURED = {'gpu': 'fused', 'tpu': 'fused'}
UNMEASURED_DEFAULT = 'explicit'


def load_table(path: str = TABLE_PATH) -> dict:
  """The committed table: {key: {workload: [(from_length, impl), ...] sorted by length}}, each
  key a platform and host CPU model (`table_key`) or a platform alone (its fallback)."""
  with open(path) as f:
    entries = json.load(f)['entries']
  return {key: {workload: sorted((int(n), impl) for n, impl in rows)
                for workload, rows in workloads.items()}
          for key, workloads in entries.items()}


TABLE = load_table()


@functools.cache
def host_cpu_model() -> str:
  """This host's CPU model name (`host_cpu.cpu_model()`, e.g. 'Intel(R) Xeon(R) Processor'),
  read once per process."""
  return host_cpu.cpu_model()


def table_key(platform: str, cpu_model: str) -> str:
  """The key of the entry measured on `platform` on a host whose CPU model is `cpu_model`:
  'cpu/AMD EPYC'."""
  return f'{platform}/{cpu_model}'


def _keys(platform: str, cpu_model: str | None) -> tuple[str, str]:
  """The keys 'auto' reads, first found first: the host model's (`cpu_model`, default this
  host's), then the platform's fallback."""
  return table_key(platform, cpu_model or host_cpu_model()), platform


def _table(table: dict | None) -> dict:
  """`table`, or the committed `TABLE` for None."""
  return TABLE if table is None else table


def entry_key(platform: str, table: dict | None = None, cpu_model: str | None = None) -> str | None:
  """The key of the entry 'auto' reads on `platform` in `table` (default: the committed `TABLE`):
  the host CPU model's (`cpu_model`, default this host's `host_cpu_model()`), else the platform's
  fallback; None where there is neither."""
  return next((key for key in _keys(platform, cpu_model) if key in _table(table)), None)


def _entry(platform: str, table: dict | None, cpu_model: str | None) -> dict:
  """{workload: rows} of the entry 'auto' reads (`entry_key`); {} if none."""
  key = entry_key(platform, table, cpu_model)
  return {} if key is None else _table(table)[key]


def _unmeasured(platform: str) -> str:
  return UNMEASURED.get(platform, UNMEASURED_DEFAULT)


def choose_attention_impl(platform: str, length: int, workload: str, dropout: bool = False,
                          table: dict | None = None, cpu_model: str | None = None) -> str:
  """The attention implementation 'auto' runs.

  Args:
    platform: `jax.default_backend()`: 'cpu', 'gpu', 'tpu', ...
    length: keys each query attends to (the sequence length; the KV cache length in decode).
    workload: 'train' (full sequences) or 'decode' (one query), see the module docstring.
    dropout: attention dropout is active (rate > 0 and training): then 'explicit'.
    table: the table to read (default: the committed `TABLE`).
    cpu_model: the host's CPU model name (default: this host's, `host_cpu_model()`).
  Returns:
    'explicit', 'fused' or 'blocked': from the entry `entry_key` names, else `UNMEASURED`.
  """
  if workload not in WORKLOADS:
    raise ValueError(f'workload {workload!r}; accepted: {", ".join(WORKLOADS)}')
  if dropout:
    return 'explicit'
  rows = _entry(platform, table, cpu_model).get(workload)
  if not rows:
    return _unmeasured(platform)
  impl = rows[0][1]
  for from_length, row_impl in rows:
    if length >= from_length:
      impl = row_impl
  return impl


def describe_choice(platform: str, table: dict | None = None, cpu_model: str | None = None) -> str:
  """What 'auto' runs on `platform` (on a host of CPU model `cpu_model`, default this host's), in
  words for a report, naming the entry read: 'train: explicit from L=64, blocked from L=512;
  decode: explicit from L=64 (table entry cpu/AMD EPYC)', or the unmeasured fallback: 'explicit
  (no table entry for cpu/Intel(R) Xeon(R) Processor or cpu)'."""
  key = entry_key(platform, table, cpu_model)
  if key is None:
    return f'{_unmeasured(platform)} (no table entry for {" or ".join(_keys(platform, cpu_model))})'
  return '; '.join(f'{workload}: ' + ', '.join(f'{impl} from L={n}' for n, impl in rows)
                   for workload, rows in _table(table)[key].items()) + f' (table entry {key})'
