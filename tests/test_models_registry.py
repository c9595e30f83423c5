"""Every registered (name, kind): output shape, finite gradients, jit == no-jit, config errors."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attn_jax.data.task import TaskInfo
from attn_jax.errors import ConfigError
from attn_jax.models import registry

BATCH, LEN, VOCAB, TARGET_VOCAB, TARGET_LEN, CLASSES = 2, 6, 11, 13, 5, 3


def _tokens(seed, shape, vocab):
  tokens = np.random.RandomState(seed).randint(1, vocab, shape)
  tokens[0, shape[1] - 2:] = 0  # right padding in the first example
  return jnp.asarray(tokens, jnp.int32)


def _task(name, kind):
  """(TaskInfo, inputs, extra positional inputs, output shape) for a tiny task."""
  if name == 'vit':
    info = TaskInfo('classification', num_classes=CLASSES, input_shape=(8, 8, 3))
    return info, (jnp.ones((BATCH, 8, 8, 3)) * jnp.arange(3),), (BATCH, CLASSES)
  if kind == 'classification':
    if name in ('logreg', 'mlp'):
      info = TaskInfo(kind, input_dim=4, num_classes=CLASSES, input_shape=(4,))
      return info, (jnp.linspace(-1, 1, BATCH * 4).reshape(BATCH, 4),), (BATCH, CLASSES)
    info = TaskInfo(kind, LEN, VOCAB, num_classes=CLASSES, input_shape=(LEN,))
    return info, (_tokens(0, (BATCH, LEN), VOCAB),), (BATCH, CLASSES)
  if kind == 'regression':
    info = TaskInfo(kind, LEN, 0, input_dim=2, num_classes=1, input_shape=(LEN, 2))
    return info, (jnp.linspace(-1, 1, BATCH * LEN * 2).reshape(BATCH, LEN, 2),), (BATCH, 1)
  if kind == 'lm':
    info = TaskInfo(kind, LEN, VOCAB, target_vocab_size=VOCAB, input_shape=(LEN,))
    return info, (_tokens(1, (BATCH, LEN), VOCAB),), (BATCH, LEN, VOCAB)
  info = TaskInfo(kind, LEN, VOCAB, target_vocab_size=TARGET_VOCAB, target_max_len=TARGET_LEN,
                  input_shape=(LEN,))
  inputs = (_tokens(2, (BATCH, LEN), VOCAB), _tokens(3, (BATCH, TARGET_LEN), TARGET_VOCAB))
  return info, inputs, (BATCH, TARGET_LEN, TARGET_VOCAB)


def _config(name, **overrides):
  config = registry.model_config_defaults()
  config.update(dict(dict(name=name, num_layers=1, hidden_size=8, num_heads=2, mlp_dim=16),
                     **overrides))
  return config


PAIRS = sorted(registry.BUILDERS)


@pytest.mark.parametrize('name,kind', PAIRS)
def test_shape_grad_and_jit(name, kind):
  info, inputs, shape = _task(name, kind)
  model = registry.build_model(_config(name, dropout_rate=0.1), info)
  variables = model.init(jax.random.key(0), *inputs)
  rngs = {'dropout': jax.random.key(1)}
  out = model.apply(variables, *inputs, train=False)
  assert out.shape == shape and out.dtype == jnp.float32
  jitted = jax.jit(lambda v, *x: model.apply(v, *x, train=False))(variables, *inputs)
  np.testing.assert_allclose(jitted, out, rtol=1e-5, atol=1e-5)

  def loss(params):
    logits = model.apply({'params': params}, *inputs, train=True, rngs=rngs)
    return jnp.mean(logits ** 2) if kind == 'regression' else jnp.mean(
        optax.softmax_cross_entropy_with_integer_labels(logits, jnp.ones(logits.shape[:-1], int)))

  grads = jax.grad(loss)(variables['params'])
  chex.assert_tree_all_finite(grads)
  assert registry.num_params(variables['params']) == sum(
      x.size for x in jax.tree.leaves(variables['params']))


def test_bfloat16_computes_with_float32_params():
  info, inputs, shape = _task('transformer', 'lm')
  model = registry.build_model(_config('transformer', dtype='bfloat16'), info)
  variables = model.init(jax.random.key(0), *inputs)
  assert {x.dtype for x in jax.tree.leaves(variables['params'])} == {jnp.dtype(jnp.float32)}
  out = model.apply(variables, *inputs)
  assert out.shape == shape and out.dtype == jnp.float32
  chex.assert_tree_all_finite(out)


@pytest.mark.parametrize('name,kind,overrides,setting', [
    ('nope', 'classification', {}, 'model.name'),
    ('logreg', 'lm', {}, 'model.name'),
    ('vit', 'lm', {}, 'model.name'),
    ('transformer', 'lm', {'positional': 'learned', 'max_len': 3}, 'model.max_len'),
    ('transformer', 'lm', {'positional': 'wavelets'}, 'model.positional'),
    ('transformer', 'lm', {'num_heads': 3}, 'model.num_heads'),
    ('gru', 'seq2seq', {'seq2seq_attention': 'dot'}, 'model.seq2seq_attention'),
    ('transformer', 'lm', {'dtype': 'float16'}, 'model.dtype'),
])
def test_config_errors(name, kind, overrides, setting):
  info, _, _ = _task('transformer', kind)
  with pytest.raises(ConfigError) as error:
    registry.build_model(_config(name, **overrides), info)
  assert error.value.setting == setting
  assert 'accepted' in error.value.message
