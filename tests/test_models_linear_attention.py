"""Linear attention (Katharopoulos et al. 2020): the chunked parallel form and the recurrent form
against a float64 Python loop of the formula, no future leakage, padding, generation one token at
a time against the full pass, and a decode state that does not grow with the length."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import linear_attention, registry, transformer
from attn_jax.task import PAD_ID, TaskInfo
from test_models_registry import random_params

BATCH, LEN, HEADS, D_K, D_V, VOCAB = 2, 23, 3, 4, 5, 11


def _np_loop(q, k, v, eps=linear_attention.EPS):
  """The paper's recurrence in float64 NumPy, one position at a time: phi(x) = elu(x) + 1,
  S += phi(k_t) v_t^T, z += phi(k_t), y_t = phi(q_t)^T S / (phi(q_t)^T z + eps).
  Returns (y `[batch, length, heads, d_v]`, S, z)."""
  phi = lambda x: np.where(x > 0, x + 1, np.exp(x))  # elu(x) + 1
  batch, length, heads, d_k = q.shape
  s, z = np.zeros((batch, heads, d_k, v.shape[-1])), np.zeros((batch, heads, d_k))
  ys = np.zeros((batch, length, heads, v.shape[-1]))
  for t in range(length):
    for b in range(batch):
      for h in range(heads):
        fq, fk = phi(q[b, t, h]), phi(k[b, t, h])
        s[b, h] += np.outer(fk, v[b, t, h])
        z[b, h] += fk
        ys[b, t, h] = fq @ s[b, h] / (fq @ z[b, h] + eps)
  return ys, s, z


def _qkv(seed, length=LEN, scale=2.0):
  rng = np.random.RandomState(seed)
  return (scale * rng.randn(BATCH, length, HEADS, D_K), scale * rng.randn(BATCH, length, HEADS, D_K),
          rng.randn(BATCH, length, HEADS, D_V))


@pytest.mark.parametrize('chunk_size', [1, 4, 64])  # many chunks (23 = 5 x 4 + 3), one chunk
def test_parallel_and_recurrent_forms_equal_a_float64_loop(chunk_size):
  q, k, v = _qkv(0)
  expected, s, z = _np_loop(q, k, v)
  with jax.enable_x64(True):
    q, k, v = map(jnp.asarray, (q, k, v))
    parallel = jax.jit(lambda q, k, v: linear_attention.causal_linear_attention(
        q, k, v, chunk_size=chunk_size))(q, k, v)
    state, recurrent = jax.jit(linear_attention.recurrent_scan)(q, k, v)
    assert parallel.dtype == recurrent.dtype == state.kv.dtype == jnp.float64
    parallel, recurrent, state = jax.tree.map(np.asarray, (parallel, recurrent, state))
  np.testing.assert_allclose(parallel, expected, rtol=1e-10, atol=1e-12)
  np.testing.assert_allclose(recurrent, expected, rtol=1e-10, atol=1e-12)
  np.testing.assert_allclose(state.kv, s, rtol=1e-12)
  np.testing.assert_allclose(state.normaliser, z, rtol=1e-12)


def test_recurrent_scan_continues_from_a_state():
  """Two scans, the second from the first's final state, equal one scan over the whole."""
  q, k, v = map(jnp.asarray, _qkv(1))

  @jax.jit
  def scans(q, k, v):
    whole_state, whole = linear_attention.recurrent_scan(q, k, v)
    state, first = linear_attention.recurrent_scan(q[:, :9], k[:, :9], v[:, :9])
    state, second = linear_attention.recurrent_scan(q[:, 9:], k[:, 9:], v[:, 9:], state)
    return whole_state, whole, state, first, second

  whole_state, whole, state, first, second = scans(q, k, v)
  np.testing.assert_allclose(jnp.concatenate([first, second], axis=1), whole, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), state, whole_state)


def _layer(chunk_size=4, dtype=jnp.float32):
  return linear_attention.LinearAttention(HEADS, HEADS * D_K, chunk_size=chunk_size, dtype=dtype)


def test_outputs_do_not_depend_on_later_inputs():
  """d output_t / d input_s of the module (projections included, chunks of 4 over 10 positions)
  is exactly zero for s > t and nonzero for s <= t."""
  length = 10
  x = jnp.asarray(np.random.RandomState(2).randn(1, length, HEADS * D_K), jnp.float32)
  layer = _layer()
  params = random_params(layer, x)
  jacobian = jax.jit(jax.jacobian(lambda x: layer.apply({'params': params}, x)))(x)
  norms = np.abs(np.asarray(jacobian)[0, :, :, 0]).sum(axis=(1, 3))  # [t, s]
  future = np.arange(length)[None, :] > np.arange(length)[:, None]
  assert (norms[future] == 0).all()
  assert (norms[~future] > 0).all()


def test_the_parallel_form_holds_no_length_squared_array():
  """Chunking: at L = 1024 (chunks of 64) no intermediate of the forward and backward pass has
  as many elements as one head's L x L score matrix."""
  length = 1024
  q = jnp.zeros((1, length, 1, 8))
  loss = lambda q, k, v: linear_attention.causal_linear_attention(q, k, v).sum()
  jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1, 2)))(q, q, q)
  sizes = [int(np.prod(var.aval.shape)) for eqn in jaxpr.eqns for var in eqn.outvars]
  assert 0 < max(sizes) < length * length // 4


