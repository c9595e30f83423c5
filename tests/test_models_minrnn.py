"""minGRU / minLSTM: both forms of the scan (log-space parallel, sequential) against Python loops
of the recurrence (float64) and each other (values and gradients), causality, generation one token
at a time, padding, initialisation and the registry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.errors import ConfigError
from attn_jax.models import minrnn, recurrent, registry, scan_form
from attn_jax.studies.seq_len_scaling import param_match
from attn_jax.task import PAD_ID, TaskInfo
from test_models_registry import random_params

BATCH, LEN, HIDDEN, VOCAB = 3, 9, 4, 11
LENGTHS = np.array([9, 5, 0])
CELLS = tuple(minrnn.MIN_CELLS)
FORMS = tuple(minrnn.SCAN_FORMS)  # parallel, sequential


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _g(x):
  return np.where(x >= 0, x + 0.5, _sigmoid(x))


def _np_step(cell, h, k):
  """One step of the paper's recurrence in plain NumPy (k: the gate pre-activations)."""
  if cell == 'mingru':
    k_z, k_h = np.split(k, 2, axis=-1)
    z = _sigmoid(k_z)
    return (1 - z) * h + z * _g(k_h)
  k_f, k_i, k_h = np.split(k, 3, axis=-1)
  f, i = _sigmoid(k_f), _sigmoid(k_i)
  return f / (f + i) * h + i / (f + i) * _g(k_h)


def _np_loop(cell, k, h0, valid):
  """k `[batch, length, gates * hidden]` -> states `[batch, length, hidden]` by a Python loop;
  where `valid` is False the state is kept."""
  h, hs = h0, []
  for t in range(k.shape[1]):
    h = np.where(valid[:, t, None], _np_step(cell, h, k[:, t]), h)
    hs.append(h)
  return np.stack(hs, axis=1)


@pytest.mark.parametrize('form', FORMS)
@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('padded', [False, True])
def test_scan_equals_loop_in_float64(form, cell, padded):
  rng = np.random.RandomState(0)
  length = 200  # long enough for products of a_t to underflow a naive cumulative product
  gates = minrnn.MIN_CELLS[cell].num_gates
  k = 3 * rng.randn(BATCH, length, gates * HIDDEN)  # saturated gates included
  h0 = rng.randn(BATCH, HIDDEN)  # any sign
  lengths = np.array([length, 37, 0]) if padded else np.full(BATCH, length)
  valid = np.arange(length)[None, :] < lengths[:, None]
  with jax.enable_x64(True):
    scan = jax.jit(lambda k, h0, valid: minrnn.SCAN_FORMS[form](
        *minrnn.MIN_CELLS[cell].coefficients(k), h0, valid))
    hs = scan(jnp.asarray(k), jnp.asarray(h0), jnp.asarray(valid) if padded else None)
    assert hs.dtype == jnp.float64
    hs = np.asarray(hs)
  expected = _np_loop(cell, k, h0, valid)
  np.testing.assert_allclose(hs, expected, rtol=1e-6, atol=1e-6)
  if padded:  # past the end the state is the one at the true last token (h0 if there is none)
    np.testing.assert_allclose(hs[1, 37:], np.broadcast_to(hs[1, 36], (length - 37, HIDDEN)),
                               rtol=1e-12)
    np.testing.assert_allclose(hs[2], np.broadcast_to(h0[2], (length, HIDDEN)), rtol=1e-12)


