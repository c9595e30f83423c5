"""Transformers: the residual block (encoder block, and decoder block with cross-attention), the
block stack, an encoder classifier, a decoder-only LM, an encoder-decoder, and a ViT encoder.

A block is three (or two) sub-layers, each wrapped in a residual connection and a layer norm:

    pre-LN:  x = x + Dropout(SubLayer(LayerNorm(x)))     (and a final LayerNorm after the stack)
    post-LN: x = LayerNorm(x + Dropout(SubLayer(x)))     ("Attention Is All You Need")

with SubLayer = masked self-attention, [cross-attention to the encoder], feed-forward. The
self-attention is softmax attention, or causal linear attention with `TransformerConfig.attention
= 'linear'` (`linear_attention.py`; the registry's `linear_attention` model).

Token embeddings enter the stack multiplied by sqrt(d_model) (`embedding.ScaledEmbed`; "Attention
Is All You Need" section 3.4), so that token identity is not drowned by the positional encoding;
a tied output layer reads the table unscaled. ViT's patch embedding is a linear projection added
to the position unscaled, as in the ViT paper (Dosovitskiy et al. 2021, eq. 1).

Decoding with a KV cache (decode=True, one token per call) follows the Flax WMT example:
`cache = init_cache(module, *full_length_inputs)`, then
`logits, vars = module.apply({'params': p, 'cache': cache}, tokens[:, None], decode=True,
mutable=['cache'])` and `cache = vars['cache']`.
"""
import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_jax.models.attention import MultiHeadAttention, causal_mask, padding_mask
from attn_jax.models.dense import Dense, over_flat_batch
from attn_jax.models.embedding import InputEmbedding, ScaledEmbed, token_valid
from attn_jax.models.linear_attention import LinearAttention
from attn_jax.models.mlp import ACTIVATIONS, masked_mean
from attn_jax.models.positional import AddPositionalEncoding

