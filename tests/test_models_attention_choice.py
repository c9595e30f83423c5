"""`attention_impl='auto'`: the choice against the committed table and measurements, entries per
CPU model and the fallbacks (the platform's, unmeasured platforms'), dropout, the measurement's
table writer, and models that compute what 'explicit' computes."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax import host_cpu
from attn_jax.models import attention, attention_choice, registry, transformer
from attn_jax.models.attention_choice import choose_attention_impl
from attn_jax.studies.benchmark import attention_impl as measurement
from attn_jax.task import TaskInfo

_RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'experiments', 'results', 'attention_impl')
# The committed measurements, per host CPU model: the first, written before its rows named the
# CPU model, under the model name its report.md gives ('Measured: cpu (AMD EPYC, 2 cores)').
MEASUREMENTS = {'AMD EPYC': os.path.join(_RESULTS, 'results.csv'),
                'Intel(R) Xeon(R) Processor': os.path.join(_RESULTS, 'intel-xeon-processor',
                                                           'results.csv')}


def _measured(path: str) -> dict:
  """{(platform, workload, length): {impl: ms}} of the committed measurement at `path`."""
  out = {}
  for r in measurement.read_rows(path):
    out.setdefault((r['platform'], r['workload'], r['length']), {})[r['impl']] = r['ms']
  return out


@pytest.mark.parametrize('cpu_model', sorted(MEASUREMENTS))
def test_each_measured_winner_is_chosen(cpu_model):
  measured = _measured(MEASUREMENTS[cpu_model])
  assert ({attention_choice.table_key(p, cpu_model) for p, _, _ in measured}
          <= set(attention_choice.TABLE))
  assert {m for _, m, _ in measured} == set(attention_choice.WORKLOADS)
  for (platform, workload, length), ms in measured.items():
    assert set(ms) == set(attention.ATTENTION_IMPLS), (platform, workload, length)
    expected = measurement.winner(ms, workload, length)
    assert choose_attention_impl(platform, length, workload, cpu_model=cpu_model) == expected, (
        platform, workload, length, ms)


def test_committed_table_is_the_measurements_table():
  """The committed table holds exactly what the measurement derives from each committed CSV,
  under its host's CPU model, and nothing else."""
  entries = {}
  for cpu_model, path in MEASUREMENTS.items():
    rows = measurement.read_rows(path)
    for platform in {r['platform'] for r in rows}:
      entries[attention_choice.table_key(platform, cpu_model)] = measurement.table_entry(
          [r for r in rows if r['platform'] == platform])
  assert attention_choice.TABLE == {key: {m: [tuple(x) for x in v] for m, v in entry.items()}
                                    for key, entry in entries.items()}


def test_each_cpu_model_gets_its_own_winners_and_an_unmeasured_one_the_default():
  """The two vendors' winners differ (training at L=1024: blocked on the AMD EPYC, explicit in
  causal query chunks on the Intel Xeon), and neither is another CPU's: the committed table has
  no platform-wide cpu entry, so an unmeasured model gets the unmeasured default."""
  choose = lambda model, length, workload='train': choose_attention_impl('cpu', length, workload,
                                                                         cpu_model=model)
  assert [choose('AMD EPYC', n) for n in (256, 1024)] == ['explicit', 'blocked']
  assert [choose('Intel(R) Xeon(R) Processor', n) for n in (256, 1024)] == ['explicit', 'explicit']
  other = 'Some unmeasured CPU'
  assert attention_choice.entry_key('cpu', cpu_model=other) is None
  for workload in attention_choice.WORKLOADS:
    for length in (64, 1024):
      assert choose(other, length, workload) == 'explicit'


def test_each_cpu_model_reads_its_entry_and_others_the_fallback():
  table = {'cpu/AMD EPYC': {'train': [(64, 'explicit'), (512, 'blocked')]},
           'cpu/Intel(R) Xeon(R) Processor': {'train': [(64, 'fused')]},
           'cpu': {'train': [(64, 'blocked')], 'decode': [(64, 'fused')]}}
  choose = lambda model, length=1024, workload='train': choose_attention_impl(
      'cpu', length, workload, table=table, cpu_model=model)
  assert [choose('AMD EPYC', n) for n in (64, 1024)] == ['explicit', 'blocked']
  assert [choose('Intel(R) Xeon(R) Processor', n) for n in (64, 1024)] == ['fused', 'fused']
  assert [choose('Some ARM core', n) for n in (64, 1024)] == ['blocked', 'blocked']
  # A model's entry is read whole: its missing workload is unmeasured, not the fallback's.
  assert choose('AMD EPYC', 64, 'decode') == 'explicit'
  assert choose('Some ARM core', 64, 'decode') == 'fused'
  assert [attention_choice.entry_key('cpu', table, model) for model in
          ('AMD EPYC', 'Intel(R) Xeon(R) Processor', 'Some ARM core')] == [
              'cpu/AMD EPYC', 'cpu/Intel(R) Xeon(R) Processor', 'cpu']
  assert attention_choice.entry_key('gpu', table, 'AMD EPYC') is None


