"""The transformers' input scale: at initialisation token identity is not drowned by position.

"Attention Is All You Need" (section 3.4) multiplies the embedding by sqrt(d_model); the project
does so for every token input of a transformer (`embedding.ScaledEmbed`). Checked on the models as
the registry builds them, over widths from 2 to 4096: the token part of the stack's input (the
output of every embedding table, read with `capture_intermediates`) has at least the RMS of the
sinusoidal positional part added to it. With flax's default table (std 1/sqrt(d)) and no scale,
the token part is 1/sqrt(d) against 1/sqrt(2): this fails at every width above 2.
"""
import flax.linen as nn
import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import registry
from attn_jax.models.positional import AddPositionalEncoding, sinusoidal_encoding
from attn_jax.task import TaskInfo

VOCAB, LEN = 64, 16
KINDS = ('lm', 'classification', 'seq2seq')


def _model_and_inputs(kind: str, width: int):
  config = registry.model_config_defaults()
  config.update(name='transformer', num_layers=0, hidden_size=width, num_heads=1, mlp_dim=4)
  info = TaskInfo(kind, LEN, VOCAB, num_classes=3, target_vocab_size=VOCAB,
                  target_max_len=LEN, input_shape=(LEN,))
  tokens = jnp.asarray(np.arange(VOCAB).reshape(-1, LEN) % (VOCAB - 1) + 1, jnp.int32)
  inputs = (tokens, tokens) if kind == 'seq2seq' else (tokens,)
  return registry.build_model(config, info), inputs


def _token_parts(kind: str, width: int) -> list:
  """The token part of each stack's input at initialisation: what `AddPositionalEncoding` receives,
  `[batch, length, width]` (one for the LM and the classifier; source and target for seq2seq)."""
  model, inputs = _model_and_inputs(kind, width)

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, AddPositionalEncoding):
      seen.append(args[0])
    return next_fun(*args, **kwargs)

  @jax.jit
  def token_parts():
    variables = model.init(jax.random.key(width), *inputs)
    seen.clear()
    with nn.intercept_methods(record):
      model.apply(variables, *inputs)
    return list(seen)

  seen = []
  return [np.asarray(x) for x in token_parts()]


def _rms(x) -> float:
  return float(np.sqrt(np.mean(np.square(np.asarray(x, np.float64)))))


@pytest.mark.parametrize('kind', KINDS)
@hypothesis.settings(max_examples=8, deadline=None, derandomize=True)
@hypothesis.given(width=st.integers(2, 4096))
def test_token_part_outweighs_position_at_init(kind, width):
  parts = _token_parts(kind, width)
  assert len(parts) == (2 if kind == 'seq2seq' else 1)  # seq2seq: source and target stacks
  position = _rms(sinusoidal_encoding(jnp.arange(LEN), width))
  for tokens in parts:
    assert tokens.shape[-1] == width
    assert _rms(tokens) >= position, (_rms(tokens), position)


def test_tied_output_reads_the_table_unscaled():
  """logits = final-norm output . table (no sqrt(d)): with no blocks and the norm's unit scale and
  zero bias, the logits are LayerNorm(sqrt(d) e_t + PE_t) . table, computed here in NumPy."""
  width = 32
  model, (tokens,) = _model_and_inputs('lm', width)
  params = model.init(jax.random.key(0), tokens)['params']
  logits = np.asarray(model.apply({'params': params}, tokens), np.float64)
  table = np.asarray(params['embed']['embedding'], np.float64)
  x = np.sqrt(width) * table[np.asarray(tokens)] + np.asarray(
      sinusoidal_encoding(jnp.arange(LEN), width), np.float64)[None]
  normed = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
  np.testing.assert_allclose(logits, normed @ table.T, rtol=1e-4, atol=1e-4)