POOLINGS = ('mean', 'cls', 'last')


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Hyperparameters shared by every transformer module.

  Attributes:
    hidden_size: model width d_model.
    num_layers: blocks in each stack.
    num_heads: attention heads (hidden_size must be divisible by it).
    mlp_dim: feed-forward inner width.
    dropout_rate: dropout on embeddings and on each sub-layer's output (and in the feed-forward).
    attention_dropout_rate: dropout on attention weights ('explicit' attention only).
    activation: feed-forward non-linearity, a key of `mlp.ACTIVATIONS`.
    positional: 'sinusoidal', 'learned', 'rotary' or 'none'.
    pre_ln: pre-LN blocks (else post-LN).
    attention_impl: 'explicit', 'fused', 'blocked' or 'auto' (chosen per call from measurements;
      see `attention.MultiHeadAttention`).
    attention: self-attention kind: 'softmax' (`MultiHeadAttention`, masked by the caller's
      mask) or 'linear' (`linear_attention.LinearAttention`: always causal, takes no mask, no
      rotary positions; attention_impl and attention_dropout_rate do not apply).
    max_len: size of the learned position table (positions must be below it).
    dtype: computation dtype (params are float32; softmax is float32).
  """
  hidden_size: int = 64
  num_layers: int = 2
  num_heads: int = 4
  mlp_dim: int = 128
  dropout_rate: float = 0.0
  attention_dropout_rate: float = 0.0
  activation: str = 'relu'
  positional: str = 'sinusoidal'
  pre_ln: bool = True
  attention_impl: str = 'explicit'
  attention: str = 'softmax'
  max_len: int = 512
  dtype: Any = jnp.float32


class FeedForward(nn.Module):
  """Position-wise act(x W_1 + b_1) W_2 + b_2: `[..., d]` -> `[..., d]`."""
  config: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    cfg = self.config
    h = ACTIVATIONS[cfg.activation](Dense(cfg.mlp_dim, dtype=cfg.dtype)(x))
    h = nn.Dropout(cfg.dropout_rate)(h, deterministic=not train)
    return Dense(x.shape[-1], dtype=cfg.dtype)(h)


class TransformerBlock(nn.Module):
  """Encoder block (cross_attention=False): self-attention + feed-forward; decoder block
  (cross_attention=True): masked self-attention + cross-attention + feed-forward.
  """
  config: TransformerConfig
  cross_attention: bool = False

  @nn.compact
  def __call__(self, x, mask=None, encoded=None, cross_mask=None, *, positions=None,
               train=False, decode=False):
    """x `[batch, length, d]` -> `[batch, length, d]`.

    Args:
      x: `[batch, length, d]`.
      mask: self-attention mask, broadcastable to `[batch, heads, length, length]`.
      encoded: `[batch, src_len, d]` encoder outputs (decoder block).
      cross_mask: broadcastable to `[batch, heads, length, src_len]`.
      positions: `[length]` positions (rotary).
      train: enables dropout.
      decode: KV-cached self-attention, one token per call.
    """
    cfg = self.config

    def residual(name, sublayer, x):
      drop = lambda y: nn.Dropout(cfg.dropout_rate)(y, deterministic=not train)
      norm = nn.LayerNorm(dtype=cfg.dtype, name=f'{name}_norm')
      if cfg.pre_ln:
        return x + drop(sublayer(norm(x)))
      return norm(x + drop(sublayer(x)))

    def attention(name, rotary):
      return MultiHeadAttention(cfg.num_heads, cfg.hidden_size, cfg.attention_dropout_rate,
                                cfg.attention_impl, rotary, cfg.dtype, name=name)

    if cfg.attention == 'linear':  # causal by construction: no mask (see linear_attention.py)
      linear = LinearAttention(cfg.num_heads, cfg.hidden_size, dtype=cfg.dtype,
                               name='self_attention')
      self_attend = lambda y: linear(y, decode=decode)
    else:
      self_attention = attention('self_attention', cfg.positional == 'rotary')
      self_attend = lambda y: self_attention(y, mask=mask, positions=positions, train=train,
                                             decode=decode)
    x = residual('self_attention', self_attend, x)
    if self.cross_attention:
      cross = attention('cross_attention', False)
      x = residual('cross_attention', lambda y: cross(y, encoded, cross_mask, train=train), x)
    feed_forward = FeedForward(cfg, name='feed_forward')
    return residual('feed_forward', lambda y: feed_forward(y, train), x)


class TransformerStack(nn.Module):
  """Embedded inputs `[batch, length, d]` -> positional encoding, dropout, `num_layers` blocks,
  and (pre-LN) a final layer norm."""
  config: TransformerConfig
  cross_attention: bool = False

  @nn.compact
  def __call__(self, x, mask=None, encoded=None, cross_mask=None, *, positions, train=False,
               decode=False):
    """Arguments as `TransformerBlock`; positions `[length]` int. Returns `[batch, length, d]`."""
    cfg = self.config
    x = AddPositionalEncoding(cfg.positional, cfg.max_len)(x, positions)
    x = nn.Dropout(cfg.dropout_rate)(x, deterministic=not train)
    for layer in range(cfg.num_layers):
      x = TransformerBlock(cfg, self.cross_attention, name=f'block_{layer}')(
          x, mask, encoded, cross_mask, positions=positions, train=train, decode=decode)
    return nn.LayerNorm(dtype=cfg.dtype, name='final_norm')(x) if cfg.pre_ln else x


class Positions(nn.Module):
  """`[length]` positions: `arange(length)`, or with decode=True the next position from a
  counter in the 'cache' collection (one token per call)."""

  @nn.compact
  def __call__(self, length: int, decode: bool = False) -> jax.Array:
    if not decode:
      return jnp.arange(length)
    initialized = self.has_variable('cache', 'position')
    position = self.variable('cache', 'position', lambda: jnp.array(0, jnp.int32))
    if not initialized:
      return jnp.arange(length)
    current = position.value
    position.value = current + 1
    return current[None]


def pool(y: jax.Array, valid: jax.Array, pooling: str) -> jax.Array:
  """`[batch, length, d]` -> `[batch, d]`: 'mean' over valid positions, 'cls' the first position,
  'last' the last valid position."""
  if pooling == 'mean':
    return masked_mean(y, valid)
  if pooling == 'cls':
    return y[:, 0]
  last = jnp.maximum(valid.sum(axis=1) - 1, 0)
  return jnp.take_along_axis(y, last[:, None, None], axis=1)[:, 0]


class PooledEncoder(nn.Module):
  """Embedded sequence `[batch, length, d]` + valid `[batch, length]` -> logits: encoder stack
  with key-padding mask, pooling (a learned class token is prepended for 'cls'), Dense."""
  config: TransformerConfig
  num_classes: int
  pooling: str = 'mean'

  @nn.compact
  def __call__(self, x, valid, train=False):
    cfg = self.config
    if self.pooling == 'cls':
      cls = self.param('cls', nn.initializers.zeros, (1, 1, x.shape[-1])).astype(x.dtype)
      x = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, x.shape[-1])), x], axis=1)
      valid = jnp.concatenate([jnp.ones_like(valid[:, :1]), valid], axis=1)
    y = TransformerStack(cfg, name='encoder')(
        x, padding_mask(valid), positions=jnp.arange(x.shape[1]), train=train)
    pooled = pool(y, valid, self.pooling)
    return Dense(self.num_classes, dtype=cfg.dtype, name='head')(pooled).astype(jnp.float32)


class TransformerClassifier(nn.Module):
  """Encoder classifier/regressor: tokens `[batch, length]` (vocab_size > 0) or floats
  `[batch, length, input_dim]` -> float32 logits `[batch, num_classes]`; padding excluded."""
  config: TransformerConfig
  num_classes: int
  vocab_size: int
  pooling: str = 'mean'

  @nn.compact
  def __call__(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    x = InputEmbedding(self.vocab_size, self.config.hidden_size, self.config.dtype,
                       scale_tokens=True)(inputs)
    valid = token_valid(inputs) if self.vocab_size else jnp.ones(x.shape[:2], bool)
    return PooledEncoder(self.config, self.num_classes, self.pooling)(x, valid, train)


class ViTClassifier(nn.Module):
  """Vision transformer: images `[batch, height, width, channels]` -> non-overlapping
  patch_size x patch_size patches, linearly embedded (a strided conv) -> `PooledEncoder`."""
  config: TransformerConfig
  num_classes: int
  patch_size: int
  pooling: str = 'cls'

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    p, d = self.patch_size, self.config.hidden_size
    x = nn.Conv(d, (p, p), strides=(p, p), padding='VALID', dtype=self.config.dtype,
                name='patch_embed')(images.astype(self.config.dtype))
    x = x.reshape(x.shape[0], -1, d)  # [batch, num_patches, d]
    valid = jnp.ones(x.shape[:2], bool)
    return PooledEncoder(self.config, self.num_classes, self.pooling)(x, valid, train)


class TokenOutput(nn.Module):
  """Output logits: the embedding transposed (tied) or a Dense layer; float32."""
  vocab_size: int
  tie_embeddings: bool
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, y: jax.Array, embed: nn.Embed) -> jax.Array:
    logits = over_flat_batch(embed.attend, y, 1) if self.tie_embeddings else Dense(
        self.vocab_size, dtype=self.dtype, name='head')(y)
    return logits.astype(jnp.float32)


class TransformerLM(nn.Module):
  """Decoder-only LM: causal self-attention blocks over tokens `[batch, length]` -> float32
  logits `[batch, length, vocab]`. Right padding needs no mask: causality keeps it out of
  earlier positions. With decode=True, one token per call from the KV cache."""
  config: TransformerConfig
  vocab_size: int
  tie_embeddings: bool = True

  @nn.compact
  def __call__(self, inputs: jax.Array, train: bool = False, decode: bool = False) -> jax.Array:
    cfg = self.config
    embed = ScaledEmbed(self.vocab_size, cfg.hidden_size, dtype=cfg.dtype, name='embed')
    positions = Positions(name='positions')(inputs.shape[1], decode)
    mask = None if decode else causal_mask(inputs.shape[1])
    y = TransformerStack(cfg, name='decoder')(
        self.perturb('embedded', embed(inputs)), mask, positions=positions, train=train,
        decode=decode)  # perturb: see InputEmbedding
    return TokenOutput(self.vocab_size, self.tie_embeddings, cfg.dtype, name='output')(y, embed)


class TransformerEncoderDecoder(nn.Module):
  """Encoder-decoder: source tokens `[batch, src_len]` and decoder inputs `[batch, tgt_len]` ->
  float32 logits `[batch, tgt_len, target_vocab]`.

  Generation: `encoded = apply(v, inputs, method='encode')`; `cache = init_cache(module, inputs,
  decoder_inputs_full_length)`; then per token `logits, vars = apply({'params': p, 'cache': cache},
  encoded, inputs, tokens[:, None], decode=True, mutable=['cache'], method='decode')`.
  """
  config: TransformerConfig
  vocab_size: int
  target_vocab_size: int
  tie_embeddings: bool = True

  def setup(self):
    cfg = self.config
    self.source_embed = InputEmbedding(self.vocab_size, cfg.hidden_size, cfg.dtype,
                                       scale_tokens=True)
    self.encoder = TransformerStack(cfg)
    self.target_embed = ScaledEmbed(self.target_vocab_size, cfg.hidden_size, dtype=cfg.dtype)
    self.target_positions = Positions()
    self.decoder = TransformerStack(cfg, cross_attention=True)
    self.output = TokenOutput(self.target_vocab_size, self.tie_embeddings, cfg.dtype)

  def encode(self, inputs: jax.Array, train: bool = False) -> jax.Array:
    """inputs `[batch, src_len]` -> encoded `[batch, src_len, d]`."""
    return self.encoder(self.source_embed(inputs), padding_mask(token_valid(inputs)),
                        positions=jnp.arange(inputs.shape[1]), train=train)

  def decode(self, encoded: jax.Array, inputs: jax.Array, decoder_inputs: jax.Array,
             train: bool = False, decode: bool = False) -> jax.Array:
    """encoded `[batch, src_len, d]`, inputs `[batch, src_len]` (for the source padding mask),
    decoder_inputs `[batch, tgt_len]` (1 with decode=True) -> logits `[batch, tgt_len, vocab]`."""
    length = decoder_inputs.shape[1]
    positions = self.target_positions(length, decode)
    mask = None if decode else causal_mask(length)
    y = self.decoder(self.target_embed(decoder_inputs), mask, encoded,
                     padding_mask(token_valid(inputs)), positions=positions, train=train,
                     decode=decode)
    return self.output(y, self.target_embed)

  def __call__(self, inputs, decoder_inputs, train=False, decode=False):
    return self.decode(self.encode(inputs, train), inputs, decoder_inputs, train, decode)


def init_cache(module: nn.Module, *inputs: jax.Array) -> Any:
  """A zero KV cache for decoding with `module` (TransformerLM or TransformerEncoderDecoder).

  `inputs` are arrays (or `jax.ShapeDtypeStruct`s) of the full shapes: `[batch, max_len]`
  tokens for the LM; source `[batch, src_len]` and decoder inputs `[batch, max_len]` for the
  encoder-decoder. Nothing is computed (shapes come from `jax.eval_shape`).
  """
  inputs = [jnp.ones(x.shape, jnp.int32) for x in inputs]
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, decode=True))
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes['cache'])
