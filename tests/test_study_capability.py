"""Capability points (attn_jax/studies/seq_len_scaling/capability.py): vmapped seeds x learning
rates equal separate runs, solve-stopping at a known step, learning-rate choice on held-out
accuracy, state bytes."""
import functools
import math

import jax
import numpy as np
import pytest

from attn_jax.config_base import base_config
from attn_jax.data import load_dataset
from attn_jax.models.registry import build_model
from attn_jax.studies.seq_len_scaling import capability, capability_report, results_table
from attn_jax.training.state import create_train_state
from attn_jax.training.steps import train_step

SEEDS = (3, 7)
RATES = (1e-3, 1e-2)
STEPS = 3
BATCH = 4


def tiny_config(model: str, seed: int = 0, learning_rate: float = 1e-3):
  return base_config(
      seed=seed, model=dict(name=model, num_layers=1, hidden_size=8, num_heads=2, mlp_dim=16,
                            dropout_rate=0.1 if model == 'transformer' else 0.0),
      data=dict(name='first_token', seq_len=6, num_classes=4, num_eval_examples=8),
      train=dict(num_steps=STEPS, batch_size=BATCH, learning_rate=learning_rate, warmup_steps=1,
                 lr_schedule='cosine'))


def separate_run(model_name: str, seed: int, rate: float):
  """A plain run: `create_train_state`, the seed's batches, the training package's train_step."""
  config = tiny_config(model_name, seed, rate)
  dataset = load_dataset(config.data, seed=seed)
  model = build_model(config.model, dataset.info)
  state = create_train_state(config, model, dataset.info, jax.random.key(seed))
  key = jax.random.fold_in(jax.random.key(seed), 1)
  step = jax.jit(functools.partial(train_step, kind='classification'))
  losses = []
  for i in range(STEPS):
    state, sums = step(state, dataset.train_batch(i, BATCH), key)
    losses.append(float(sums['loss'] / sums['weight']))
  return np.array(losses), state.params


@pytest.mark.parametrize('members', ['vmap', 'map'])
@pytest.mark.parametrize('model_name', ['gru', pytest.param('transformer', marks=pytest.mark.slow)])
def test_members_equal_separate_runs(model_name, members):
  """Every (seed, rate) member of one program, vmapped or mapped, has the losses and parameters
  of the run with that seed and rate alone (the transformer with dropout on, so the keys matter
  too)."""
  config = tiny_config(model_name)
  datasets = [load_dataset(config.data, seed=s) for s in SEEDS]
  model = build_model(config.model, datasets[0].info)
  states = capability.init_members(config, model, datasets[0].info, SEEDS, len(RATES))
  chunk_fn = capability.make_chunk_fn(config.train, 'classification', members)
  batches = capability.seed_batches(datasets, 0, STEPS, BATCH)
  active = np.ones((len(SEEDS), len(RATES)), bool)
  states, losses = chunk_fn(states, active, np.asarray(RATES, np.float32), batches,
                            capability.base_keys(SEEDS))
  for s, r in ((0, 0), (1, 1)):  # the diagonal: both seeds and both rates
    alone, params = separate_run(model_name, SEEDS[s], RATES[r])
    np.testing.assert_allclose(np.asarray(losses[s, r]), alone, rtol=2e-5, atol=1e-6)
    got = jax.tree_util.tree_leaves_with_path(states.params)
    for (path, value), want in zip(got, jax.tree.leaves(params)):
      if 'key' in jax.tree_util.keystr(path) and 'bias' in jax.tree_util.keystr(path):
        continue  # softmax ignores a key bias: its gradient is rounding noise that Adam amplifies
      np.testing.assert_allclose(np.asarray(value[s, r]), np.asarray(want), rtol=2e-4,
                                 atol=2e-6, err_msg=jax.tree_util.keystr(path))
  # The rates really differ: the two members of a seed do not coincide.
  first = jax.tree.leaves(states.params)[0]
  assert not np.allclose(np.asarray(first[0, 0]), np.asarray(first[0, 1]))


def _point(check_every=2):
  config = tiny_config('rnn')
  config.train.num_steps = 12
  datasets = [load_dataset(config.data, seed=s) for s in SEEDS]
  model = build_model(config.model, datasets[0].info)
  states = capability.init_members(config, model, datasets[0].info, SEEDS, len(RATES))
  return dict(states=states, chunk_fn=capability.make_chunk_fn(config.train, 'classification'),
              batches=lambda start, n: capability.seed_batches(datasets, start, n, BATCH),
              rates=RATES, keys=capability.base_keys(SEEDS), check_every=check_every)


