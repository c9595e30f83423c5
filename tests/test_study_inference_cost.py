"""Inference cost (attn_jax.studies.seq_len_scaling.inference_cost): state bytes against the
analytic counts, the prefilled state against the full forward pass, and a tiny run of the whole
measurement."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.decoding import lm_stepper
from attn_jax.models import registry
from attn_jax.studies.seq_len_scaling import capability, inference_cost, plots
from test_models_registry import random_params

VOCAB, LAYERS, WIDTH = 11, 2, 8


def _config(name):
  config = registry.model_config_defaults()
  config.update(dict(name=name, num_layers=LAYERS, hidden_size=WIDTH, num_heads=2, mlp_dim=16))
  return config


def _lm(name, max_len):
  model = inference_cost.lm_model(_config(name), vocab_size=VOCAB, max_len=max_len)
  return model, random_params(model, jnp.zeros((1, max_len), jnp.int32))


@pytest.mark.parametrize('batch', [1, 3])
def test_lstm_state_is_the_analytic_count(batch):
  model, params = _lm('lstm', 16)
  state = lm_stepper(model).init(params, batch, 16)
  assert inference_cost.state_bytes(state) == 2 * LAYERS * batch * WIDTH * 4


def test_transformer_cache_grows_linearly_with_context():
  """2 * layers * batch * N * d float32 numbers, plus int32 position counters that do not grow."""
  model, params = _lm('transformer', 64)
  stepper, batch = lm_stepper(model), 2
  kv = {n: 2 * LAYERS * batch * n * WIDTH * 4 for n in (8, 16, 64)}
  sizes = {n: inference_cost.state_bytes(stepper.init(params, batch, n)) for n in kv}
  counters = {sizes[n] - kv[n] for n in kv}
  assert len(counters) == 1 and 0 < counters.pop() <= 4 * (LAYERS + 1)


def test_linear_attention_state_is_the_analytic_count_at_every_context():
  """Per layer S [batch, heads, d/heads, d/heads] and z [batch, heads, d/heads] float32, plus
  one int32 position counter: the same bytes at every context."""
  model, params = _lm('linear_attention', 64)
  stepper, batch, heads = lm_stepper(model), 2, 2
  expected = LAYERS * batch * (WIDTH * WIDTH // heads + WIDTH) * 4 + 4
  assert {inference_cost.state_bytes(stepper.init(params, batch, n)) for n in (8, 64)} == {expected}
  assert capability.state_bytes(_config('linear_attention'), 64) == (expected - 4) // batch


@pytest.mark.parametrize('name', ['gru', 'transformer', 'linear_attention', *(  # the parallel-scan family if present
    name for name in ('mingru',) if name in registry.MODEL_NAMES)])
def test_prefilled_state_continues_the_full_forward_pass(name):
  """prefill(N - 1 tokens) then one step gives the full model's logits at position N - 1."""
  n = 7
  model, params = _lm(name, n)
  stepper = lm_stepper(model)
  tokens = jnp.asarray(np.random.RandomState(0).randint(1, VOCAB, (2, n)), jnp.int32)
  state = inference_cost.prefill(stepper, params, tokens[:, :-1], n)
  _, logits = stepper.step(params, state, tokens[:, -1])
  full = model.apply({'params': params}, tokens)
  np.testing.assert_allclose(logits, full[:, -1], rtol=1e-5, atol=1e-5)


def test_measure_config_rows_and_plot(tmp_path):
  lengths = (4, 16)
  rows = []
  for name in ('rnn', 'transformer'):
    rows += inference_cost.measure_config(name, _config(name), lengths, vocab_size=VOCAB,
                                          warmup=1, repeats=3)
  assert [(r['model'], r['context_len']) for r in rows] == [
      (m, n) for m in ('rnn', 'transformer') for n in lengths]
  assert all(np.isfinite(r['ms_per_token']) and 0 < r['ms_per_token_min'] <= r['ms_per_token']
             for r in rows)
  rnn, transformer = rows[:2], rows[2:]
  assert rnn[0]['state_bytes'] == rnn[1]['state_bytes'] == LAYERS * WIDTH * 4
  assert transformer[1]['state_bytes'] - transformer[0]['state_bytes'] == (
      2 * LAYERS * (16 - 4) * WIDTH * 4)
  path = tmp_path / 'inference.png'
  plots.inference_cost_plot(rows, str(path))
  assert path.stat().st_size > 0


def test_context_beyond_the_positions_is_refused():
  model, params = _lm('transformer', 8)
  with pytest.raises(ValueError, match='exceeds'):
    inference_cost.measure('transformer', model, params, (16,), repeats=1)
