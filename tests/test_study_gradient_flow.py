"""Gradient flow (attn_jax.studies.seq_len_scaling.gradient_flow): a linear RNN with a known answer,
causality of the language models, the decay fit, and the rows a study writes."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import recurrent, registry
from attn_jax.models.embedding import InputEmbedding
from attn_jax.studies.seq_len_scaling import gradient_flow, plots
from attn_jax.task import TaskInfo
from test_models_registry import random_params

BATCH, LEN, VOCAB, CLASSES, WIDTH = 3, 12, 9, 4, 5

# h' = xw + h W_h: the scanned step with the identity in place of tanh
LINEAR = recurrent.Cell(step=lambda h, xw_t, w_h: xw_t + h @ w_h, num_gates=1, is_lstm=False)


class LinearRNNClassifier(nn.Module):
  """Embedding -> h_t = a h_{t-1} + e_t (the project's scan, W_h = a I) -> Dense on h_L."""
  a: float

  @nn.compact
  def __call__(self, inputs, train=False):
    del train
    e = InputEmbedding(VOCAB, WIDTH)(inputs)
    w_h = self.a * jnp.eye(WIDTH)
    final, _ = recurrent.scan_cell(LINEAR, w_h, e, jnp.zeros((inputs.shape[0], WIDTH)), None)
    return nn.Dense(CLASSES, name='head')(final)


def _batch(rng, kind=None):
  tokens = rng.randint(1, VOCAB, (BATCH, LEN)).astype(np.int32)
  targets = rng.randint(0, CLASSES, (BATCH, LEN) if kind == 'lm' else (BATCH,)).astype(np.int32)
  return {'inputs': tokens, 'targets': targets}


@pytest.mark.parametrize('a', [0.5, 0.9, 1.1])
def test_linear_rnn_gradient_is_a_power_of_a(a):
  """d loss / d e_t = a^(L-1-t) W_head (softmax - onehot): checked against that formula in NumPy,
  and the fitted decay recovers a."""
  model = LinearRNNClassifier(a)
  batch = _batch(np.random.RandomState(0))
  params = random_params(model, batch['inputs'])
  norms = gradient_flow.embedding_grad_norms(model, params, batch, 'classification')

  emb = np.asarray(params['InputEmbedding_0']['embed']['embedding'], np.float64)
  w, b = (np.asarray(params['head'][k], np.float64) for k in ('kernel', 'bias'))
  e = emb[batch['inputs']]  # [batch, length, width]
  powers = a ** (LEN - 1 - np.arange(LEN))
  h = np.einsum('t,btd->bd', powers, e)
  logits = h @ w + b
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  dh = (probs - np.eye(CLASSES)[batch['targets']]) @ w.T  # [batch, width]
  expected = (np.linalg.norm(dh, axis=-1)[:, None] * powers[None, :]).mean(0)
  np.testing.assert_allclose(norms, expected, rtol=1e-5)
  decay = gradient_flow.fit_decay(norms)
  assert abs(decay.factor - a) < 1e-3
  assert (decay.first, decay.last, decay.points) == (1, LEN - 1, LEN - 1)


def _model(name, kind, **overrides):
  config = registry.model_config_defaults()
  config.update(dict(name=name, num_layers=2, hidden_size=8, num_heads=2, mlp_dim=16))
  config.update(overrides)
  info = TaskInfo(kind, LEN, VOCAB, num_classes=CLASSES, target_vocab_size=VOCAB,
                  input_shape=(LEN,))
  return registry.build_model(config, info)


# the parallel-scan family where the registry has it
MIN_RNN = [name for name in ('mingru',) if name in registry.MODEL_NAMES]


@pytest.mark.parametrize('name', ['rnn', 'lstm', 'transformer', *MIN_RNN])
def test_language_model_gradients_stop_at_the_differentiated_position(name):
  """Causality: the loss at position p has exactly zero gradient for inputs after p, and a
  non-zero one at p and before."""
  model = _model(name, 'lm')
  batch = _batch(np.random.RandomState(1), 'lm')
  params = random_params(model, batch['inputs'])
  p = 6
  norms = gradient_flow.embedding_grad_norms(model, params, batch, 'lm', position=p)
  assert norms.shape == (LEN,)
  np.testing.assert_array_equal(norms[p + 1:], 0.0)
  assert (norms[:p + 1] > 0).all()
  decay = gradient_flow.fit_decay(norms, position=p)
  assert decay.last == p and np.isfinite(decay.factor)


@pytest.mark.parametrize('name', ['gru', 'transformer'])
def test_classifiers_reach_every_position(name):
  model = _model(name, 'classification')
  batch = _batch(np.random.RandomState(2))
  norms = gradient_flow.embedding_grad_norms(
      model, random_params(model, batch['inputs']), batch, 'classification')
  assert norms.shape == (LEN,) and np.isfinite(norms).all() and (norms > 0).all()


def test_perturbation_hook_is_a_no_op_without_the_collection():
  model = _model('lstm', 'lm')
  tokens = _batch(np.random.RandomState(3))['inputs']
  variables = model.init(jax.random.key(0), tokens)
  zeros = jax.tree.map(jnp.zeros_like, variables['perturbations'])
  np.testing.assert_array_equal(
      model.apply({'params': variables['params']}, tokens),
      model.apply({'params': variables['params'], 'perturbations': zeros}, tokens))


def test_fit_decay_skips_underflow_and_needs_two_points():
  norms = 3.0 * 0.7 ** (9 - np.arange(10.0))
  norms[:3] = 0.0  # underflowed
  decay = gradient_flow.fit_decay(norms)
  assert abs(decay.factor - 0.7) < 1e-9 and (decay.first, decay.last) == (1, 6)
  assert np.isnan(gradient_flow.fit_decay(np.array([1.0, 0.0, 1.0])).factor)


def test_measure_rows_and_plot(tmp_path):
  model = LinearRNNClassifier(0.8)
  batch = _batch(np.random.RandomState(4))
  stages = {'init': random_params(model, batch['inputs']),
            'trained': random_params(LinearRNNClassifier(0.8), batch['inputs'])}
  flow = gradient_flow.measure('linear', model, 'classification', batch, stages)
  assert len(flow.rows) == 2 * LEN
  assert {(r['stage'], r['distance']) for r in flow.rows} == {
      (s, d) for s in stages for d in range(LEN)}
  by_distance = [r['grad_norm'] for r in flow.rows if r['stage'] == 'init']
  np.testing.assert_allclose(np.diff(np.log(by_distance)), np.log(0.8), rtol=1e-4)
  assert [d['stage'] for d in flow.decays] == ['init', 'trained']
  assert all(abs(d['decay_per_step'] - 0.8) < 1e-3 and d['seq_len'] == LEN for d in flow.decays)
  path = tmp_path / 'grad_flow.png'
  plots.gradient_flow_plot(flow.rows, str(path))
  assert path.stat().st_size > 0