def test_host_model_is_the_default_and_read_once(monkeypatch):
  attention_choice.host_cpu_model.cache_clear()
  calls = []
  monkeypatch.setattr(host_cpu, 'cpu_model', lambda: calls.append(1) or 'Model X')
  try:
    table = {'cpu/Model X': {'train': [(0, 'fused')]}, 'cpu': {'train': [(0, 'blocked')]}}
    assert [choose_attention_impl('cpu', n, 'train', table=table) for n in (8, 64)] == ['fused'] * 2
    assert attention_choice.entry_key('cpu', table) == 'cpu/Model X'
    assert calls == [1]
  finally:
    attention_choice.host_cpu_model.cache_clear()


def test_table_writer_replaces_one_entry_and_keeps_the_others(tmp_path):
  path = tmp_path / 'table.json'
  path.write_text(json.dumps({
      'entries': {'cpu/AMD EPYC': {'train': [[64, 'explicit']]},
                  'cpu/Intel(R) Xeon(R) Processor': {'train': [[64, 'fused']]},
                  'cpu': {'decode': [[64, 'blocked']]}},
      'sources': {'cpu/AMD EPYC': 'amd', 'cpu/Intel(R) Xeon(R) Processor': 'xeon', 'cpu': 'all'}}))
  new = {'train': [[64, 'explicit'], [256, 'blocked']], 'decode': [[64, 'explicit']]}
  written = tmp_path / 'written.json'
  written.write_text(measurement.table_json('cpu/Intel(R) Xeon(R) Processor', new, 'xeon 2',
                                            str(path)))
  assert json.loads(written.read_text()) == {
      'entries': {'cpu/AMD EPYC': {'train': [[64, 'explicit']]},
                  'cpu/Intel(R) Xeon(R) Processor': new, 'cpu': {'decode': [[64, 'blocked']]}},
      'sources': {'cpu/AMD EPYC': 'amd', 'cpu/Intel(R) Xeon(R) Processor': 'xeon 2', 'cpu': 'all'}}
  # A new model is added beside them; what is written reads back as the choice's table.
  written.write_text(measurement.table_json('cpu/Some ARM core', new, 'arm', str(path)))
  table = attention_choice.load_table(str(written))
  assert set(table) == {'cpu/AMD EPYC', 'cpu/Intel(R) Xeon(R) Processor', 'cpu',
                        'cpu/Some ARM core'}
  assert choose_attention_impl('cpu', 300, 'train', table=table,
                               cpu_model='Some ARM core') == 'blocked'


def test_committed_table_is_what_its_writer_writes():
  """The committed file is in the writer's format: rewriting its entry changes nothing."""
  with open(attention_choice.TABLE_PATH) as f:
    text = f.read()
  committed = json.loads(text)
  for key, entry in committed['entries'].items():
    assert measurement.table_json(key, entry, committed['sources'][key]) == text


def test_table_rows_name_implementations():
  for platform, workloads in attention_choice.TABLE.items():
    assert set(workloads) <= set(attention_choice.WORKLOADS), platform
    for rows in workloads.values():
      assert rows == sorted(rows) and {impl for _, impl in rows} <= set(attention.ATTENTION_IMPLS)


def test_ranges_hold_from_their_length_and_the_first_below_it():
  table = {'cpu': {'train': [(64, 'explicit'), (512, 'blocked')], 'decode': [(64, 'fused')]}}
  choose = lambda length, workload='train': choose_attention_impl('cpu', length, workload,
                                                                  table=table)
  assert [choose(n) for n in (8, 64, 511, 512, 100_000)] == ['explicit'] * 3 + ['blocked'] * 2
  assert choose(1, 'decode') == 'fused'


