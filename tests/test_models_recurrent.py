"""Recurrent steps against NumPy formulas, and scanned layers against Python loops over the steps."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import recurrent
from test_models_registry import random_params

KEY = jax.random.key(0, impl='rbg')
BATCH, LEN, FEATURES, HIDDEN = 3, 7, 5, 4
LENGTHS = np.array([7, 4, 1])


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _np_elman(h, xw, w_h):
  return np.tanh(xw + h @ w_h)


def _np_lstm(c, h, xw, w_h):
  """Gates in the order input, forget, cell candidate, output; each has its own block of columns."""
  block = lambda m, j: m[..., j * HIDDEN:(j + 1) * HIDDEN]
  pre = lambda j: block(xw, j) + h @ block(w_h, j)
  i, f, g, o = _sigmoid(pre(0)), _sigmoid(pre(1)), np.tanh(pre(2)), _sigmoid(pre(3))
  c = f * c + i * g
  return c, o * np.tanh(c)


def _np_gru(h, xw, w_h):
  """Reset r, update z, candidate n; the reset gate scales the recurrent part of n only."""
  block = lambda m, j: m[..., j * HIDDEN:(j + 1) * HIDDEN]
  r = _sigmoid(block(xw, 0) + h @ block(w_h, 0))
  z = _sigmoid(block(xw, 1) + h @ block(w_h, 1))
  n = np.tanh(block(xw, 2) + r * (h @ block(w_h, 2)))
  return (1 - z) * n + z * h


def test_steps_equal_numpy_formulas():
  rng = np.random.RandomState(0)
  c, h = rng.randn(2, BATCH, HIDDEN)
  for name, gates in (('rnn', 1), ('lstm', 4), ('gru', 3)):
    xw, w_h = rng.randn(BATCH, gates * HIDDEN), rng.randn(HIDDEN, gates * HIDDEN)
    f32 = lambda *xs: [jnp.asarray(x, jnp.float32) for x in xs]
    if name == 'lstm':
      got = recurrent.lstm_step(tuple(f32(c, h)), *f32(xw, w_h))
      expected = _np_lstm(c, h, xw, w_h)
    else:
      got = recurrent.CELLS[name].step(*f32(h, xw, w_h))
      expected = (_np_elman if name == 'rnn' else _np_gru)(h, xw, w_h)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6,
                               err_msg=name)


@pytest.mark.parametrize('cell', recurrent.CELLS)
def test_initialisation(cell):
  """Input bias zero except the gate that keeps the state: the LSTM forget gate at 1, the GRU
  update gate chrono-initialised (e^b ~ U[1, T_max - 1], so z = sigmoid(b) gives time scales
  1 / (1 - z) spread over [2, T_max]); W_h an orthogonal block per gate."""
  gates = recurrent.CELLS[cell].num_gates
  x = jnp.zeros((1, 2, FEATURES))
  params = recurrent.RecurrentLayer(cell, HIDDEN).init(KEY, x)['params']
  bias = np.asarray(params['input']['bias'])
  keep = slice(HIDDEN, 2 * HIDDEN)  # LSTM forget gate, GRU update gate
  if cell == 'lstm':
    np.testing.assert_array_equal(bias[keep], 1)
  if cell == 'gru':
    wide = np.asarray(recurrent.RecurrentLayer(cell, 256).init(KEY, x)['params']['input']['bias'])
    timescale = 1 + np.exp(wide[256:512])  # 1 / (1 - sigmoid(b))
    t_max = recurrent.initializers.CHRONO_MAX_TIMESCALE
    assert timescale.min() >= 2 - 1e-3 and timescale.max() <= t_max + 1e-2
    assert timescale.max() > t_max / 2 and timescale.min() < t_max / 10  # spread, not one value
  np.testing.assert_array_equal(np.delete(bias, keep) if cell != 'rnn' else bias, 0)
  assert params['input']['kernel'].shape == (FEATURES, gates * HIDDEN)
  for block in np.split(np.asarray(params['recurrent']), gates, axis=1):
    np.testing.assert_allclose(block.T @ block, np.eye(HIDDEN), atol=1e-5)


def _loop_layer(cell, params, x, carry=None):
  """One example's real tokens x `[1, length, features]`: a Python loop over `cell`'s step.
  Returns (final carry, hidden states `[1, length, hidden]`)."""
  cell = recurrent.CELLS[cell]
  xw = x @ params['input']['kernel'] + params['input']['bias'].reshape(1, 1, -1)
  carry = cell.zero_carry(1, HIDDEN, jnp.float32) if carry is None else carry
  hs = []
  for t in range(x.shape[1]):
    carry = cell.step(carry, xw[:, t], params['recurrent'])
    hs.append(cell.output(carry))
  return carry, jnp.stack(hs, axis=1)


def _loop_stack(cell, params, x, num_layers, bidirectional):
  """`RecurrentStack` for one unpadded example, by loops: the backward direction runs over the
  reversed sequence and its states are reversed back. Returns (outputs, finals)."""
  finals = []
  for layer in range(num_layers):
    final_f, out_f = _loop_layer(cell, params[f'forward_{layer}'], x)
    if bidirectional:
      final_b, out_b = _loop_layer(cell, params[f'backward_{layer}'], x[:, ::-1])
      x = jnp.concatenate([out_f, out_b[:, ::-1]], axis=-1)
      finals.append((final_f, final_b))
    else:
      x = out_f
      finals.append(final_f)
  return x, finals


def _inputs(seed):
  return jnp.asarray(np.random.RandomState(seed).randn(BATCH, LEN, FEATURES), jnp.float32)


@pytest.mark.parametrize('cell', recurrent.CELLS)
def test_scanned_layer_equals_loop(cell):
  x = _inputs(1)
  layer = recurrent.RecurrentLayer(cell, HIDDEN)
  params = random_params(layer, x)
  final, hs = layer.apply({'params': params}, x)
  expected_final, expected_hs = _loop_layer(cell, params, x)
  assert hs.shape == (BATCH, LEN, HIDDEN)
  np.testing.assert_allclose(hs, expected_hs, rtol=1e-5, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
               final, expected_final)


@pytest.mark.parametrize('cell', recurrent.CELLS)
def test_scanned_layer_with_lengths_stops_at_the_last_token(cell):
  x = _inputs(2)
  layer = recurrent.RecurrentLayer(cell, HIDDEN)
  params = random_params(layer, x)
  valid = jnp.arange(LEN)[None, :] < LENGTHS[:, None]
  final, hs = layer.apply({'params': params}, x, valid=valid)
  output = recurrent.CELLS[cell].output
  for b, length in enumerate(LENGTHS):
    expected_final, expected_hs = _loop_layer(cell, params, x[b:b + 1, :length])
    np.testing.assert_allclose(hs[b, :length], expected_hs[0], rtol=1e-5, atol=1e-5)
    # past the end the state no longer changes: every later output is the final state
    np.testing.assert_array_equal(hs[b, length:], np.broadcast_to(
        output(final)[b], (LEN - length, HIDDEN)))
    jax.tree.map(lambda a, e, b=b: np.testing.assert_allclose(a[b], e[0], rtol=1e-5, atol=1e-5),
                 final, expected_final)


@pytest.mark.parametrize('cell,num_layers,bidirectional', [
    ('rnn', 2, True), ('lstm', 2, True), ('gru', 2, True), ('lstm', 2, False)])
def test_stack_with_lengths_equals_loops_per_example(cell, num_layers, bidirectional):
  x = _inputs(3)
  stack = recurrent.RecurrentStack(recurrent.RecurrentConfig(cell, HIDDEN, num_layers, bidirectional))
  lengths = jnp.asarray(LENGTHS)
  params = random_params(stack, x, lengths)
  outputs, finals = stack.apply({'params': params}, x, lengths)
  directions = 2 if bidirectional else 1
  assert outputs.shape == (BATCH, LEN, directions * HIDDEN)
  assert sorted(params) == sorted(f'{d}_{layer}' for layer in range(num_layers)
                                  for d in ('forward', 'backward')[:directions])
  for b, length in enumerate(LENGTHS):
    expected, expected_finals = _loop_stack(cell, params, x[b:b + 1, :length], num_layers,
                                            bidirectional)
    np.testing.assert_allclose(outputs[b, :length], expected[0], rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, e, b=b: np.testing.assert_allclose(a[b], e[0], rtol=1e-5, atol=1e-5),
                 finals, expected_finals)


def test_reverse_sequences_keeps_padding_in_place():
  x = jnp.arange(1, 13).reshape(3, 4)
  reversed_ = recurrent.reverse_sequences(x, jnp.asarray([4, 2, 0]))
  np.testing.assert_array_equal(reversed_, [[4, 3, 2, 1], [6, 5, 7, 8], [9, 10, 11, 12]])
  np.testing.assert_array_equal(recurrent.reverse_sequences(x, None), x[:, ::-1])


def test_bahdanau_layer_equals_numpy_loop():
  """e_tj = v^T tanh(W s_{t-1} + U h_j + b_U), a_t = softmax over real source positions,
  c_t = sum_j a_tj h_j, s_t = step(s_{t-1}, y_t W_x + b + c_t W_c), by a loop in NumPy."""
  rng = np.random.RandomState(4)
  y = jnp.asarray(rng.randn(2, 4, FEATURES), jnp.float32)
  source = jnp.asarray(rng.randn(2, 6, 3), jnp.float32)
  source_valid = jnp.arange(6)[None, :] < jnp.asarray([6, 2])[:, None]
  carry = (jnp.asarray(rng.randn(2, HIDDEN), jnp.float32),) * 2
  layer = recurrent.BahdanauLayer('lstm', HIDDEN)
  params = random_params(layer, y, carry, source, source_valid)
  (c, h), states, contexts = layer.apply({'params': params}, y, carry, source, source_valid)

  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  y, source, valid = np.asarray(y, np.float64), np.asarray(source, np.float64), np.asarray(
      source_valid)
  keys = source @ p['key']['kernel'] + p['key']['bias']  # U h_j
  c_np, h_np = (np.asarray(a, np.float64) for a in carry)
  for t in range(y.shape[1]):
    scores = np.tanh((h_np @ p['query_kernel'])[:, None, :] + keys) @ p['v']  # [batch, src]
    weights = np.where(valid, np.exp(scores - scores.max(-1, keepdims=True)), 0)
    weights /= weights.sum(-1, keepdims=True)
    context = np.einsum('bk,bkd->bd', weights, source)
    xw = y[:, t] @ p['input']['kernel'] + p['input']['bias'] + context @ p['context']
    c_np, h_np = _np_lstm(c_np, h_np, xw, p['recurrent'])
    np.testing.assert_allclose(contexts[:, t], context, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(states[:, t], h_np, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(c, c_np, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(h, h_np, rtol=1e-4, atol=1e-5)
