"""The studies' files survive a crash: tables are replaced whole (a crash leaves the old table or
the new one), a last row cut short is left out and its point measured again, and a full disk is one
`error:` line that leaves the old table in place."""
import errno
import os

import pytest

from attn_jax import durable
from attn_jax.errors import ConfigError
from attn_jax.studies import study_runs
from attn_jax.studies.seq_len_scaling import results_table, seq_len_scaling
from attn_jax.training import disk_full
from test_study_seq_len_scaling import COST_ONLY, study_config

ROWS = [{'model': 'lstm', 'seq_len': 8, 'status': 'ok'},
        {'model': 'lstm', 'seq_len': 16, 'status': 'ok'}]


def test_a_last_row_cut_short_is_measured_again(tmp_path, monkeypatch):
  calls = []

  def measured(config, model, length, widths):  # a made-up cost row: nothing is compiled
    calls.append((model, length))
    return {**results_table.failed_row(
        model, length, 'ok', batch_size=4, num_params=100, hidden_size=8, compile_s=0.1,
        step_ms=0.1 * length, tokens_per_s=1e4 / length, peak_memory_bytes=1e3 * length,
        flops_per_step=1e5 * length, cell_s=0.2), 'memory_source': 'compiler'}

  monkeypatch.setattr(seq_len_scaling, 'measure_point', measured)
  config = study_config(models='lstm', lengths='8,16', **COST_ONLY)
  seq_len_scaling.run(config, str(tmp_path))
  path = tmp_path / 'results.csv'
  text = path.read_text()
  path.write_text(text[:text.rstrip().rfind('\n') + 20])  # the last row cut in the middle
  assert [r['seq_len'] for r in results_table.read_rows(str(path))] == [8]
  calls.clear()
  rows = seq_len_scaling.run(config, str(tmp_path))
  assert calls == [('lstm', 16)]
  assert [(r['seq_len'], r['status']) for r in rows] == [(8, 'ok'), (16, 'ok')]


def test_a_table_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
  path = str(tmp_path / 'results.csv')
  study_runs.write_csv(path, ROWS)
  before = open(path).read()

  def killed_before_the_rename(*args):
    raise KeyboardInterrupt  # stands for the process dying between writing and renaming

  monkeypatch.setattr(os, 'replace', killed_before_the_rename)
  with pytest.raises(KeyboardInterrupt):
    study_runs.write_csv(path, ROWS[:1])
  assert open(path).read() == before
  assert os.listdir(tmp_path) == ['results.csv']


def test_a_full_disk_while_saving_a_table_is_one_error(tmp_path, monkeypatch):
  path = str(tmp_path / 'results.csv')
  study_runs.write_csv(path, ROWS)

  def no_space(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(durable, 'write_text', no_space)
  with pytest.raises(ConfigError) as refused:
    results_table.write_rows(path, [])
  assert str(refused.value) == (
      f'workdir: no space left on {disk_full._mount_point(tmp_path)} while saving results.csv; '
      'results.csv as saved before is intact; free space and rerun the same command to continue')
  assert len(results_table.read_rows(path)) == 2
