"""PyTorch equivalents of the project's layers, built from the project's parameters.

Imported only where PyTorch is installed (`pip install -e '.[bench]'`): by the benchmark
(`studies/benchmark/benchmark.py`) and by tests/test_torch_parity.py. It is never a runtime
dependency.

Each `*_state(params)` maps a Flax parameter tree to a `torch.nn.Module.state_dict()` of NumPy
arrays. The maps are linear (transposes, reshapes, concatenations), so the same map applied to a
gradient tree gives the gradients torch reports for those weights. Known differences, kept visible:
- GRU: ours is torch's form (reset gate applied to W_hn h) without the hidden biases; torch's
  `bias_hh_l0` is set to zero (so b_hn is absent on both sides) and has no counterpart here.
- gelu is the tanh approximation on both sides (`approximate='tanh'`).
- layer norm epsilon is Flax's 1e-6 on both sides.
- a fully masked attention row gives zeros here and NaN in torch.
"""
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TORCH_RNN = {'rnn': nn.RNN, 'lstm': nn.LSTM, 'gru': nn.GRU}


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
  return F.gelu(x, approximate='tanh')


def _np(x) -> np.ndarray:
  return np.asarray(x)


def recurrent_state(params, layer: int = 0) -> dict:
  """`RecurrentLayer` params {'input': {kernel, bias}, 'recurrent'} -> the `nn.RNN/LSTM/GRU`
  state of its `layer` (keys ending `_l{layer}`).

  Gate order is the same on both sides (LSTM i, f, g, o; GRU r, z, n); torch's hidden bias is 0.
  """
  bias = _np(params['input']['bias'])
  return {f'weight_ih_l{layer}': _np(params['input']['kernel']).T,
          f'weight_hh_l{layer}': _np(params['recurrent']).T,
          f'bias_ih_l{layer}': bias, f'bias_hh_l{layer}': np.zeros_like(bias)}


def dense_state(params, prefix: str) -> dict:
  """`nn.Dense` {kernel `[in, out]`, bias} -> `nn.Linear` {weight `[out, in]`, bias}."""
  return {f'{prefix}weight': _np(params['kernel']).T, f'{prefix}bias': _np(params['bias'])}


def layer_norm_state(params, prefix: str) -> dict:
  return {f'{prefix}weight': _np(params['scale']), f'{prefix}bias': _np(params['bias'])}


def mha_state(params, prefix: str = '') -> dict:
  """`MultiHeadAttention` params -> `nn.MultiheadAttention` state (packed in-projection)."""
  flat = lambda name: _np(params[name]['kernel']).reshape(params[name]['kernel'].shape[0], -1).T
  out = _np(params['out']['kernel'])
  return {f'{prefix}in_proj_weight': np.concatenate([flat('query'), flat('key'), flat('value')]),
          f'{prefix}in_proj_bias': np.concatenate(
              [_np(params[n]['bias']).reshape(-1) for n in ('query', 'key', 'value')]),
          f'{prefix}out_proj.weight': out.reshape(-1, out.shape[-1]).T,
          f'{prefix}out_proj.bias': _np(params['out']['bias'])}


def block_state(params, prefix: str = '', cross_attention: bool = False) -> dict:
  """Pre-LN `TransformerBlock` params -> `nn.TransformerEncoderLayer` (or, with cross_attention,
  `nn.TransformerDecoderLayer`) state."""
  state = {**mha_state(params['self_attention'], f'{prefix}self_attn.'),
           **layer_norm_state(params['self_attention_norm'], f'{prefix}norm1.'),
           **dense_state(params['feed_forward']['Dense_0'], f'{prefix}linear1.'),
           **dense_state(params['feed_forward']['Dense_1'], f'{prefix}linear2.')}
  if cross_attention:
    state.update(mha_state(params['cross_attention'], f'{prefix}multihead_attn.'))
    state.update(layer_norm_state(params['cross_attention_norm'], f'{prefix}norm2.'))
    state.update(layer_norm_state(params['feed_forward_norm'], f'{prefix}norm3.'))
  else:
    state.update(layer_norm_state(params['feed_forward_norm'], f'{prefix}norm2.'))
  return state


def load(module: nn.Module, state: dict, dtype=torch.float32) -> nn.Module:
  """Casts `module` to `dtype`, then loads a NumPy state into it (every entry must match)."""
  module.to(dtype).load_state_dict({k: torch.tensor(np.array(v)) for k, v in state.items()},
                                   strict=True)
  return module


def transformer_layer(d: int, heads: int, mlp: int, cross_attention: bool = False) -> nn.Module:
  """A pre-LN torch encoder (or decoder) layer configured like `TransformerBlock`."""
  layer = nn.TransformerDecoderLayer if cross_attention else nn.TransformerEncoderLayer
  return layer(d, heads, mlp, dropout=0.0, activation=gelu_tanh, layer_norm_eps=1e-6,
               batch_first=True, norm_first=True)