@pytest.mark.parametrize('form', FORMS)
@pytest.mark.parametrize('cell', CELLS)
def test_layer_equals_loop_with_lengths(form, cell):
  """The linen layer: its own projection, then the recurrence; padded rows keep their state."""
  x = jnp.asarray(np.random.RandomState(1).randn(BATCH, LEN, 5), jnp.float32)
  layer = minrnn.MinRNNLayer(cell, HIDDEN, scan=form)
  params = random_params(layer, x)
  valid = np.arange(LEN)[None, :] < LENGTHS[:, None]
  final, hs = layer.apply({'params': params}, x, valid=jnp.asarray(valid))
  k = np.asarray(x) @ np.asarray(params['input']['kernel']) + np.asarray(params['input']['bias'])
  expected = _np_loop(cell, k, np.zeros((BATCH, HIDDEN)), valid)
  np.testing.assert_allclose(hs, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(final, hs[:, -1])


@pytest.mark.parametrize('cell', CELLS)
def test_both_forms_give_the_same_gradient(cell):
  """d loss / d (log a, log b, h0) of the sequential scan equals the parallel one's (float64,
  padded rows included)."""
  rng = np.random.RandomState(5)
  k = 2 * rng.randn(BATCH, 40, minrnn.MIN_CELLS[cell].num_gates * HIDDEN)
  h0 = rng.randn(BATCH, HIDDEN)
  valid = jnp.asarray(np.arange(40)[None, :] < np.array([40, 13, 0])[:, None])
  weights = rng.randn(BATCH, 40, HIDDEN)
  with jax.enable_x64(True):
    def gradient(form):
      loss = lambda k, h0: jnp.sum(jnp.asarray(weights) * minrnn.SCAN_FORMS[form](
          *minrnn.MIN_CELLS[cell].coefficients(k), h0, valid))
      return [np.asarray(g) for g in jax.jit(jax.grad(loss, argnums=(0, 1)))(
          jnp.asarray(k), jnp.asarray(h0))]
    for parallel, sequential in zip(gradient('parallel'), gradient('sequential')):
      assert np.abs(parallel).max() > 0
      np.testing.assert_allclose(sequential, parallel, rtol=1e-9, atol=1e-12)


def _runs_a_loop_over_time(model, tokens) -> bool:
  """Whether the model's program holds a `lax.scan` (the sequential form; the parallel form's
  associative scan is slices and concatenations, no loop)."""
  return 'scan[' in str(jax.make_jaxpr(model.init)(jax.random.key(0), tokens))


def test_auto_runs_the_sequential_form_on_the_cpu_and_the_parallel_one_elsewhere(monkeypatch):
  assert [scan_form.choose_scan('auto', p) for p in ('cpu', 'gpu', 'tpu')] == [
      'sequential', 'parallel', 'parallel']
  assert all(scan_form.choose_scan(form, p) == form for form in FORMS for p in ('cpu', 'gpu'))
  with pytest.raises(ValueError, match='accepted: auto, parallel, sequential'):
    scan_form.choose_scan('fast', 'cpu')
  tokens = jnp.ones((1, LEN), jnp.int32)
  loops = lambda **overrides: _runs_a_loop_over_time(_lm('mingru', **overrides), tokens)
  assert loops(minrnn_scan='sequential') and not loops(minrnn_scan='parallel')
  monkeypatch.setattr(jax, 'default_backend', lambda: 'cpu')
  assert loops()
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert not loops()
  with pytest.raises(ConfigError, match='model.minrnn_scan'):
    _lm('minlstm', minrnn_scan='fast')


@pytest.mark.parametrize('cell', CELLS)
def test_stack_outputs_do_not_depend_on_later_inputs(cell):
  """d output_t / d x_s is zero for every s > t and nonzero for s <= t (two stacked layers)."""
  x = jnp.asarray(np.random.RandomState(2).randn(1, LEN, 5), jnp.float32)
  stack = recurrent.RecurrentStack(recurrent.RecurrentConfig(cell, HIDDEN, num_layers=2))
  params = random_params(stack, x)
  jacobian = jax.jit(jax.jacobian(lambda x: stack.apply({'params': params}, x)[0]))(x)
  norms = np.abs(np.asarray(jacobian)[0, :, :, 0]).sum(axis=(1, 3))  # [t, s]
  future = np.arange(LEN)[None, :] > np.arange(LEN)[:, None]
  assert (norms[future] == 0).all()
  assert (norms[~future] > 0).all()


def _lm(cell, **overrides):
  config = registry.model_config_defaults()
  config.update(name=cell, num_layers=2, hidden_size=8, **overrides)
  info = TaskInfo('lm', LEN, VOCAB, target_vocab_size=VOCAB, input_shape=(LEN,))
  return registry.build_model(config, info)


@pytest.mark.parametrize('cell', CELLS)
def test_generation_one_token_at_a_time_equals_the_full_pass(cell):
  model = _lm(cell)
  tokens = jnp.asarray(np.random.RandomState(3).randint(1, VOCAB, (BATCH, LEN)), jnp.int32)
  variables = {'params': random_params(model, tokens)}
  full = model.apply(variables, tokens)
  carry = model.apply(variables, BATCH, method='init_carry')
  step = jax.jit(lambda carry, t: model.apply(variables, carry, t, method='step'))
  for t in range(LEN):
    carry, logits = step(carry, tokens[:, t])
    np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-5, err_msg=f't={t}')
  assert [c.shape for c in carry] == [(BATCH, 8)] * 2  # O(1) state: one h per layer


