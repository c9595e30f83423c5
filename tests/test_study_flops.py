"""The jaxpr FLOP counter (attn_jax/studies/flops.py) against hand counts and XLA's cost
analysis."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import attention, recurrent
from attn_jax.models.transformer import TransformerConfig, TransformerLM
from attn_jax.studies import flops

B, L, D, H = 3, 5, 4, 6


def _xla_flops(fn, *args):
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  return float((analysis[0] if isinstance(analysis, (list, tuple)) else analysis)['flops'])


@pytest.mark.parametrize('cell,gates', [('rnn', 1), ('lstm', 4), ('gru', 3)])
def test_recurrent_layer_counts_every_time_step(cell, gates):
  layer = recurrent.RecurrentLayer(cell, H)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(B, L, D)), jnp.float32)
  params = layer.init(jax.random.key(0), x)
  forward = lambda p, x: layer.apply(p, x)[1].sum()
  # input projection for all steps + the recurrent matmul at each of the L steps
  analytic = 2 * B * L * D * gates * H + L * 2 * B * H * gates * H
  assert flops.count_flops(forward, params, x) == analytic
  # backward: two matmuls (input and weight gradient) per forward matmul
  assert flops.count_flops(jax.grad(forward, argnums=(0, 1)), params, x) == 3 * analytic
  # XLA counts the scan body once: it reports fewer FLOPs than there are
  assert _xla_flops(forward, params, x) < analytic


def test_multi_head_attention_matches_hand_count():
  heads, d, q_len, k_len = 2, 8, 5, 7
  mha = attention.MultiHeadAttention(heads, d)
  xq, xkv = jnp.ones((B, q_len, d)), jnp.ones((B, k_len, d))
  params = mha.init(jax.random.key(0), xq, xkv)
  projections = 2 * B * d * d * (2 * q_len + 2 * k_len)  # q and out on queries, k and v on keys
  scores_and_values = 2 * (2 * B * heads * q_len * k_len * (d // heads))
  assert flops.count_flops(mha.apply, params, xq, xkv) == projections + scores_and_values


def test_equals_xla_on_pure_matmul_and_conv_programs():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 6, 16)), rng.normal(size=(2, 16, 9))
  batched = lambda a, b: jnp.einsum('bij,bjk->bik', a, b) @ b.transpose(0, 2, 1)
  assert flops.count_flops(batched, a, b) == _xla_flops(batched, a, b) == 2 * 2 * 6 * 16 * 9 * 2
  x, w = rng.normal(size=(2, 3, 10, 10)), rng.normal(size=(8, 3, 3, 3))
  conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), 'VALID')
  assert flops.count_flops(conv, x, w) == _xla_flops(conv, x, w) == 2 * 2 * 8 * 8 * 8 * 27


def test_transformer_train_gradient_within_ten_percent_of_xla():
  """A loop-free program: XLA also counts element-wise ops, so its count is a little higher."""
  cfg = TransformerConfig(hidden_size=64, num_layers=2, num_heads=4, mlp_dim=256,
                          activation='gelu', positional='learned', max_len=32)
  model = TransformerLM(cfg, vocab_size=50)
  tokens = jnp.ones((4, 32), jnp.int32)
  params = model.init(jax.random.key(0), tokens)
  loss = lambda p: model.apply(p, tokens).sum()
  grad = jax.grad(loss)
  ours, xla = flops.count_flops(grad, params), _xla_flops(grad, params)
  assert 0.9 * xla <= ours <= xla


def test_scan_cond_remat_custom_vjp_and_while():
  w = jnp.ones((4, 4))
  one = 2 * 4 * 4 * 4
  scanned = lambda w: jax.lax.fori_loop(0, 3, lambda i, c: c @ w, w)  # static bounds: a scan
  assert flops.count_flops(scanned, w) == 3 * one
  branches = lambda w: jax.lax.cond(w.sum() > 0, lambda v: v @ v @ v, lambda v: v, w)
  assert flops.count_flops(jax.checkpoint(branches), w) == 2 * one  # the larger branch

  @jax.custom_vjp
  def square(x):
    return x @ x
  square.defvjp(lambda x: (x @ x, x), lambda x, g: (g @ x.T + x.T @ g,))
  assert flops.count_flops(jax.jit(square), w) == one
  assert flops.count_flops(jax.grad(lambda x: square(x).sum()), w) == 3 * one

  unknown = lambda w: jax.lax.while_loop(lambda c: c.sum() < 1e6, lambda c: c @ w, w)
  with pytest.raises(ValueError, match='trip count'):
    flops.count_flops(unknown, w)
  no_matmul = lambda w: jax.lax.while_loop(lambda c: c.sum() < 1e6, lambda c: c * 2, w)
  assert flops.count_flops(no_matmul, w) == 0