class RecurrentHead(nn.Module):
  """`num_layers` stacked recurrent layers and a dense head on every step: the benchmark's
  recurrent model."""

  def __init__(self, cell: str, features: int, hidden: int, outputs: int, num_layers: int = 1):
    super().__init__()
    self.rnn = TORCH_RNN[cell](features, hidden, num_layers=num_layers, batch_first=True)
    self.head = nn.Linear(hidden, outputs)

  def forward(self, x, state=None):
    """x `[batch, length, features]` -> (`[batch, length, outputs]`, final state: h (and c)
    `[num_layers, batch, hidden]`)."""
    hs, state = self.rnn(x, state)
    return self.head(hs), state


def recurrent_head_state(params) -> dict:
  """`benchmark.RecurrentHead` params (a `RecurrentStack` named 'stack': layers `forward_0`,
  `forward_1`, ...) -> `RecurrentHead` state."""
  stack = params['stack']
  state = dense_state(params['head'], 'head.')
  for layer in range(len(stack)):
    state.update({f'rnn.{k}': v
                  for k, v in recurrent_state(stack[f'forward_{layer}'], layer).items()})
  return state


class TransformerLM(nn.Module):
  """Decoder-only pre-LN LM like `transformer.TransformerLM` (learned positions, tied output).

  `decode_step` runs one token per call against a KV cache (torch's layers have none; this one
  uses the layers' own weights and `F.scaled_dot_product_attention`).
  """

  def __init__(self, vocab: int, d: int, layers: int, heads: int, mlp: int, max_len: int):
    super().__init__()
    self.heads = heads
    self.embed = nn.Embedding(vocab, d)
    self.positions = nn.Parameter(torch.zeros(max_len, d))
    self.layers = nn.ModuleList(transformer_layer(d, heads, mlp) for _ in range(layers))
    self.final_norm = nn.LayerNorm(d, eps=1e-6)

  def scaled_embed(self, tokens):
    """tokens `[...]` -> `[..., d]`, times sqrt(d) as `embedding.ScaledEmbed` (tied output unscaled)."""
    return self.embed(tokens) * self.embed.weight.shape[1] ** 0.5

  def forward(self, tokens):
    """tokens `[batch, length]` -> logits `[batch, length, vocab]` (causal)."""
    length = tokens.shape[1]
    x = self.scaled_embed(tokens) + self.positions[:length]
    mask = nn.Transformer.generate_square_subsequent_mask(length, dtype=x.dtype)
    for layer in self.layers:
      x = layer(x, src_mask=mask, is_causal=True)
    return self.final_norm(x) @ self.embed.weight.T

  def init_cache(self, batch: int, max_len: int) -> list:
    d = self.embed.weight.shape[1]
    shape = (batch, self.heads, max_len, d // self.heads)
    return [(torch.zeros(shape), torch.zeros(shape)) for _ in self.layers]

  def decode_step(self, tokens, cache: list, position: int):
    """tokens `[batch]` at `position` -> logits `[batch, vocab]`; writes K/V into `cache`."""
    x = self.scaled_embed(tokens)[:, None] + self.positions[position]
    batch, _, d = x.shape
    split = lambda t: t.reshape(batch, 1, self.heads, d // self.heads).transpose(1, 2)
    for layer, (keys, values) in zip(self.layers, cache):
      attn = layer.self_attn
      q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
      keys[:, :, position] = split(k)[:, :, 0]
      values[:, :, position] = split(v)[:, :, 0]
      mask = (torch.arange(keys.shape[2]) <= position)[None]
      out = F.scaled_dot_product_attention(split(q), keys, values, attn_mask=mask)
      x = x + attn.out_proj(out.transpose(1, 2).reshape(batch, 1, d))
      x = x + layer.linear2(gelu_tanh(layer.linear1(layer.norm2(x))))
    return (self.final_norm(x) @ self.embed.weight.T)[:, 0]


def transformer_lm_state(params) -> dict:
  """`transformer.TransformerLM` params (pre-LN, learned positions, tied) -> `TransformerLM`."""
  decoder = params['decoder']
  blocks = sorted((k for k in decoder if k.startswith('block_')), key=lambda k: int(k[6:]))
  state = {'embed.weight': _np(params['embed']['embedding']),
           'positions': _np(decoder['AddPositionalEncoding_0']['embedding']),
           **layer_norm_state(decoder['final_norm'], 'final_norm.')}
  for i, name in enumerate(blocks):
    state.update(block_state(decoder[name], f'layers.{i}.'))
  return state


def matmul_seconds(n: int, repeats: int) -> list[float]:
  """Seconds of `repeats` fp32 `[n, n] @ [n, n]` products (after one warm-up)."""
  a, b = torch.randn(n, n), torch.randn(n, n)
  torch.mm(a, b)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    torch.mm(a, b)
    times.append(time.perf_counter() - start)
  return times
