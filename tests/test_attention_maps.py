"""Attention maps: the captured weights are distributions over the unmasked keys; the heatmaps
render; `mode=attention` writes them from a trained workdir."""
import os

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from attn_jax import attention_maps
from attn_jax.data.tokenizers import char_tokenizer
from attn_jax.models.registry import build_model, model_config_defaults
from attn_jax.task import TaskInfo
from attn_jax.training.state import example_batch, model_inputs

S2S_INFO = TaskInfo(kind='seq2seq', max_len=6, vocab_size=10, target_vocab_size=9,
                    target_max_len=5, input_shape=(6,))
SOURCES = np.array([[5, 6, 7, 8, 0, 0], [9, 4, 5, 0, 0, 0]], np.int32)
DECODER_INPUTS = np.array([[1, 5, 6, 0, 0], [1, 4, 4, 4, 7]], np.int32)


def _model(info, name, **overrides):
  config = model_config_defaults()
  # 'explicit': the one implementation that sows the weights (as `mode=attention` builds it).
  config.update(dict(name=name, hidden_size=16, num_layers=2, num_heads=2, mlp_dim=32,
                     attention_impl='explicit', **overrides))
  model = build_model(config, info)
  inputs = model_inputs(example_batch(info))
  return model, jax.jit(model.init)(jax.random.key(0), *inputs)['params']


def _assert_distributions(weights, key_valid):
  """Rows sum to 1 over the valid keys and put exactly 0 on the others.

  weights `[layers, batch, heads, q, k]`; key_valid bool broadcastable to `[batch, q, k]`.
  """
  valid = np.broadcast_to(np.asarray(key_valid)[None, :, None], weights.shape)
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  assert np.all(weights[~valid] == 0.0)


def test_transformer_translation_weights():
  model, params = _model(S2S_INFO, 'transformer')
  maps = attention_maps.collect(model, params, jnp.asarray(SOURCES), jnp.asarray(DECODER_INPUTS))
  assert set(maps) == {'encoder/self_attention', 'decoder/self_attention',
                       'decoder/cross_attention'}
  assert maps['decoder/cross_attention'].shape == (2, 2, 2, 5, 6)  # layers, batch, heads, q, k
  source_valid = (SOURCES != 0)[:, None, :]
  _assert_distributions(maps['encoder/self_attention'], source_valid)
  _assert_distributions(maps['decoder/cross_attention'], source_valid)
  causal = np.tril(np.ones((5, 5), bool))[None]
  _assert_distributions(maps['decoder/self_attention'], causal)


@pytest.mark.parametrize('attention,kind', [('luong', 'attention'), ('bahdanau', 'attentive')])
def test_recurrent_translation_weights(attention, kind):
  model, params = _model(S2S_INFO, 'gru', seq2seq_attention=attention)
  maps = attention_maps.collect(model, params, jnp.asarray(SOURCES), jnp.asarray(DECODER_INPUTS))
  assert list(maps) == [kind] and maps[kind].shape == (1, 2, 1, 5, 6)
  _assert_distributions(maps[kind], (SOURCES != 0)[:, None, :])


def test_lm_weights_are_causal_and_maps_render(tmp_path):
  text = 'the cat sat on the mat'
  tokenizer = char_tokenizer(text)
  info = TaskInfo(kind='lm', max_len=32, vocab_size=tokenizer.vocab_size,
                  target_vocab_size=tokenizer.vocab_size, input_shape=(32,))
  model, params = _model(info, 'transformer')
  tokens = jnp.asarray([tokenizer.encode(text)])
  maps = attention_maps.collect(model, params, tokens)
  _assert_distributions(maps['decoder/self_attention'], np.tril(np.ones((22, 22), bool))[None])
  paths = attention_maps.lm_maps(model, params, tokenizer, 'the ', str(tmp_path))
  assert [os.path.basename(p) for p in paths] == ['decoder_self_attention.png']
  image = matplotlib.image.imread(paths[0])
  width, height = attention_maps.figure_inches(2, 2, 32, 32)  # prompt + continuation: 32 tokens
  assert image.shape[:2] == (round(height * attention_maps.DPI), round(width * attention_maps.DPI))


def test_draw_writes_a_non_empty_png_of_the_expected_size(tmp_path):
  weights = jax.nn.softmax(jax.random.normal(jax.random.key(0), (3, 2, 4, 5)), axis=-1)
  path = attention_maps.draw(np.asarray(weights), list('abcd'), list('vwxyz'),
                             str(tmp_path / 'map.png'), 'test')
  image = matplotlib.image.imread(path)
  width, height = attention_maps.figure_inches(3, 2, 4, 5)
  assert image.shape[:2] == (round(height * attention_maps.DPI), round(width * attention_maps.DPI))
  assert image[..., :3].std() > 0.05  # not blank