def test_description_names_every_range_and_the_entry_read():
  table = {'cpu': {'train': [(64, 'explicit'), (512, 'blocked')], 'decode': [(64, 'fused')]},
           'cpu/AMD EPYC': {'train': [(64, 'blocked')]}}
  describe = lambda platform, model: attention_choice.describe_choice(platform, table, model)
  assert describe('cpu', 'Intel(R) Xeon(R) Processor') == (
      'train: explicit from L=64, blocked from L=512; decode: fused from L=64 (table entry cpu)')
  assert describe('cpu', 'AMD EPYC') == 'train: blocked from L=64 (table entry cpu/AMD EPYC)'
  assert describe('gpu', 'AMD EPYC') == 'fused (no table entry for gpu/AMD EPYC or gpu)'


def test_unmeasured_platforms_fall_back():
  for length in (16, 4096):
    for workload in attention_choice.WORKLOADS:
      assert choose_attention_impl('gpu', length, workload, table={}) == 'fused'
      assert choose_attention_impl('tpu', length, workload, table={}) == 'fused'
      assert choose_attention_impl('metal', length, workload, table={}) == 'explicit'
  # A platform with a train row only: decode is unmeasured there.
  table = {'gpu': {'train': [(0, 'blocked')]}}
  assert choose_attention_impl('gpu', 64, 'decode', table=table) == 'fused'


def test_dropout_gives_explicit_and_bad_modes_are_refused():
  for platform in ('cpu', 'gpu', 'tpu', 'other'):
    for length in (1, 128, 8192):
      for workload in attention_choice.WORKLOADS:
        assert choose_attention_impl(platform, length, workload, dropout=True) == 'explicit'
  with pytest.raises(ValueError, match='accepted: train, decode'):
    choose_attention_impl('cpu', 64, 'eval')


def test_module_resolves_auto_per_call():
  """Length and workload from the call's shapes; explicit while weight dropout is active."""
  table = {jax.default_backend(): {'train': [(0, 'fused'), (256, 'blocked')],
                                   'decode': [(0, 'explicit'), (1024, 'fused')]}}
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(attention_choice, 'TABLE', table)
    mha = attention.MultiHeadAttention(2, 8, impl='auto')
    assert [mha.resolve_impl(n, n, False) for n in (16, 255, 256)] == ['fused', 'fused', 'blocked']
    assert [mha.resolve_impl(1, n, False) for n in (16, 1024)] == ['explicit', 'fused']
    dropout = attention.MultiHeadAttention(2, 8, dropout_rate=0.1, impl='auto')
    assert dropout.resolve_impl(256, 256, True) == 'explicit'
    assert dropout.resolve_impl(256, 256, False) == 'blocked'
  assert attention.MultiHeadAttention(2, 8, impl='fused').resolve_impl(1, 16, True) == 'fused'


LEN = 160  # q_len * k_len > BLOCK_SIZE ** 2: 'blocked' tiles (two blocks of 128)


@pytest.mark.parametrize('impl', ['fused', 'blocked'])
def test_auto_lm_equals_explicit(impl):
  """A registry LM with 'auto' (the table patched to pick `impl` in train and decode) gives the
  explicit model's logits and gradients, and the same KV-cached decode step."""
  info = TaskInfo('lm', LEN, 11, target_vocab_size=11, input_shape=(LEN,))
  models = {name: registry.build_model(config_of(name), info) for name in ('explicit', 'auto')}
  tokens = jnp.asarray(np.random.RandomState(0).randint(1, 11, (2, LEN)), jnp.int32)
  params = models['explicit'].init(jax.random.key(0), tokens)['params']
  table = {jax.default_backend(): {'train': [(0, impl)], 'decode': [(0, impl)]}}
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(attention_choice, 'TABLE', table)
    out = {}
    for name, model in models.items():
      loss = lambda p: jnp.mean(model.apply({'params': p}, tokens) ** 2)
      logits, state = model.apply({'params': params}, tokens, mutable=['intermediates'])
      cache = transformer.init_cache(model, tokens)
      step, _ = model.apply({'params': params, 'cache': cache}, tokens[:, :1], decode=True,
                            mutable=['cache'])
      out[name] = (logits, jax.grad(loss)(params), step, bool(state))
  assert out['explicit'][3] and not out['auto'][3]  # only explicit sows weights
  for a, b in zip(jax.tree.leaves(out['auto'][:3]), jax.tree.leaves(out['explicit'][:3])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def config_of(attention_impl):
  config = registry.model_config_defaults()
  config.update(dict(name='transformer', num_layers=1, hidden_size=8, num_heads=2, mlp_dim=16,
                     attention_impl=attention_impl))
  return config
