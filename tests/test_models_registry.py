"""Every registered (name, kind): output shape, finite gradients, jit == no-jit, config errors;
the MLP against NumPy; and every model feature reachable from `model_config_defaults()`."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attn_jax.errors import ConfigError
from attn_jax.models import recurrent, registry, transformer
from attn_jax.task import TaskInfo

BATCH, LEN, VOCAB, TARGET_VOCAB, TARGET_LEN, CLASSES = 2, 6, 11, 13, 5, 3


def _tokens(seed, shape, vocab):
  tokens = np.random.RandomState(seed).randint(1, vocab, shape)
  tokens[0, shape[1] - 2:] = 0  # right padding in the first example
  return jnp.asarray(tokens, jnp.int32)


def _task(name, kind):
  """(TaskInfo, inputs, extra positional inputs, output shape) for a tiny task."""
  if name == 'vit':
    info = TaskInfo('classification', num_classes=CLASSES, input_shape=(8, 8, 3))
    return info, (jnp.broadcast_to(jnp.arange(3.0), (BATCH, 8, 8, 3)),), (BATCH, CLASSES)
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
KEY = jax.random.key(0, impl='rbg')  # cheaper to compile than threefry


def random_params(model, *inputs):
  """Params of `model`'s shapes and dtypes, drawn by NumPy from N(0, 1/fan_in).

  The shapes come from tracing `model.init` (`jax.eval_shape`): compiling every model's
  initialisers would cost more than the rest of these tests; the initialisers themselves are
  tested in test_models_recurrent.py and test_models_attention.py.
  """
  rng = np.random.RandomState(0)
  shapes = jax.eval_shape(model.init, KEY, *inputs)['params']
  return jax.tree.map(lambda s: jnp.asarray(
      rng.randn(*s.shape) / np.sqrt(np.prod(s.shape[:-1])), s.dtype), shapes)


def _loss(kind, logits):
  if kind == 'regression':
    return jnp.mean(logits ** 2)
  labels = jnp.ones(logits.shape[:-1], jnp.int32)
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@pytest.mark.parametrize('name,kind', PAIRS)
def test_output_shape_and_finite_gradients(name, kind):
  info, inputs, shape = _task(name, kind)
  model = registry.build_model(_config(name), info)
  params = random_params(model, *inputs)

  @jax.jit
  def outputs_and_grads(params):
    out, vjp = jax.vjp(lambda p: model.apply({'params': p}, *inputs), params)
    return out, vjp(jax.grad(lambda o: _loss(kind, o))(out))[0]

  out, grads = outputs_and_grads(params)
  assert out.shape == shape and out.dtype == jnp.float32
  chex.assert_tree_all_finite((out, grads))
  assert any(np.abs(g).max() > 0 for g in jax.tree.leaves(grads))
  assert registry.num_params(params) == sum(x.size for x in jax.tree.leaves(params)) > 0


def test_dropout_changes_training_outputs_only():
  info, inputs, _ = _task('transformer', 'classification')
  model = registry.build_model(_config('transformer', dropout_rate=0.5), info)
  variables = {'params': random_params(model, *inputs)}
  apply = jax.jit(model.apply, static_argnames='train')
  train = [apply(variables, *inputs, train=True, rngs={'dropout': jax.random.key(i, impl='rbg')})
           for i in range(2)]
  assert not np.allclose(train[0], train[1])
  np.testing.assert_array_equal(apply(variables, *inputs), apply(variables, *inputs))


@pytest.mark.parametrize('name,kind', [('transformer', 'lm'), ('lstm', 'classification'),
                                       ('gru', 'seq2seq'), ('mlp', 'classification')])
def test_jit_equals_no_jit(name, kind):
  info, inputs, _ = _task(name, kind)
  model = registry.build_model(_config(name, bidirectional=True, seq2seq_attention='luong'), info)
  variables = {'params': random_params(model, *inputs)}
  eager = model.apply(variables, *inputs)
  jitted = jax.jit(model.apply)(variables, *inputs)
  np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)


def test_bfloat16_computes_with_float32_params():
  info, inputs, shape = _task('transformer', 'lm')
  model = registry.build_model(_config('transformer', dtype='bfloat16'), info)
  shapes = jax.eval_shape(model.init, KEY, *inputs)['params']
  assert {x.dtype for x in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32)}
  out = jax.jit(model.apply)({'params': random_params(model, *inputs)}, *inputs)
  assert out.shape == shape and out.dtype == jnp.float32
  chex.assert_tree_all_finite(out)


def _np_activation(name, x):
  return {'relu': lambda: np.maximum(x, 0), 'sigmoid': lambda: 1 / (1 + np.exp(-x)),
          'tanh': lambda: np.tanh(x),  # gelu: the tanh approximation (flax's default)
          'gelu': lambda: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
          }[name]()


@pytest.mark.parametrize('name,num_layers,activation', [
    ('mlp', 2, 'relu'), ('mlp', 1, 'sigmoid'), ('mlp', 3, 'tanh'), ('mlp', 2, 'gelu'),
    ('logreg', 2, 'relu')])
def test_mlp_equals_numpy(name, num_layers, activation):
  """h_l = act(h_{l-1} W_l + b_l), logits = h_L W + b, with num_layers x hidden_size hidden
  units; logistic regression has no hidden layer whatever num_layers says."""
  info, (x,), _ = _task(name, 'classification')
  model = registry.build_model(_config(name, num_layers=num_layers, hidden_size=5,
                                       activation=activation), info)
  params = random_params(model, x)
  hidden = num_layers if name == 'mlp' else 0
  layers = [jax.tree.map(np.asarray, params[f'Dense_{i}']) for i in range(hidden + 1)]
  assert len(params) == len(layers)
  assert [p['kernel'].shape for p in layers] == [(4, 5)] * bool(hidden) + [(5, 5)] * max(
      hidden - 1, 0) + [(5 if hidden else 4, CLASSES)]
  h = np.asarray(x, np.float64)
  for layer in layers[:-1]:
    h = _np_activation(activation, h @ layer['kernel'] + layer['bias'])
  expected = h @ layers[-1]['kernel'] + layers[-1]['bias']
  np.testing.assert_allclose(model.apply({'params': params}, x), expected, rtol=1e-5, atol=1e-5)


def _param_names(name, kind, **overrides):
  """The '/'-joined paths of the params of the model the registry builds (shapes only)."""
  info, inputs, _ = _task(name, kind)
  model = registry.build_model(_config(name, **overrides), info)
  shapes = jax.eval_shape(model.init, KEY, *inputs)['params']
  paths = jax.tree_util.tree_flatten_with_path(shapes)[0]
  return model, {'/'.join(k.key for k in path) for path, _ in paths}


def _has(names, part):
  return any(part in n for n in names)


def test_recurrent_features_reachable_from_config():
  for cell in recurrent.CELLS:
    model, names = _param_names(cell, 'classification', num_layers=3, bidirectional=True)
    assert isinstance(model, recurrent.RecurrentClassifier)
    assert all(_has(names, f'{d}_{layer}/recurrent') for d in ('forward', 'backward')
               for layer in range(3))
    _, names = _param_names(cell, 'classification', num_layers=2)
    assert _has(names, 'forward_1/') and not _has(names, 'backward_')
  expected = {'none': (), 'luong': ('luong_key', 'combine'), 'bahdanau': ('attentive', 'combine')}
  for attention, parts in expected.items():
    model, names = _param_names('lstm', 'seq2seq', seq2seq_attention=attention, num_layers=2)
    assert isinstance(model, recurrent.RecurrentSeq2Seq) and model.attention == attention
    assert all(_has(names, part) for part in parts)
    assert _has(names, 'combine') == (attention != 'none')
  for tie in (True, False):
    for name in ('lstm', 'transformer'):
      _, names = _param_names(name, 'lm', tie_embeddings=tie)
      assert _has(names, 'head/kernel') != tie, (name, tie)


def test_transformer_features_reachable_from_config():
  for pre_ln in (True, False):
    model, names = _param_names('transformer', 'lm', pre_ln=pre_ln)
    assert model.config.pre_ln == pre_ln and _has(names, 'final_norm') == pre_ln
  for pooling in ('mean', 'cls', 'last'):
    model, names = _param_names('transformer', 'classification', pooling=pooling)
    assert model.pooling == pooling and _has(names, '/cls') == (pooling == 'cls')
  model, names = _param_names('transformer', 'seq2seq')
  assert isinstance(model, transformer.TransformerEncoderDecoder)
  assert _has(names, 'decoder/block_0/cross_attention/') and not _has(names, 'encoder/block_0/cross')
  model, names = _param_names('vit', 'classification', patch_size=4, pooling='cls')
  assert isinstance(model, transformer.ViTClassifier) and model.pooling == 'cls'
  assert _has(names, 'patch_embed/kernel') and _has(names, '/cls')
  assert registry.model_config_defaults().attention_impl == 'auto'
  for impl in ('explicit', 'fused', 'blocked', 'auto'):
    model, _ = _param_names('transformer', 'lm', attention_impl=impl)
    assert model.config.attention_impl == impl
  # Weight dropout: 'auto' runs 'explicit' while it is active; the others refuse it.
  model, _ = _param_names('transformer', 'lm', attention_dropout_rate=0.1)
  assert model.config.attention_impl == 'auto' and model.config.attention_dropout_rate == 0.1


def test_linear_attention_features_reachable_from_config():
  """The transformer's blocks with linear self-attention: the same parameters, by name and
  shape, as the softmax transformer of the same settings; mean and last pooling."""
  shapes = lambda name, kind, **o: jax.tree.map(jnp.shape, jax.eval_shape(
      registry.build_model(_config(name, **o), _task(name, kind)[0]).init, KEY,
      *_task(name, kind)[1])['params'])
  for kind in ('lm', 'classification'):
    assert shapes('linear_attention', kind) == shapes('transformer', kind)
  model, names = _param_names('linear_attention', 'lm', pre_ln=False, tie_embeddings=False)
  assert isinstance(model, transformer.TransformerLM) and model.config.attention == 'linear'
  assert not model.config.pre_ln and _has(names, 'head/kernel')
  assert _has(names, 'decoder/block_0/self_attention/query/kernel')
  for pooling in ('mean', 'last'):
    model, _ = _param_names('linear_attention', 'classification', pooling=pooling)
    assert isinstance(model, transformer.TransformerClassifier) and model.pooling == pooling
    assert model.config.attention == 'linear'
  model, _ = _param_names('linear_attention', 'regression')
  assert model.config.attention == 'linear' and model.num_classes == 1


def test_pooling_equals_numpy():
  y = np.random.RandomState(0).randn(2, 4, 3)
  valid = np.array([[True, True, False, False], [True, True, True, True]])
  pool = lambda kind: transformer.pool(jnp.asarray(y), jnp.asarray(valid), kind)
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  close(pool('mean'), [y[0, :2].mean(0), y[1].mean(0)])
  close(pool('cls'), y[:, 0])
  close(pool('last'), [y[0, 1], y[1, 3]])


def test_post_ln_normalises_each_block_output_and_pre_ln_does_not():
  """Post-LN ends in LayerNorm: (y - bias) / scale has zero mean and unit variance per position."""
  x = jnp.asarray(np.random.RandomState(1).randn(2, 5, 8) * 3 + 1, jnp.float32)
  for pre_ln in (True, False):
    block = transformer.TransformerBlock(transformer.TransformerConfig(
        hidden_size=8, num_heads=2, mlp_dim=16, pre_ln=pre_ln))
    params = random_params(block, x)
    norm = jax.tree.map(np.asarray, params['feed_forward_norm'])
    y = (np.asarray(block.apply({'params': params}, x)) - norm['bias']) / norm['scale']
    normalised = np.allclose(y.mean(-1), 0, atol=1e-4) and np.allclose(y.std(-1), 1, atol=1e-2)
    assert normalised != pre_ln


def test_explicit_and_fused_attention_agree_and_weights_are_sown():
  """Encoder-decoder (padding, causal and cross masks): the same params give the same logits
  with either attention implementation; only 'explicit' sows its weights."""
  info, inputs, _ = _task('transformer', 'seq2seq')
  models = {impl: registry.build_model(_config('transformer', attention_impl=impl), info)
            for impl in ('explicit', 'fused')}
  params = random_params(models['explicit'], *inputs)
  run = jax.jit(lambda impl, p: models[impl].apply({'params': p}, *inputs,
                                                    mutable=['intermediates']), static_argnums=0)
  (explicit, state), (fused, fused_state) = run('explicit', params), run('fused', params)
  np.testing.assert_allclose(fused, explicit, rtol=1e-4, atol=1e-4)
  assert not fused_state
  sown = jax.tree_util.tree_flatten_with_path(state['intermediates'])[0]
  weights = {'/'.join(k.key for k in path[:-1] if hasattr(k, 'key')): w for path, w in sown}
  source_valid = np.asarray(inputs[0]) != 0
  for path, shape in [('encoder/block_0/self_attention', (BATCH, 2, LEN, LEN)),
                      ('decoder/block_0/self_attention', (BATCH, 2, TARGET_LEN, TARGET_LEN)),
                      ('decoder/block_0/cross_attention', (BATCH, 2, TARGET_LEN, LEN))]:
    w = weights[path + '/attention_weights']
    assert w.shape == shape, path
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-5)
  causal = weights['decoder/block_0/self_attention/attention_weights']
  np.testing.assert_array_equal(np.triu(np.ones((TARGET_LEN, TARGET_LEN)), 1) * np.asarray(causal), 0)
  cross = weights['decoder/block_0/cross_attention/attention_weights']
  np.testing.assert_array_equal(cross * ~source_valid[:, None, None, :], 0)


@pytest.mark.parametrize('name,kind,overrides,setting', [
    ('nope', 'classification', {}, 'model.name'),
    ('logreg', 'lm', {}, 'model.name'),
    ('vit', 'lm', {}, 'model.name'),
    ('transformer', 'lm', {'positional': 'learned', 'max_len': 3}, 'model.max_len'),
    ('transformer', 'lm', {'positional': 'wavelets'}, 'model.positional'),
    ('transformer', 'lm', {'num_heads': 3}, 'model.num_heads'),
    ('gru', 'seq2seq', {'seq2seq_attention': 'dot'}, 'model.seq2seq_attention'),
    ('transformer', 'lm', {'dtype': 'float16'}, 'model.dtype'),
    ('lstm', 'classification', {'pooling': 'last'}, 'model.pooling'),  # reads its final state
    ('gru', 'regression', {'pooling': 'cls'}, 'model.pooling'),
    ('lstm', 'lm', {'bidirectional': True}, 'model.bidirectional'),  # a LM sees the past only
    ('linear_attention', 'seq2seq', {}, 'model.name'),
    ('transformer', 'lm', {'attention_impl': 'flash'}, 'model.attention_impl'),
    ('transformer', 'lm', {'attention_impl': 'fused', 'attention_dropout_rate': 0.1},
     'model.attention_dropout_rate'),
    ('linear_attention', 'lm', {'attention_impl': 'fused'}, 'model.attention_impl'),
    ('linear_attention', 'lm', {'attention_dropout_rate': 0.1}, 'model.attention_dropout_rate'),
    ('linear_attention', 'lm', {'positional': 'rotary'}, 'model.positional'),
    ('linear_attention', 'classification', {'pooling': 'cls'}, 'model.pooling'),  # causal
])
def test_config_errors(name, kind, overrides, setting):
  info, _, _ = _task('transformer', kind)
  with pytest.raises(ConfigError) as error:
    registry.build_model(_config(name, **overrides), info)
  assert error.value.setting == setting
  assert 'accepted' in error.value.message
  if overrides.get('attention_impl') == 'flash':
    assert error.value.message.endswith('accepted: auto, explicit, fused, blocked')


def test_check_input_length_refuses_only_a_too_short_learned_table():
  info = TaskInfo('lm', 16, 11, target_vocab_size=11, input_shape=(16,))
  learned = registry.build_model(_config('transformer', positional='learned'), info)
  registry.check_input_length(learned, 16)
  with pytest.raises(ConfigError) as error:
    registry.check_input_length(learned, 32)
  assert error.value.setting == 'model.max_len' and 'accepted' in error.value.message
  registry.check_input_length(
      registry.build_model(_config('transformer', positional='learned', max_len=64), info), 64)
  for name, positional in (('transformer', 'sinusoidal'), ('transformer', 'rotary'),
                           ('gru', 'learned'), ('mingru', 'learned')):
    model = registry.build_model(_config(name, positional=positional), info)
    registry.check_input_length(model, 1024)