def _lm(**overrides):
  config = registry.model_config_defaults()
  config.update(dict(dict(name='linear_attention', num_layers=2, hidden_size=HEADS * D_K,
                          num_heads=HEADS, mlp_dim=16), **overrides))
  info = TaskInfo('lm', LEN, VOCAB, target_vocab_size=VOCAB, input_shape=(LEN,))
  return registry.build_model(config, info)


@pytest.mark.parametrize('positional', ['sinusoidal', 'learned'])
def test_generation_one_token_at_a_time_equals_the_full_pass(positional):
  model = _lm(positional=positional)
  assert model.config.attention == 'linear'
  tokens = jnp.asarray(np.random.RandomState(3).randint(1, VOCAB, (BATCH, LEN)), jnp.int32)
  params = random_params(model, tokens)
  full = jax.jit(model.apply)({'params': params}, tokens)
  cache = transformer.init_cache(model, tokens)

  @jax.jit
  def step(cache, token):
    logits, updates = model.apply({'params': params, 'cache': cache}, token[:, None],
                                  decode=True, mutable=['cache'])
    return updates['cache'], logits[:, 0]

  for t in range(LEN):
    cache, logits = step(cache, tokens[:, t])
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5, err_msg=f't={t}')


def test_decode_state_is_heads_by_dk_by_dv_and_does_not_grow_with_the_length():
  model = _lm()
  shapes = {n: jax.tree.map(jnp.shape, transformer.init_cache(model, jnp.zeros((BATCH, n))))
            for n in (4, LEN, 1000)}
  assert shapes[4] == shapes[LEN] == shapes[1000]
  for layer in range(2):
    cache = shapes[4]['decoder'][f'block_{layer}']['self_attention']
    assert cache == {'kv': (BATCH, HEADS, D_K, D_K), 'normaliser': (BATCH, HEADS, D_K)}


def test_decode_takes_several_tokens_per_call():
  """The module's recurrent form from its cache: a 7-token call (a prompt), then one token per
  call, equals the parallel form over the whole sequence."""
  layer = _layer()
  x = jnp.asarray(np.random.RandomState(4).randn(BATCH, 10, HEADS * D_K), jnp.float32)
  params = random_params(layer, x)
  full = layer.apply({'params': params}, x)
  cache = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(
      lambda: layer.init(jax.random.key(0), x, decode=True))['cache'])
  step = jax.jit(lambda cache, x: layer.apply({'params': params, 'cache': cache}, x, decode=True,
                                              mutable=['cache']))
  outputs = []
  for start, end in [(0, 7), (7, 8), (8, 9), (9, 10)]:
    y, updates = step(cache, x[:, start:end])
    cache = updates['cache']
    outputs.append(y)
  np.testing.assert_allclose(jnp.concatenate(outputs, axis=1), full, rtol=1e-5, atol=1e-5)


def test_right_padding_changes_nothing_at_valid_positions():
  """The LM's logits of a right-padded batch equal, at every real token, those of each example
  alone; a real token in place of the padding changes only the positions from it on."""
  model = _lm()
  rng = np.random.RandomState(5)
  lengths = (LEN, 9)
  examples = [jnp.asarray(rng.randint(1, VOCAB, (1, n)), jnp.int32) for n in lengths]
  padded = jnp.concatenate([jnp.pad(x, ((0, 0), (0, LEN - x.shape[1])), constant_values=PAD_ID)
                            for x in examples])
  filled = padded.at[1, 9].set(1)

  @jax.jit
  def logits(params):  # one program: the padded and filled batches, then each example alone
    return [model.apply({'params': params}, x) for x in (padded, filled, *examples)]

  batch_logits, filled_logits, *alone = logits(random_params(model, padded))
  for b, example_logits in enumerate(alone):
    np.testing.assert_allclose(batch_logits[b, :lengths[b]], example_logits[0], rtol=1e-5,
                               atol=1e-5, err_msg=f'example {b}')
  np.testing.assert_allclose(filled_logits[1, :9], batch_logits[1, :9], rtol=1e-5, atol=1e-5)
  assert not np.allclose(filled_logits[1, 9:], batch_logits[1, 9:], atol=1e-5)


def test_bfloat16_projections_keep_a_float32_state():
  layer = _layer(dtype=jnp.bfloat16)
  x = jnp.asarray(np.random.RandomState(6).randn(BATCH, 6, HEADS * D_K), jnp.float32)
  variables = jax.eval_shape(lambda: layer.init(jax.random.key(0), x, decode=True))
  assert {a.dtype for a in jax.tree.leaves(variables['cache'])} == {jnp.dtype(jnp.float32)}
  assert {a.dtype for a in jax.tree.leaves(variables['params'])} == {jnp.dtype(jnp.float32)}
  y = jax.jit(layer.apply)({'params': random_params(layer, x)}, x)
  assert y.dtype == jnp.bfloat16 and np.isfinite(np.asarray(y, np.float32)).all()
