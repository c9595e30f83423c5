"""Our layers compute the same function as torch.nn's (float64, weights copied across, 1e-10).

Skipped where PyTorch is absent (CI installs `.[test]` only; the peer is the `bench` extra). The
weight maps are `attn_jax.studies.benchmark.torch_peer`'s; being linear, they also map our weight
gradients onto torch's. Stated differences: torch's GRU hidden bias (b_hn and friends) is zeroed,
ours has none, so `bias_hh_l0`'s gradient has no counterpart; gelu is the tanh form on both sides;
fully masked attention rows (zeros here, NaN in torch) are not compared.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip('torch', reason="PyTorch is the bench extra: pip install -e '.[bench]'")

from attn_jax.models import attention, recurrent, transformer  # noqa: E402
from attn_jax.studies.benchmark import torch_peer  # noqa: E402

TOL = 1e-10
B, L, S, D, H, HEADS, MLP = 3, 6, 5, 8, 7, 2, 12


@pytest.fixture(autouse=True)
def float64():
  with jax.enable_x64(True):
    yield


def _rand(rng, *shape):
  return rng.normal(size=shape)


def _init64(module, *args, **kwargs):
  params = module.init(jax.random.key(0), *args, **kwargs)['params']
  rng = np.random.default_rng(1)  # non-trivial biases and norm scales, float64
  return jax.tree.map(lambda p: jnp.asarray(_rand(rng, *p.shape) * 0.3 + (p.ndim == 1) * 0.1,
                                            jnp.float64), params)


def _compare(ours_fn, params, inputs, peer, state_fn, peer_fn, skip=()):
  """Outputs, input gradients and weight gradients of `sum(out * cotangent)` on both sides
  (torch parameters named in `skip` are not compared). Returns (torch module, our gradients)."""
  out = ours_fn(params, *inputs)
  cot = np.random.default_rng(2).normal(size=out.shape)
  loss = lambda p, *x: jnp.sum(ours_fn(p, *x) * cot)
  grads = jax.grad(loss, argnums=tuple(range(len(inputs) + 1)))(params, *inputs)
  peer = torch_peer.load(peer, state_fn(params), torch.float64)
  t_inputs = [torch.tensor(np.asarray(x), requires_grad=True) for x in inputs]
  t_out = peer_fn(peer, *t_inputs)
  np.testing.assert_allclose(t_out.detach().numpy(), out, atol=TOL, rtol=0)
  (t_out * torch.tensor(cot)).sum().backward()
  for t_x, g in zip(t_inputs, grads[1:]):
    np.testing.assert_allclose(t_x.grad.numpy(), g, atol=TOL, rtol=0)
  weight_grads = state_fn(grads[0])
  for name, p in peer.named_parameters():
    if name not in skip:
      np.testing.assert_allclose(p.grad.numpy(), weight_grads[name], atol=TOL, rtol=0,
                                 err_msg=name)
  return peer, grads[0]


@pytest.mark.parametrize('cell', ['rnn', 'lstm', 'gru'])
def test_recurrent_layer(cell):
  x = _rand(np.random.default_rng(0), B, L, D)
  layer = recurrent.RecurrentLayer(cell, H, dtype=jnp.float64)
  params = _init64(layer, x)
  peer, grads = _compare(lambda p, x: layer.apply({'params': p}, x)[1], params, [x],
                         torch_peer.TORCH_RNN[cell](D, H, batch_first=True),
                         torch_peer.recurrent_state, lambda m, x: m(x)[0], ('bias_hh_l0',))
  # torch adds bias_hh where we add our one bias, except GRU's b_hn (inside r * (W_hn h + b_hn))
  shared = 2 * H if cell == 'gru' else None
  np.testing.assert_allclose(peer.bias_hh_l0.grad.numpy()[:shared],
                             np.asarray(grads['input']['bias'])[:shared], atol=TOL, rtol=0)


def _torch_masks(valid, causal):
  """Our masks as torch's: key_padding_mask True = pad; attn_mask True = not allowed."""
  pad = torch.tensor(~valid)
  attn_mask = torch.triu(torch.ones(L, L, dtype=torch.bool), 1) if causal else None
  return pad, attn_mask


@pytest.mark.parametrize('causal', [False, True])
def test_multi_head_attention_with_padding_and_causal_masks(causal):
  rng = np.random.default_rng(0)
  x = _rand(rng, B, L, D)
  valid = np.arange(L)[None] < np.array([L, 4, 2])[:, None]  # no row fully masked
  mask = attention.combine_masks(attention.padding_mask(jnp.asarray(valid)),
                                 attention.causal_mask(L) if causal else None)
  mha = attention.MultiHeadAttention(HEADS, D, dtype=jnp.float64)
  params = _init64(mha, x)
  pad, attn_mask = _torch_masks(valid, causal)
  _compare(lambda p, x: mha.apply({'params': p}, x, mask=mask), params, [x],
           torch.nn.MultiheadAttention(D, HEADS, batch_first=True), torch_peer.mha_state,
           lambda m, x: m(x, x, x, key_padding_mask=pad, attn_mask=attn_mask,
                          need_weights=False)[0])


def _block(cross_attention):
  cfg = transformer.TransformerConfig(hidden_size=D, num_heads=HEADS, mlp_dim=MLP,
                                      activation='gelu', pre_ln=True, dtype=jnp.float64)
  return transformer.TransformerBlock(cfg, cross_attention)


def test_encoder_layer_with_padding():
  x = _rand(np.random.default_rng(0), B, L, D)
  valid = np.arange(L)[None] < np.array([L, 3, 5])[:, None]
  block = _block(False)
  mask = attention.padding_mask(jnp.asarray(valid))
  params = _init64(block, x)
  pad, _ = _torch_masks(valid, False)
  _compare(lambda p, x: block.apply({'params': p}, x, mask), params, [x],
           torch_peer.transformer_layer(D, HEADS, MLP), torch_peer.block_state,
           lambda m, x: m(x, src_key_padding_mask=pad))


def test_decoder_layer_self_and_cross_attention():
  rng = np.random.default_rng(0)
  y, memory = _rand(rng, B, L, D), _rand(rng, B, S, D)
  source_valid = np.arange(S)[None] < np.array([S, 2, 4])[:, None]
  block = _block(True)
  mask, cross = attention.causal_mask(L), attention.padding_mask(jnp.asarray(source_valid))
  params = _init64(block, y, mask, memory, cross)
  causal = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
  _compare(lambda p, y, m: block.apply({'params': p}, y, mask, m, cross), params, [y, memory],
           torch_peer.transformer_layer(D, HEADS, MLP, cross_attention=True),
           lambda p: torch_peer.block_state(p, cross_attention=True),
           lambda m, y, mem: m(y, mem, tgt_mask=causal,
                               memory_key_padding_mask=torch.tensor(~source_valid)))
