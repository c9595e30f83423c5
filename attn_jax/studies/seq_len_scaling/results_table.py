"""`DIR/results.csv` of the sequence-length study: one row per (model, seq_len)
(docs/design.md §3.3), and `DIR/capability.csv`: one row per (task, model, seq_len, seed).

The file is rewritten (atomically: `study_runs.write_csv`) after every measured row, so an
interrupted sweep keeps what it measured and a rerun skips it; a last row cut short (by a writer
that was not atomic) is left out, so its point is measured again. Rows whose `status` is `ok` or
`oom` are final; a row with an `error: ...` status is measured again on the next run.
"""
import csv
import io
import math

from attn_jax import durable
from attn_jax.studies.study_runs import write_csv

# The contract columns (docs/design.md §3.3), then what we add: the matched width, where the
# memory number comes from ('compiler' or 'device_peak'), the wall seconds the point took (compile
# and timing) and the row's status ('ok', 'oom', 'error: ...'). The seconds' column is named
# `cell_s`, not after the point: users and committed results read it under that name
# (experiments/results/seq_len_scaling_cpu/).
CONTRACT_COLUMNS = ('model', 'seq_len', 'batch_size', 'num_params', 'compile_s', 'step_ms',
                    'tokens_per_s', 'peak_memory_bytes', 'flops_per_step', 'accuracy')
COLUMNS = CONTRACT_COLUMNS + ('hidden_size', 'memory_source', 'cell_s', 'status')
# `DIR/capability.csv` (`capability`): one row per (task, model, seq_len, seed), `seq_len` an
# evaluation length of the (task, model) curve; `trained` 0 where it was not trained on.
CAPABILITY_COLUMNS = (
    'task', 'model', 'seq_len', 'seed', 'trained', 'train_lengths', 'num_layers', 'hidden_size',
    'num_params', 'state_bytes', 'batch_size', 'learning_rate', 'learning_rates', 'best_accuracy_by_lr', 'steps_to_solve',
    'seconds_to_solve', 'best_accuracy', 'final_accuracy', 'accuracy_2x', 'accuracy_4x',
    'guessing_accuracy', 'steps_trained', 'max_steps', 'pilot_steps', 'compile_s', 'cell_s',
    'status')
_INTS = ('seq_len', 'batch_size', 'num_params', 'hidden_size', 'seed', 'num_layers',
         'state_bytes', 'steps_to_solve', 'steps_trained', 'max_steps', 'distance',
         'context_len', 'fit_first', 'fit_last', 'fit_points', 'trained', 'pilot_steps')
# Text columns of these files and of the gradient-flow CSVs (`capability_report`).
_STRINGS = ('model', 'memory_source', 'status', 'task', 'learning_rates', 'best_accuracy_by_lr',
            'stage', 'train_lengths')
FINAL_STATUSES = ('ok', 'oom')
# The study's files in its workdir.
RESULTS_FILE, CAPABILITY_FILE, FRONTIER_FILE, GRAD_FLOW_FILE, GRAD_DECAY_FILE, INFERENCE_FILE = (
    'results.csv', 'capability.csv', 'frontier.csv', 'grad_flow.csv', 'grad_flow_decay.csv', 'inference.csv')


Row = dict


def failed_row(model: str, seq_len: int, status: str, **known) -> Row:
  """A row for a point that failed: `status` and whatever was measured before; NaN elsewhere."""
  row = {c: math.nan for c in COLUMNS}
  row.update(model=model, seq_len=seq_len, memory_source='', **known)
  row['status'] = status
  return row


def lengths_text(lengths) -> str:
  """(8, 16, 32) -> '8/16/32': a curve's training lengths as its rows' `train_lengths`."""
  return '/'.join(map(str, lengths))


def is_final(row: Row) -> bool:
  return row['status'] in FINAL_STATUSES


def finished(seeds: list[Row], num_seeds: int) -> bool:
  """Whether a capability or frontier point's rows are all there (one per seed) and final."""
  return len(seeds) == num_seeds and all(map(is_final, seeds))


def sort_key(row: Row, model_order=()) -> tuple:
  order = list(model_order)
  rank = order.index(row['model']) if row['model'] in order else len(order)
  return rank, row['model'], row['seq_len']


def _parse(column: str, text: str):
  if column in _STRINGS:
    return text
  if text in ('', 'nan', 'NaN'):
    return math.nan
  value = float(text)
  return int(value) if column in _INTS and value.is_integer() else value


def read_rows(path: str, columns=COLUMNS) -> list[Row]:
  """The rows of `path` (none if it does not exist), typed: ints, floats (NaN when empty), strings."""
  lines = csv.DictReader(io.StringIO(durable.complete_text(path)))
  return [{c: _parse(c, line.get(c, '')) for c in columns} for line in lines]


def _format(value) -> str:
  if isinstance(value, float):
    return 'nan' if math.isnan(value) else f'{value:.6g}'
  return str(value)


def write_rows(path: str, rows: list[Row], columns=COLUMNS):
  """Replaces `path` with `rows` (every column of `columns`), atomically."""
  write_csv(path, [{c: _format(row.get(c, math.nan)) for c in columns} for row in rows], columns)