@pytest.mark.parametrize('cell,bidirectional', [('mingru', True), ('minlstm', False)])
def test_classifier_ignores_padding(cell, bidirectional):
  config = registry.model_config_defaults()
  config.update(name=cell, num_layers=1, hidden_size=8, bidirectional=bidirectional)
  info = TaskInfo('classification', LEN, VOCAB, num_classes=3, input_shape=(LEN,))
  model = registry.build_model(config, info)
  rng = np.random.RandomState(4)
  examples = [jnp.asarray(rng.randint(1, VOCAB, (1, n))) for n in (LEN, 4, 1)]
  padded = jnp.asarray(np.concatenate(
      [np.pad(x, ((0, 0), (0, LEN - x.shape[1])), constant_values=PAD_ID) for x in examples]))
  filled = padded.at[1, 4].set(1)  # a real token in place of padding does change the output

  @jax.jit
  def logits(params):  # one program: the padded and filled batches, then each example alone
    return [model.apply({'params': params}, x) for x in (padded, filled, *examples)]

  batch_logits, filled_logits, *alone = logits(random_params(model, padded))
  for b, example_logits in enumerate(alone):
    np.testing.assert_allclose(batch_logits[b], example_logits[0], rtol=1e-5, atol=1e-5,
                               err_msg=f'example {b}')
  assert not np.allclose(filled_logits[1], batch_logits[1], atol=1e-5)


@pytest.mark.parametrize('cell', CELLS)
def test_chrono_initialisation_keeps_the_state(cell):
  """At init the kept fraction of the old state is sigmoid(b), e^b in [1, T_max - 1]: time scales
  1 / (1 - kept) spread over [2, T_max]; the candidate's bias is 0."""
  hidden = 256
  layer = minrnn.MinRNNLayer(cell, hidden)
  bias = np.asarray(layer.init(jax.random.key(0), jnp.zeros((1, 1, 3)))['params']['input']['bias'])
  blocks = np.split(bias, minrnn.MIN_CELLS[cell].num_gates)
  if cell == 'mingru':
    kept = _sigmoid(-blocks[0])  # 1 - z
  else:
    np.testing.assert_array_equal(blocks[1], -blocks[0])  # b_i = -b_f
    f, i = _sigmoid(blocks[0]), _sigmoid(blocks[1])
    kept = f / (f + i)
  timescale = 1 / (1 - kept)
  t_max = minrnn.initializers.CHRONO_MAX_TIMESCALE
  assert timescale.min() >= 2 - 1e-4 and timescale.max() <= t_max + 1e-2
  assert timescale.max() > t_max / 2 and timescale.min() < t_max / 10  # spread, not one value
  np.testing.assert_array_equal(blocks[-1], 0)


def test_registry_and_width_matching():
  info = TaskInfo('classification', 16, VOCAB, num_classes=3, input_shape=(16,))
  gru = registry.model_config_defaults()
  gru.update(name='gru', num_layers=2, hidden_size=64)
  target = param_match.count_params(gru, info)
  for cell in CELLS:
    assert cell in registry.MODEL_NAMES
    config = registry.model_config_defaults()
    config.update(name=cell, num_layers=2)
    width, params = param_match.match_width(config, info, target, mlp_ratio=2, tolerance=0.1)
    assert width > 64 and abs(params - target) <= 0.1 * target  # no W_h: wider at equal budget
  seq2seq = TaskInfo('seq2seq', 8, VOCAB, target_vocab_size=VOCAB, target_max_len=8,
                     input_shape=(8,))
  config.update(seq2seq_attention='bahdanau')
  with pytest.raises(registry.ConfigError, match='seq2seq_attention'):
    registry.build_model(config, seq2seq)
  config.update(seq2seq_attention='luong')
  assert isinstance(registry.build_model(config, seq2seq), recurrent.RecurrentSeq2Seq)
