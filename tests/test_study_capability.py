"""Capability curves (attn_jax/studies/seq_len_scaling/capability.py): a member trained on a mixture
of lengths equals a plain run over the same batches, solve-stopping at a known check, the pilot's
rate choice (the losing rates stop), rows per evaluation length, state bytes."""
import concurrent.futures
import functools
import math

import jax
import numpy as np
import pytest

from attn_jax.config_base import base_config
from attn_jax.data import generated, load_dataset
from attn_jax.models.registry import build_model
from attn_jax.studies.seq_len_scaling import capability, capability_report, results_table
from attn_jax.training.state import create_train_state
from attn_jax.training.steps import train_step

LENGTHS = (4, 6)
BATCH = 4
CHECK = 4  # two steps per length per check


def tiny_config(model: str, seed: int = 0, learning_rate: float = 1e-3, seq_len: int = 6):
  return base_config(
      seed=seed, model=dict(name=model, num_layers=1, hidden_size=8, num_heads=2, mlp_dim=16,
                            max_len=12, dropout_rate=0.1 if model == 'transformer' else 0.0),
      data=dict(name='first_token', seq_len=seq_len, num_classes=4, num_eval_examples=8),
      train=dict(num_steps=12, batch_size=BATCH, learning_rate=learning_rate, warmup_steps=1,
                 lr_schedule='cosine'))


def protocol(max_steps=8, pilot_steps=4, eval_lengths=LENGTHS + (12,)):
  return capability.Protocol(train_lengths=LENGTHS, eval_lengths=eval_lengths,
                             batch_size=BATCH, check_every=CHECK, max_steps=max_steps,
                             pilot_steps=pilot_steps, solve_accuracy=0.99)


def datasets(seeds, lengths=LENGTHS):
  return {(s, l): load_dataset(tiny_config('gru', seq_len=l).data, seed=s)
          for s in seeds for l in lengths}


def plain_run(model_name: str, seed: int, rate: float, num_checks: int):
  """A plain run: `create_train_state`, the training package's train_step, batch `step` of the
  length-L data of `seed`, the lengths cycled as the protocol cycles them."""
  config = tiny_config(model_name, seed, rate)
  data = datasets([seed])
  model = build_model(config.model, data[seed, LENGTHS[0]].info)
  state = create_train_state(config, model, data[seed, LENGTHS[0]].info, jax.random.key(seed))
  key = jax.random.fold_in(jax.random.key(seed), 1)
  step = jax.jit(functools.partial(train_step, kind='classification'))
  group = CHECK // len(LENGTHS)
  for start in range(0, num_checks * CHECK, CHECK):
    for i, length in enumerate(LENGTHS):
      for n in range(start + i * group, start + (i + 1) * group):
        state, _ = step(state, data[seed, length].train_batch(n, BATCH), key)
  return state.params


def compiled(model_name='gru', seeds=(3,), evaluate=None, eval_lengths=LENGTHS + (12,)):
  config = tiny_config(model_name, seeds[0])
  data = datasets(seeds)
  info = data[seeds[0], LENGTHS[0]].info
  model = build_model(config.model, info)
  eval_data = [load_dataset(tiny_config('gru', seq_len=l).data, seed=0) for l in eval_lengths]
  programs, compile_s = capability.compile_programs(config, model, info, protocol(), data,
                                                     eval_data, 8)
  if evaluate is not None:
    programs = programs._replace(evaluate=evaluate)
  return config, model, info, programs, compile_s, data, eval_data


@pytest.mark.parametrize('model_name', ['gru', pytest.param('transformer', marks=pytest.mark.slow)])
def test_a_member_equals_a_plain_run_over_the_same_lengths(model_name):
  """A member trained for two checks on the mixture (rate a traced argument, the programs shared
  by members) has the parameters of the plain run with that seed and rate over the same batches
  (the transformer with dropout on, so the keys matter too)."""
  seed, rate = 3, 1e-2
  _, _, _, programs, _, _, _ = compiled(model_name, (seed,))
  member = capability.new_member(programs.init, seed, rate, 3)
  capability.train_member(member, programs, protocol(max_steps=8), 8)
  assert member.curve.steps_trained == 8
  want = plain_run(model_name, seed, rate, num_checks=2)
  for (path, got), expected in zip(jax.tree_util.tree_leaves_with_path(member.state.params),
                                   jax.tree.leaves(want)):
    if 'key' in jax.tree_util.keystr(path) and 'bias' in jax.tree_util.keystr(path):
      continue  # softmax ignores a key bias: its gradient is rounding noise that Adam amplifies
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=2e-4, atol=2e-6,
                               err_msg=jax.tree_util.keystr(path))


def scripted(schedule):
  """An `evaluate` that returns `schedule[k]` (an accuracy per evaluation length) at the lengths
  it is asked for at its k-th call (k from 1), keeping the params and the indices asked for."""
  calls, asked = [], []

  def evaluate(params, at):
    calls.append(jax.tree.map(np.asarray, params))
    asked.append(list(at))
    return np.array(schedule[min(len(calls), max(schedule))], np.float64)[at]
  evaluate.asked = asked
  return evaluate, calls


