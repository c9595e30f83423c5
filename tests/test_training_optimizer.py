"""The optimizer's clipping and non-finite guard against optax's own (`clip_by_global_norm`,
`apply_if_finite`), the independent reference: the same updates and the same state, step by step,
through finite gradients, clipped ones and a run of NaN and infinite ones."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attn_jax.training import optimizer


def _gradients(seed: int, scale: float, poison=None) -> dict:
  """A pytree of gradients like a small model's (leaves of several shapes); `poison`: a value
  written into one element of one leaf."""
  rng = np.random.default_rng(seed)
  tree = {'dense': {'kernel': rng.normal(size=(5, 3)), 'bias': rng.normal(size=3)},
          'embed': rng.normal(size=(7, 5)), 'scale': rng.normal(size=())}
  tree = jax.tree.map(lambda x: jnp.asarray(x * scale, jnp.float32), tree)
  if poison is not None:
    tree['dense']['kernel'] = tree['dense']['kernel'].at[1, 2].set(poison)
  return tree


def test_global_norm_and_finiteness_are_optax_s():
  tree = _gradients(0, 3.0)
  np.testing.assert_allclose(optimizer.global_norm(tree), optax.global_norm(tree), rtol=1e-6)
  assert bool(optimizer.all_finite(tree))
  for bad in (np.nan, np.inf, -np.inf):
    assert not bool(optimizer.all_finite(_gradients(0, 3.0, poison=bad)))


@pytest.mark.parametrize('clip', [0.0, 1.0])
def test_updates_and_state_equal_optax_through_clipped_and_nonfinite_steps(clip):
  # Gradient norms of about 1, 10 and 0.1, then NaN / inf steps in a row, then finite again.
  schedule = [(0, 0.3, None), (1, 3.0, None), (2, 0.03, np.nan), (3, 1.0, np.inf),
              (4, 0.03, None), (5, 3.0, -np.inf), (6, 0.3, None)]
  adamw = lambda: optax.adamw(optax.linear_schedule(0.0, 1e-2, 3), weight_decay=0.01)
  ours = optimizer.skip_nonfinite(optax.chain(
      *([optimizer.clip_by_global_norm(clip)] if clip else []), adamw()))
  reference = optax.apply_if_finite(optax.chain(
      *([optax.clip_by_global_norm(clip)] if clip else []), adamw()), 2**31 - 1)
  params = _gradients(10, 1.0)
  states = ours.init(params), reference.init(params)
  assert jax.tree.structure(states[0]) == jax.tree.structure(states[1])
  skipped = 0
  for seed, scale, poison in schedule:
    grads = _gradients(seed, scale, poison)
    (got, states_0), (want, states_1) = (jax.jit(tx.update)(grads, s, params)
                                         for tx, s in zip((ours, reference), states))
    states = states_0, states_1
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-9), got, want)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-9), *states)
    skipped += poison is not None
    assert int(states[0].total_notfinite) == skipped
    assert bool(states[0].last_finite) == (poison is None)
    params = optax.apply_updates(params, got)
  assert int(states[0].inner_state[-1][0].count) == len(schedule) - skipped


def test_the_train_step_compiles_to_fewer_kernels_than_with_optax_s_guard():
  """What the rewrite is for: one reduction per test instead of one per leaf, no `cond`: at
  least one kernel fewer per parameter leaf."""
  params = {f'layer_{i}': {'kernel': jnp.ones((4, 4)), 'bias': jnp.ones(4)} for i in range(8)}
  ours = optimizer.skip_nonfinite(optax.chain(optimizer.clip_by_global_norm(1.0),
                                              optax.adamw(1e-3)))
  reference = optax.apply_if_finite(optax.chain(optax.clip_by_global_norm(1.0),
                                                optax.adamw(1e-3)), 2**31 - 1)
  kernels = lambda tx: jax.jit(tx.update).lower(params, tx.init(params), params).compile(
      ).as_text().count(' fusion(')
  assert kernels(reference) - kernels(ours) >= len(jax.tree.leaves(params))