def test_solve_stopping_at_a_known_step():
  """Stub held-out accuracies: member (0, 1) reaches the threshold at the 2nd check (step 4),
  member (1, 0) at the 3rd (step 6). Solved members are frozen (their params do not change
  after) while the others train on; once every seed has a solved member (step 6) the point stops,
  although members (0, 0) and (1, 1) never solved."""
  schedule = {  # check -> accuracies [seeds, rates]
      1: [[0.2, 0.5], [0.3, 0.1]],
      2: [[0.4, 0.995], [0.6, 0.2]],
      3: [[0.5, 0.1], [0.99, 0.3]],
  }
  calls = []

  def evaluate(params):
    calls.append(jax.tree.map(np.asarray, params))
    return np.array(schedule[len(calls)])

  ticks = iter(range(1000))
  _, record = capability.train_members(evaluate=evaluate, max_steps=12, solve_accuracy=0.99,
                                       clock=lambda: float(next(ticks)), **_point())
  assert len(calls) == 3
  np.testing.assert_array_equal(record.steps_to_solve, [[np.nan, 4], [6, np.nan]])
  np.testing.assert_array_equal(record.steps_trained, [[6, 4], [6, 6]])
  np.testing.assert_array_equal(record.best_accuracy, [[0.5, 0.995], [0.99, 0.3]])
  np.testing.assert_array_equal(record.final_accuracy, [[0.5, 0.995], [0.99, 0.3]])
  # Frozen after solving: member (0, 1) keeps the parameters it had at its solve check...
  for a, b in zip(jax.tree.leaves(calls[2]), jax.tree.leaves(calls[1])):
    np.testing.assert_array_equal(a[0, 1], b[0, 1])
  assert any(not np.array_equal(a[0, 0], b[0, 0])  # ...while an unsolved member trains on
             for a, b in zip(jax.tree.leaves(calls[2]), jax.tree.leaves(calls[1])))
  # Seconds: the fake clock advances 1 per read; each chunk is timed by two reads after compile.
  assert record.seconds_to_solve[0, 1] == pytest.approx(2 / 4)
  assert record.seconds_to_solve[1, 0] == pytest.approx(3 / 4)
  assert math.isnan(record.seconds_to_solve[0, 0])
  np.testing.assert_array_equal(capability.choose_rates(record.best_accuracy,
                                                        record.steps_to_solve), [1, 0])


def test_the_budget_is_spent_when_a_seed_never_solves():
  calls = []

  def evaluate(params):
    calls.append(1)
    return np.array([[1.0, 0.2], [0.5, 0.6]])  # seed 0 solves at once, seed 1 never

  _, record = capability.train_members(evaluate=evaluate, max_steps=8, solve_accuracy=0.99,
                                       **_point())
  assert len(calls) == 4
  np.testing.assert_array_equal(record.steps_trained, [[2, 8], [8, 8]])
  np.testing.assert_array_equal(record.steps_to_solve, [[2, np.nan], [np.nan, np.nan]])


def test_the_point_stops_when_every_member_is_solved():
  calls = []

  def evaluate(params):
    calls.append(1)
    return np.full((len(SEEDS), len(RATES)), 1.0 if len(calls) >= 2 else 0.5)

  _, record = capability.train_members(evaluate=evaluate, max_steps=12, solve_accuracy=0.99,
                                       **_point())
  assert len(calls) == 2
  np.testing.assert_array_equal(record.steps_to_solve, np.full((2, 2), 4))
  assert record.compile_s > 0 and record.train_s > 0


def test_members_mode_by_platform_and_model():
  assert capability.members_mode('vmap', 'mingru', 'cpu') == 'vmap'
  assert capability.members_mode('map', 'lstm', 'gpu') == 'map'
  assert capability.members_mode('auto', 'mingru', 'cpu') == 'map'
  assert capability.members_mode('auto', 'lstm', 'cpu') == 'vmap'
  assert capability.members_mode('auto', 'mingru', 'gpu') == 'vmap'
  assert capability.members_mode('auto', 'gru') in ('vmap', 'map')


def test_learning_rate_choice():
  best = np.array([[0.5, 0.99, 0.995], [1.0, 0.99, 0.2], [0.3, 0.3, 0.3], [0.2, 0.7, 0.6]])
  steps = np.array([[np.nan, 400, 200], [300, 100, np.nan], [np.nan, np.nan, np.nan],
                    [np.nan, np.nan, np.nan]])
  # seed 0: two solved, the faster (rate 2); seed 1: both solved, the faster (rate 1) although
  # the other reached a higher accuracy; seed 2: all tied and unsolved: the first rate;
  # seed 3: none solved: the best accuracy (rate 1).
  np.testing.assert_array_equal(capability.choose_rates(best, steps), [2, 1, 0, 1])


def test_state_bytes():
  kw = dict(num_layers=2, hidden_size=64, seq_len=128)
  assert capability.state_bytes('gru', **kw) == 2 * 64 * 4
  assert capability.state_bytes('lstm', **kw) == 2 * 2 * 64 * 4  # hidden and cell state
  assert capability.state_bytes('transformer', **kw) == 2 * 2 * 128 * 64 * 4
  for seq_len in (128, 4096):  # S [4, 16, 16] and z [4, 16] per layer, whatever the length
    assert capability.state_bytes('linear_attention', **dict(kw, seq_len=seq_len),
                                  num_heads=4) == 2 * (4 * 16 * 16 + 4 * 16) * 4


def test_gradient_flow_rows_read_back(tmp_path):
  """The gradient-flow CSVs keep their text column (`stage`) and integer columns on reading."""
  path = str(tmp_path / 'flow.csv')
  rows = [dict(model='gru', seq_len=8, stage='init', distance=3, grad_norm=0.5)]
  results_table.write_rows(path, rows, capability_report.GRAD_FLOW_COLUMNS)
  assert results_table.read_rows(path, capability_report.GRAD_FLOW_COLUMNS) == rows