def test_solve_stopping_at_a_known_check():
  """Accuracies at the lengths 4, 6 (trained) and 12 (extrapolation): 4 reaches the threshold at
  check 1 and falls back, 6 at check 3, where 4 is up again: the member is done at check 3 (step
  12); the extrapolation length never gates it and is read once, after the last step. Seconds
  come from the clock."""
  evaluate, calls = scripted({1: [0.995, 0.5, 1.0], 2: [0.9, 0.8, 1.0], 3: [1.0, 0.99, 1.0],
                              4: [0, 0, 0.3], 5: [0, 0, 0]})
  _, _, _, programs, _, _, _ = compiled(evaluate=evaluate)
  member = capability.new_member(programs.init, 3, 1e-3, 3)
  ticks = iter(range(1000))
  capability.train_member(member, programs, protocol(max_steps=40), 40,
                          clock=lambda: float(next(ticks)))
  c = member.curve
  assert len(calls) == 4 and c.steps_trained == 12 and c.done_step == 12
  assert evaluate.asked == [[0, 1]] * 3 + [[2]]
  np.testing.assert_array_equal(c.steps_to_solve, [4, 12, np.nan])
  np.testing.assert_array_equal(c.best_accuracy, [1.0, 0.99, 0.3])
  np.testing.assert_array_equal(c.final_accuracy, [1.0, 0.99, 0.3])
  # Two timed calls (one per length) per check, each two clock reads apart: 2 s per check.
  np.testing.assert_array_equal(c.seconds_to_solve, [2, 6, np.nan])
  assert not any(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(calls[0]),
                                                     jax.tree.leaves(calls[2])))
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(calls[2]),
                                                  jax.tree.leaves(calls[3])))


def test_the_budget_is_spent_when_a_length_never_solves():
  evaluate, calls = scripted({1: [1.0, 0.5, 1.0]})
  _, _, _, programs, _, _, _ = compiled(evaluate=evaluate)
  member = capability.new_member(programs.init, 3, 1e-3, 3)
  capability.train_member(member, programs, protocol(max_steps=12), 12)
  assert len(calls) == 4 and member.curve.steps_trained == 12
  assert math.isnan(member.curve.done_step)
  np.testing.assert_array_equal(member.curve.steps_to_solve, [4, np.nan, 12])


def test_the_pilot_chooses_a_rate_and_stops_the_others():
  """Two rates, two seeds: the pilot (first seed, 4 steps each) picks the rate whose mean accuracy
  over the training lengths is higher; the chosen member continues to the budget, the other
  seed starts at the chosen rate, and no member of the losing rate trains past the pilot."""
  config, model, info, _, _, data, eval_data = compiled(seeds=(0, 1))
  rates = (1e-4, 3e-2)
  result = capability.measure_curve(config, model, info, protocol(max_steps=8, pilot_steps=4),
                                    seeds=(0, 1), rates=rates, train_data=data,
                                    eval_data=eval_data, eval_batch_size=8)
  mean = {r: float(np.mean(a[:2])) for r, a in result.pilot.items()}
  assert set(mean) == set(rates)
  assert result.rate == max(rates, key=lambda r: (mean[r], -rates.index(r)))
  assert [m.seed for m in result.members] == [0, 1]
  assert all(m.rate == result.rate for m in result.members)
  assert all(m.curve.steps_trained == 8 or not math.isnan(m.curve.done_step)
             for m in result.members)
  rows = capability.curve_rows(result, protocol(max_steps=8, pilot_steps=4), rates)
  assert len(rows) == 2 * 3
  assert {(r['seed'], r['seq_len'], r['trained']) for r in rows} == {
      (s, l, int(l in LENGTHS)) for s in (0, 1) for l in (4, 6, 12)}
  by = {(r['seed'], r['seq_len']): r for r in rows}
  # accuracy_2x of L=6 is the member's accuracy at 12; L=4 has no 8 evaluated.
  assert by[0, 6]['accuracy_2x'] == by[0, 12]['final_accuracy']
  assert math.isnan(by[0, 4]['accuracy_2x'])
  assert by[0, 4]['best_accuracy_by_lr'].count('/') == 1


