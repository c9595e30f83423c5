"""A ViT's attention over image patches: reduction against loops, the token strip, the PNG."""
import os

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from attn_jax import attention_maps
from attn_jax.data import data_config_defaults
from attn_jax.data import load_dataset
from attn_jax.models.registry import build_model, model_config_defaults
from launcher import launch


def test_patch_attention_against_loops():
  rng = np.random.default_rng(0)
  layers, batch, heads, rows, cols = 2, 3, 4, 2, 3
  n = rows * cols
  for pooling, q_len in (('cls', n + 1), ('mean', n)):
    w = rng.random((layers, batch, heads, q_len, q_len))
    got = attention_maps.patch_attention(w, pooling, (rows, cols))
    assert got.shape == (layers, batch, rows, cols)
    for l in range(layers):
      for b in range(batch):
        for k in range(n):
          if pooling == 'cls':
            want = sum(w[l, b, h, 0, 1 + k] for h in range(heads)) / heads
          else:
            want = sum(w[l, b, h, q, k] for h in range(heads) for q in range(q_len))
            want /= heads * q_len
          np.testing.assert_allclose(got[(l, b, *divmod(k, cols))], want, rtol=1e-12)


@pytest.mark.parametrize('p', [2, 4])
def test_token_strip_lays_the_patches_out_in_reading_order(p):
  image = np.arange(64, dtype=float).reshape(8, 8)
  strip = attention_maps._token_strip(image, p)  # pylint: disable=protected-access
  n = (8 // p) ** 2
  assert strip.shape == (p, (n + 1) * (p + 1) - 1)
  assert np.isnan(strip[:, :p + 1]).all()  # the class token's place, then a gap
  for k in range(n):
    r, c = divmod(k, 8 // p)
    start = (k + 1) * (p + 1)
    np.testing.assert_array_equal(strip[:, start:start + p],
                                  image[r * p:(r + 1) * p, c * p:(c + 1) * p])


def test_image_maps_of_an_initialised_vit(tmp_path):
  data = data_config_defaults()
  data.update(name='digits', data_dir=str(tmp_path / 'tfds'))
  dataset = load_dataset(data, seed=0)
  config = model_config_defaults()
  config.update(name='vit', patch_size=2, pooling='cls', hidden_size=8, num_heads=2,
                num_layers=2, mlp_dim=8, positional='learned',
                attention_impl='explicit')  # sows the weights, as `mode=attention` builds it
  model = build_model(config, dataset.info)
  params = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))['params']
  images = next(dataset.eval_batches(attention_maps.IMAGES))['inputs']
  (weights,) = attention_maps.collect(model, params, jnp.asarray(images)).values()
  per_patch = attention_maps.patch_attention(weights, 'cls', (4, 4))
  assert per_patch.shape == (2, attention_maps.IMAGES, 4, 4) and (per_patch >= 0).all()
  total = per_patch.sum(axis=(2, 3))  # the rest of the class token's attention is on itself
  assert (total <= 1 + 1e-5).all() and (total > 0.5).all()
  np.testing.assert_allclose(attention_maps.patch_attention(weights[..., 1:, 1:], 'mean', (4, 4))
                             .sum(axis=(2, 3)), (weights[..., 1:, 1:].sum(-1)).mean((2, 3)),
                             rtol=1e-5)
  (path,) = attention_maps.image_maps(model, params, dataset, config, str(tmp_path))
  png = matplotlib.image.imread(path)
  width, height = attention_maps.image_figure_inches(attention_maps.IMAGES, 2, 16, 2)
  assert png.shape[:2] == (round(height * attention_maps.DPI), round(width * attention_maps.DPI))
  assert png[..., :3].std() > 0.05  # not blank


@pytest.mark.slow
def test_mode_attention_on_a_trained_digits_vit(tmp_path):
  overrides = ('train.num_steps=2', 'train.batch_size=8', 'train.warmup_steps=1',
               'train.eval_every=2', 'train.checkpoint_every=2', 'train.log_every=1',
               f'data.data_dir={tmp_path / "tfds"}')
  trained = launch('vit_digits.py:vit', tmp_path / 'run', *overrides)
  assert trained.returncode == 0, trained.stderr[-2000:]
  drawn = launch('vit_digits.py:vit', tmp_path / 'run', 'mode=attention', *overrides)
  assert drawn.returncode == 0, drawn.stderr[-2000:]
  assert os.listdir(tmp_path / 'run' / 'attention') == ['patch_attention.png']
  mlp = launch('vit_digits.py:mlp', tmp_path / 'mlp', *overrides)
  assert mlp.returncode == 0, mlp.stderr[-2000:]
  refused = launch('vit_digits.py:mlp', tmp_path / 'mlp', 'mode=attention', *overrides)
  assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].startswith('error:')
