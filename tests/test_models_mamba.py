"""Mamba (selective SSM): both forms of the scan (parallel and sequential) and their gradients
against float64 loops of the recurrence and each other, the convolution and the whole mixer
against NumPy, the whole model with either form and the platform's choice, causality, padding,
generation one token at a time, forgetting without B or C, initialisation and the registry. The classifiers'
padding and the language models' causality by changed tokens: tests/test_models_properties.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax import decoding
from attn_jax.errors import ConfigError
from attn_jax.models import mamba, registry
from attn_jax.task import PAD_ID, TaskInfo
from test_models_registry import random_params

BATCH, LEN, VOCAB, WIDTH = 3, 9, 11, 8
EIGENVALUES = mamba.EIGENVALUE_RANGES
FORMS = tuple(mamba.SCAN_FORMS)  # parallel, sequential


def _softplus(x):
  return np.logaddexp(0, x)


def _silu(x):
  return x / (1 + np.exp(-x))


def _np_recurrence(x, delta, a, b, c, d, h0, eigenvalues):
  """The paper's recurrence by a Python loop: h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t
  (exp(.) -> 2 exp(.) - 1 when signed), y_t = C_t h_t + D x_t. Shapes as `mamba.selective_scan`."""
  h, ys = h0, []
  for t in range(x.shape[1]):
    transition = np.exp(delta[:, t, :, None] * a)
    if eigenvalues == 'signed':
      transition = 2 * transition - 1
    h = transition * h + delta[:, t, :, None] * b[:, t, None, :] * x[:, t, :, None]
    ys.append((h * c[:, t, None, :]).sum(-1) + d * x[:, t])
  return np.stack(ys, axis=1), h


def _scan_inputs(rng, length, inner=5, n=4):
  """Random (x, delta, a, b, c, d, h0): delta > 0 (some large, some tiny), a < 0."""
  return (rng.randn(BATCH, length, inner), np.exp(rng.uniform(-7, 1.5, (BATCH, length, inner))),
          -np.exp(rng.randn(inner, n)), rng.randn(BATCH, length, n), rng.randn(BATCH, length, n),
          rng.randn(inner), rng.randn(BATCH, inner, n))


@pytest.mark.parametrize('eigenvalues', EIGENVALUES)
@pytest.mark.parametrize('form', FORMS)
def test_scan_equals_loop_in_float64(form, eigenvalues):
  args = _scan_inputs(np.random.RandomState(0), 200)
  with jax.enable_x64(True):
    y, h = jax.jit(mamba.SCAN_FORMS[form], static_argnums=7)(
        *map(jnp.asarray, args), eigenvalues)
    assert y.dtype == jnp.float64
  expected_y, expected_h = _np_recurrence(*args, eigenvalues)
  np.testing.assert_allclose(y, expected_y, rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(h, expected_h, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('eigenvalues', EIGENVALUES)
def test_gradients_of_both_forms_equal_the_loops_and_each_other(eigenvalues):
  """d loss / d (x, delta, a, b, c, d, h0) of the parallel form, the sequential form (whose step
  is checkpointed) and a plain loop."""
  rng = np.random.RandomState(1)
  args = _scan_inputs(rng, 40)
  weights = rng.randn(BATCH, 40, 5)

  def loop(x, delta, a, b, c, d, h0):  # the recurrence written out, differentiated by autodiff
    h, ys = h0, []
    for t in range(x.shape[1]):
      transition = jnp.exp(delta[:, t, :, None] * a[None])
      if eigenvalues == 'signed':
        transition = 2 * transition - 1
      h = transition * h + (delta[:, t] * x[:, t])[:, :, None] * b[:, t, None, :]
      ys.append(jnp.einsum('bdn,bn->bd', h, c[:, t]) + d[None] * x[:, t])
    return jnp.stack(ys, axis=1), h

  def loss(fn, *args):
    y, h = fn(*args)
    return (y * weights).sum() + h.sum()

  def grads(fn):
    return jax.jit(jax.grad(lambda *a: loss(fn, *a), argnums=tuple(range(7))))(*args)

  with jax.enable_x64(True):
    args = tuple(map(jnp.asarray, args))
    forms = {form: grads(lambda *a, scan=scan: scan(*a, eigenvalues))
             for form, scan in mamba.SCAN_FORMS.items()}
    expected = grads(loop)
  names = ('x', 'delta', 'a', 'b', 'c', 'd', 'h0')
  for form, form_grads in forms.items():
    for name, g, e in zip(names, form_grads, expected):
      np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9, err_msg=f'{form} {name}')
  for name, g, e in zip(names, forms['sequential'], forms['parallel']):
    np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9, err_msg=f'sequential vs parallel {name}')


def test_causal_conv_equals_numpy_and_continues_from_its_window():
  rng = np.random.RandomState(2)
  x, kernel, bias = (rng.randn(*shape).astype(np.float32)
                     for shape in ((BATCH, LEN, 5), (4, 5), (5,)))
  padded = np.concatenate([np.zeros((BATCH, 3, 5)), x], axis=1)
  expected = sum(kernel[k] * padded[:, k:k + LEN] for k in range(4)) + bias
  zeros = jnp.zeros((BATCH, 3, 5))
  y, window = mamba.causal_conv(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias), zeros)
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(window, x[:, -3:])
  first, window = mamba.causal_conv(jnp.asarray(x[:, :2]), kernel, bias, zeros)
  rest, _ = mamba.causal_conv(jnp.asarray(x[:, 2:]), kernel, bias, window)
  np.testing.assert_allclose(np.concatenate([first, rest], axis=1), y, rtol=1e-6, atol=1e-6)


def _np_mixer(p, u, cfg):
  """The Mamba block's mixer (Gu & Dao 2023, fig. 3 / the reference's `Mamba.forward`) in NumPy."""
  inner, n, rank = cfg.inner_size, cfg.state_size, cfg.dt_rank
  xz = u @ p['in_proj']['kernel']
  x, z = xz[..., :inner], xz[..., inner:]
  padded = np.concatenate([np.zeros((u.shape[0], cfg.conv_width - 1, inner)), x], axis=1)
  kernel = p['conv_kernel']
  x = _silu(sum(kernel[k] * padded[:, k:k + u.shape[1]] for k in range(cfg.conv_width))
            + p['conv_bias'])
  proj = x @ p['x_proj']['kernel']
  dt, b, c = proj[..., :rank], proj[..., rank:rank + n], proj[..., rank + n:]
  delta = _softplus(dt @ p['dt_proj']['kernel'] + p['dt_proj']['bias'])
  y, _ = _np_recurrence(x, delta, -np.exp(p['log_a']), b, c, p['d'],
                        np.zeros((u.shape[0], inner, n)), cfg.eigenvalues)
  return (y * _silu(z)) @ p['out_proj']['kernel']


@pytest.mark.parametrize('eigenvalues', EIGENVALUES)
def test_mixer_equals_numpy(eigenvalues):
  cfg = mamba.MambaConfig(hidden_size=WIDTH, num_layers=1, state_size=4, conv_width=3,
                          eigenvalues=eigenvalues)
  u = np.random.RandomState(3).randn(BATCH, LEN, WIDTH)
  mixer = mamba.MambaMixer(cfg)
  params = mixer.init(jax.random.key(0), jnp.asarray(u, jnp.float32))['params']
  y, _ = jax.jit(mixer.apply)({'params': params}, jnp.asarray(u, jnp.float32))
  expected = _np_mixer(jax.tree.map(lambda v: np.asarray(v, np.float64), params), u, cfg)
  np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def _jacobian_norms(stack, params, x):
  """|d y_t / d x_s| summed over features: `[t, s]` for the first example."""
  jacobian = jax.jit(jax.jacobian(lambda x: stack.apply({'params': params}, x)[0]))(x)
  return np.abs(np.asarray(jacobian)[0, :, :, 0]).sum(axis=(1, 3))


def test_outputs_do_not_depend_on_later_inputs():
  """d y_t / d x_s is zero for every s > t and nonzero for s <= t (two layers)."""
  x = jnp.asarray(np.random.RandomState(4).randn(1, LEN, WIDTH), jnp.float32)
  stack = mamba.MambaStack(mamba.MambaConfig(WIDTH, num_layers=2))
  norms = _jacobian_norms(stack, random_params(stack, x), x)
  future = np.arange(LEN)[None, :] > np.arange(LEN)[:, None]
  assert (norms[future] == 0).all()
  assert (norms[~future] > 0).all()


@pytest.mark.parametrize('zeroed', ['b', 'c'])
def test_without_b_or_c_it_forgets(zeroed):
  """With B = 0 nothing enters the state, with C = 0 nothing is read from it: y_t = D x_t of the
  convolution's window, so one layer's output depends on the last `conv_width` inputs only."""
  cfg = mamba.MambaConfig(WIDTH, num_layers=1, state_size=4, conv_width=3)
  x = jnp.asarray(np.random.RandomState(5).randn(1, LEN, WIDTH), jnp.float32)
  stack = mamba.MambaStack(cfg)
  params = stack.init(jax.random.key(0), x)['params']
  far = np.arange(LEN)[None, :] <= np.arange(LEN)[:, None] - cfg.conv_width  # s <= t - width
  assert (_jacobian_norms(stack, params, x)[far] > 0).all()  # the state carries the past
  columns = {'b': slice(cfg.dt_rank, cfg.dt_rank + 4), 'c': slice(cfg.dt_rank + 4, None)}[zeroed]
  kernel = params['block_0']['mixer']['x_proj']['kernel']
  params['block_0']['mixer']['x_proj']['kernel'] = kernel.at[:, columns].set(0)
  norms = _jacobian_norms(stack, params, x)
  assert (norms[far] == 0).all()
  assert (norms[~far & (np.arange(LEN)[None, :] <= np.arange(LEN)[:, None])] > 0).all()


def _build(kind, **overrides):
  config = registry.model_config_defaults()
  config.update(dict(dict(name='mamba', num_layers=2, hidden_size=WIDTH, ssm_state_size=4),
                     **overrides))
  if kind == 'lm':
    info = TaskInfo('lm', LEN, VOCAB, target_vocab_size=VOCAB, input_shape=(LEN,))
  else:
    info = TaskInfo('classification', LEN, VOCAB, num_classes=3, input_shape=(LEN,))
  return registry.build_model(config, info)


@pytest.mark.parametrize('eigenvalues,form', [('positive', 'auto'), ('signed', 'auto'),
                                              ('positive', 'parallel')])
def test_generation_one_token_at_a_time_equals_the_full_pass(eigenvalues, form):
  model = _build('lm', ssm_eigenvalues=eigenvalues, ssm_scan=form)
  tokens = jnp.asarray(np.random.RandomState(6).randint(1, VOCAB, (BATCH, LEN)), jnp.int32)
  params = random_params(model, tokens)
  full = jax.jit(model.apply)({'params': params}, tokens)
  stepper = decoding.lm_stepper(model)  # what sampling (`mode=sample`) runs
  state = stepper.init(params, BATCH, LEN)
  step = jax.jit(stepper.step)
  for t in range(LEN):
    state, logits = step(params, state, tokens[:, t])
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5, err_msg=f't={t}')
  inner = 2 * WIDTH
  assert [(s.conv.shape, s.ssm.shape) for s in state] == [((BATCH, 3, inner), (BATCH, inner, 4))] * 2
  values = sum(x.size for x in jax.tree.leaves(state)) // BATCH
  assert values == mamba.carried_values(model.config) == 2 * inner * (4 + 3)


@pytest.mark.parametrize('kind,eigenvalues', [('lm', 'positive'), ('lm', 'signed'),
                                              ('classification', 'positive')])
def test_the_model_gives_the_same_outputs_with_either_form(kind, eigenvalues):
  tokens = jnp.asarray(np.random.RandomState(8).randint(1, VOCAB, (BATCH, LEN)), jnp.int32)
  models = {form: _build(kind, ssm_scan=form, ssm_eigenvalues=eigenvalues) for form in FORMS}
  params = random_params(models['parallel'], tokens)
  outputs = {form: jax.jit(model.apply)({'params': params}, tokens)
             for form, model in models.items()}
  np.testing.assert_allclose(outputs['sequential'], outputs['parallel'], rtol=1e-5, atol=1e-5)


def _runs_a_loop_over_time(model, tokens) -> bool:
  """Whether the model's program holds a `lax.scan` (the sequential form; the parallel form's
  associative scan is slices and concatenations, no loop)."""
  return 'scan[' in str(jax.make_jaxpr(model.init)(jax.random.key(0), tokens))


def test_auto_runs_the_sequential_form_on_the_cpu_and_the_parallel_one_elsewhere(monkeypatch):
  tokens = jnp.ones((1, LEN), jnp.int32)
  loops = lambda **overrides: _runs_a_loop_over_time(_build('lm', **overrides), tokens)
  assert loops(ssm_scan='sequential') and not loops(ssm_scan='parallel')
  monkeypatch.setattr(jax, 'default_backend', lambda: 'cpu')
  assert loops()
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert not loops()


def test_language_model_ignores_right_padding():
  model = _build('lm')
  tokens = np.random.RandomState(7).randint(1, VOCAB, (BATCH, LEN))
  padded = tokens.copy()
  padded[:, 5:] = PAD_ID
  params = random_params(model, tokens)
  logits = jax.jit(model.apply)({'params': params}, jnp.asarray(np.concatenate([tokens, padded])))
  np.testing.assert_allclose(logits[BATCH:, :5], logits[:BATCH, :5], rtol=1e-5, atol=1e-5)


def test_initialisation_follows_the_reference():
  """A_n = -(n + 1) (S4D-real); softplus(dt bias) log-uniform on [1e-3, 1e-1]; D = 1; the output
  projection U(+-1 / sqrt(fan_in)) / sqrt(num_layers); token embeddings N(0, 0.02)."""
  cfg = mamba.MambaConfig(hidden_size=256, num_layers=4, state_size=16)
  tokens = jnp.ones((1, 2), jnp.int32)
  params = mamba.MambaLM(cfg, 1000).init(jax.random.key(0), tokens)['params']
  mixer = params['stack']['block_0']['mixer']
  np.testing.assert_allclose(-np.exp(mixer['log_a']),
                             -np.broadcast_to(np.arange(1, 17), (512, 16)), rtol=1e-6)
  dt = _softplus(np.asarray(mixer['dt_proj']['bias'], np.float64))
  assert 1e-3 * (1 - 1e-5) <= dt.min() and dt.max() <= 1e-1 * (1 + 1e-5)
  log_dt = np.log(dt)  # uniform on [log 1e-3, log 1e-1]: quartiles near 1/4, 1/2, 3/4 of it
  np.testing.assert_allclose(np.quantile(log_dt, [0.25, 0.5, 0.75]),
                             np.log(1e-3) + np.log(100) * np.array([0.25, 0.5, 0.75]), atol=0.25)
  np.testing.assert_array_equal(mixer['d'], np.ones(512))
  assert 'bias' not in mixer['in_proj'] and 'bias' not in mixer['out_proj']
  out = np.asarray(mixer['out_proj']['kernel'])
  assert np.abs(out).max() <= 1 / np.sqrt(512) / 2 and out.std() > 0.9 / np.sqrt(3 * 512 * 4)
  assert abs(np.asarray(params['embed']['embedding']).std() - 0.02) < 1e-3


def test_signed_eigenvalues_reach_below_zero():
  """'positive' transitions lie in (0, 1]; 'signed' ones (2a - 1) in [-1, 1] (-1 once exp(Delta
  A) rounds to 0), negative for a step Delta large enough."""
  delta = jnp.asarray(np.exp(np.linspace(-7, 3, 50)))[None]
  a = -jnp.arange(1.0, 5.0)[None].repeat(50, 0)
  args = (delta, a, jnp.ones((1, 4)), jnp.ones((1, 50)))
  positive, _ = mamba.discretise(*args, 'positive')
  signed, _ = mamba.discretise(*args, 'signed')
  assert (positive > 0).all() and (positive <= 1).all()
  np.testing.assert_allclose(signed, 2 * positive - 1, rtol=1e-6)
  assert (signed >= -1).all() and (signed < 0).any()


@pytest.mark.parametrize('kind,overrides,setting', [
    ('lm', {'ssm_eigenvalues': 'complex'}, 'model.ssm_eigenvalues'),
    ('lm', {'ssm_scan': 'chunked'}, 'model.ssm_scan'),
    ('lm', {'ssm_state_size': 0}, 'model.ssm_state_size'),
    ('lm', {'ssm_conv_width': -1}, 'model.ssm_conv_width'),
    ('lm', {'ssm_expand': 2**30}, 'model.ssm_expand'),  # 2**30 x 8 channels
    ('classification', {'pooling': 'cls'}, 'model.pooling'),  # causal: a class token sees itself
])
def test_config_errors(kind, overrides, setting):
  with pytest.raises(ConfigError) as error:
    _build(kind, **overrides)
  assert error.value.setting == setting and 'accepted' in error.value.message