def test_members_trained_side_by_side_equal_members_trained_one_after_another():
  """Two members at a time on threads (the pilot's rates, then the seeds), beside the members of
  another curve on the same pool, give the same pilot, rate, curves and parameters as one at a
  time."""
  config, model, info, programs, _, data, eval_data = compiled(seeds=(0, 1))
  curve = lambda pool: capability.measure_curve(
      config, model, info, protocol(max_steps=8, pilot_steps=4), seeds=(0, 1), rates=(1e-4, 3e-2),
      train_data=data, eval_data=eval_data, eval_batch_size=8, pool=pool,
      compiled=(programs, 0.0))
  one = curve(None)
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool, \
      concurrent.futures.ThreadPoolExecutor(max_workers=2) as curves:
    two, beside = [f.result() for f in [curves.submit(curve, pool) for _ in range(2)]]
  assert beside.rate == two.rate
  assert one.rate == two.rate and one.pilot.keys() == two.pilot.keys()
  for rate in one.pilot:
    np.testing.assert_array_equal(one.pilot[rate], two.pilot[rate])
  assert [m.seed for m in one.members] == [m.seed for m in two.members] == [0, 1]
  for a, b in zip(one.members, two.members):
    for field in ('steps_to_solve', 'best_accuracy', 'final_accuracy'):
      np.testing.assert_array_equal(getattr(a.curve, field), getattr(b.curve, field))
    assert a.curve.steps_trained == b.curve.steps_trained
    for x, y in zip(jax.tree.leaves(a.state.params), jax.tree.leaves(b.state.params)):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_long_lengths_are_read_in_fewer_sequences_per_call_with_the_same_accuracy(monkeypatch):
  """At most MAX_EVAL_TOKENS tokens per evaluation call (the longest lengths in fewer
  sequences, the last call padded): the accuracy of every length is the one read in a single
  call."""
  assert [capability.sequences_per_call(n, 256) for n in (64, 256, 512, 1024, 10**6)] == [
      256, 256, 128, 64, 1]
  programs = compiled()[3]
  params = programs.init(jax.random.key(5)).params
  whole = programs.evaluate(params, range(3))
  monkeypatch.setattr(capability, 'MAX_EVAL_TOKENS', 18)  # the last call at L=6 padded
  assert [capability.sequences_per_call(n, 8) for n in (6, 8, 12)] == [3, 2, 1]
  np.testing.assert_array_equal(compiled()[3].evaluate(params, range(3)), whole)
  assert 0 < whole.min() and whole.max() < 1  # a reading that could differ


def test_pilot_score_prefers_done_then_fewer_steps_then_accuracy():
  def member(done_step, accuracy):
    curve = capability.Curve.empty(2)
    curve.done_step, curve.final_accuracy = done_step, np.array(accuracy)
    return capability.Member(0, 0.0, None, None, curve)
  trained = np.array([True, True])
  members = [member(np.nan, [0.9, 0.9]), member(400, [1, 1]), member(200, [1, 1]),
             member(np.nan, [0.95, 0.9])]
  ranked = sorted(range(4), key=lambda i: capability.pilot_score(members[i], trained))
  assert ranked == [2, 1, 3, 0]


def test_vocabulary_pinned_at_the_longest_length():
  """mqar's keys grow with the length when num_keys is 0: pinned at L=256, the task at L=8 has
  the vocabulary of L=256 (one model reads both); tasks without keys are unchanged."""
  data = base_config(data=dict(name='mqar', seq_len=256)).data
  pinned = generated.vocabulary_of(data, 256)
  short = pinned.copy_and_resolve_references()
  short.seq_len = 8
  assert load_dataset(short, seed=0).info.vocab_size == load_dataset(data, seed=0).info.vocab_size
  unpinned = data.copy_and_resolve_references()
  unpinned.seq_len = 8
  assert load_dataset(unpinned, seed=0).info.vocab_size < load_dataset(data, seed=0).info.vocab_size
  parity = base_config(data=dict(name='parity', seq_len=64)).data
  assert generated.vocabulary_of(parity, 64).to_dict() == parity.to_dict()


def model_config(name, **settings):
  config = base_config(model=dict(name=name, num_layers=2, hidden_size=64, **settings)).model
  return config


def test_state_bytes():
  assert capability.state_bytes(model_config('gru'), 128) == 2 * 64 * 4
  assert capability.state_bytes(model_config('lstm'), 128) == 2 * 2 * 64 * 4  # hidden and cell
  assert capability.state_bytes(model_config('transformer'), 128) == 2 * 2 * 128 * 64 * 4
  for seq_len in (128, 4096):  # S [4, 16, 16] and z [4, 16] per layer, whatever the length
    assert capability.state_bytes(model_config('linear_attention', num_heads=4),
                                  seq_len) == 2 * (4 * 16 * 16 + 4 * 16) * 4
  # h [d_inner = 2 x 64, N = 8] and the convolution's last 3 inputs per layer
  ssm = model_config('mamba', ssm_state_size=8, ssm_expand=2, ssm_conv_width=4)
  assert capability.state_bytes(ssm, 4096) == 2 * 128 * (8 + 3) * 4


def test_gradient_flow_rows_read_back(tmp_path):
  """The gradient-flow CSVs keep their text column (`stage`) and integer columns on reading."""
  path = str(tmp_path / 'flow.csv')
  rows = [dict(model='gru', seq_len=8, stage='init', distance=3, grad_norm=0.5)]
  results_table.write_rows(path, rows, capability_report.GRAD_FLOW_COLUMNS)
  assert results_table.read_rows(path, capability_report.GRAD_FLOW_COLUMNS) == rows
