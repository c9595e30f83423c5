"""`recurrent.scan_cell` (hand-written backward pass) equals `reference_scan_cell` (JAX's
differentiation of the plain scan) in values and gradients, float64."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import recurrent

B, L, H, D = 3, 7, 5, 4
TOL = 1e-6


@pytest.fixture(autouse=True)
def float64():
  with jax.enable_x64(True):
    yield


def _close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, atol=TOL, rtol=TOL)


@pytest.mark.parametrize('padded', [False, True])
@pytest.mark.parametrize('name', ['rnn', 'lstm', 'gru'])
def test_scan_cell_values_and_gradients(name, padded):
  cell = recurrent.CELLS[name]
  rng = np.random.default_rng(0)
  w_h = jnp.asarray(rng.normal(size=(H, cell.num_gates * H)) * 0.5)
  xw = jnp.asarray(rng.normal(size=(B, L, cell.num_gates * H)))
  carry = jax.tree.map(lambda z: jnp.asarray(rng.normal(size=z.shape)),
                       cell.zero_carry(B, H, jnp.float64))
  valid = jnp.asarray(np.arange(L)[None] < np.array([L, 3, 0])[:, None]) if padded else None

  def loss(scan, w_h, xw, carry):  # non-linear in both outputs, so every cotangent differs
    final, hs = scan(cell, w_h, xw, carry, valid)
    return jnp.sum(hs ** 3) + sum(jnp.sum(jnp.sin(c)) for c in jax.tree.leaves(final))
  grad = lambda scan: jax.value_and_grad(loss, argnums=(1, 2, 3))(scan, w_h, xw, carry)
  _close(grad(recurrent.scan_cell), grad(recurrent.reference_scan_cell))


@pytest.mark.parametrize('name', ['lstm', 'gru'])
def test_bidirectional_stack_with_lengths(name, monkeypatch):
  stack = recurrent.RecurrentStack(name, H, num_layers=2, bidirectional=True, dtype=jnp.float64)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(B, L, D)))
  lengths = jnp.asarray([L, 4, 1])
  params = jax.tree.map(lambda p: p.astype(jnp.float64),
                        stack.init(jax.random.key(0), x, lengths)['params'])
  loss = lambda p, x: jnp.sum(jnp.tanh(stack.apply({'params': p}, x, lengths)[0]) ** 2)
  fast = jax.value_and_grad(loss, argnums=(0, 1))(params, x)
  monkeypatch.setattr(recurrent, 'scan_cell', recurrent.reference_scan_cell)
  _close(fast, jax.value_and_grad(loss, argnums=(0, 1))(params, x))
