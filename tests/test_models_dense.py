"""Dense layers over a flattened batch (`attn_jax.models.dense`) against flax's and NumPy."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import dense

KEY = jax.random.key(0, impl='rbg')


def _values_and_grads(module, params, x):
  loss = lambda p, x: jnp.sum(jnp.sin(module.apply({'params': p}, x)))
  return module.apply({'params': params}, x), jax.grad(loss, argnums=(0, 1))(params, x)


@pytest.mark.parametrize('ours, theirs, shape', [
    (dense.Dense(5), nn.Dense(5), (2, 3, 4)),
    (dense.Dense(5, use_bias=False), nn.Dense(5, use_bias=False), (2, 3, 7, 4)),
    (dense.DenseGeneral((2, 3)), nn.DenseGeneral((2, 3)), (2, 3, 4)),
    (dense.DenseGeneral(5, axis=(-2, -1)), nn.DenseGeneral(5, axis=(-2, -1)), (2, 3, 2, 4)),
    (dense.DenseGeneral(5, axis=[-2, -1]), nn.DenseGeneral(5, axis=[-2, -1]), (2, 3, 2, 4)),
    (dense.Dense(5), nn.Dense(5), (4,)),
])
def test_same_parameters_values_and_gradients_as_flax(ours, theirs, shape):
  x = jax.random.normal(KEY, shape)
  params = theirs.init(KEY, x)['params']
  assert jax.tree.map(jnp.shape, ours.init(KEY, x)['params']) == jax.tree.map(jnp.shape, params)
  (y_ours, g_ours), (y_theirs, g_theirs) = (_values_and_grads(m, params, x) for m in (ours, theirs))
  assert y_ours.shape == y_theirs.shape
  np.testing.assert_allclose(y_ours, y_theirs, rtol=1e-6, atol=1e-6)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_theirs)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dense_equals_numpy_formula():
  x = np.random.RandomState(0).randn(3, 4, 6).astype(np.float32)
  params = dense.Dense(5).init(KEY, x)['params']
  expected = x @ np.asarray(params['kernel']) + np.asarray(params['bias'])
  np.testing.assert_allclose(dense.Dense(5).apply({'params': params}, x), expected, rtol=1e-5,
                             atol=1e-5)


def test_over_flat_batch_reshapes_around_the_call():
  seen = []

  def call(x):
    seen.append(x.shape)
    return x.sum(-1, keepdims=True)
  out = dense.over_flat_batch(call, jnp.ones((2, 3, 4, 5)), feature_axes=2)
  assert seen == [(6, 4, 5)] and out.shape == (2, 3, 4, 1)


def test_dense_general_over_leading_axes_is_refused():
  with pytest.raises(ValueError, match='trailing axes'):
    dense.DenseGeneral(5, axis=0).init(KEY, jnp.ones((3, 4)))


def test_dense_general_with_batch_dims_is_refused():
  with pytest.raises(ValueError, match='batch_dims'):
    dense.DenseGeneral(5, batch_dims=(0,)).init(KEY, jnp.ones((3, 4)))
