"""The train step's arithmetic: gradient accumulation over N micro-batches equals one update on
the batch N times larger, and the norms it reports are those of the gradient and the parameters.

Also run under `JAX_ENABLE_X64=1` (tests/test_x64.py), where the model computes in float64 and
the tolerance is tight: there a difference can only be a wrong sum, not float32 rounding.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from flax.training import train_state

from attn_jax.config_base import base_config
from attn_jax.data import load_dataset
from attn_jax.training.objectives import metric_sums
from attn_jax.training.state import model_inputs
from attn_jax.training.steps import train_step

X64 = jax.config.jax_enable_x64
DTYPE, RTOL = (jnp.float64, 1e-12) if X64 else (jnp.float32, 2e-5)


def _recording() -> optax.GradientTransformation:
  """An optimizer that keeps the gradient it is given as its state and changes nothing (so the
  test compares gradients, not an update that Adam's first step normalises to about +-lr)."""
  return optax.GradientTransformation(
      init=lambda params: jax.tree.map(jnp.zeros_like, params),
      update=lambda grads, state, params=None: (jax.tree.map(jnp.zeros_like, grads), grads))


def _gradient(state):
  return state.opt_state.inner_state


class TinyLM(nn.Module):
  """Tokens `[batch, length]` -> logits `[batch, length, vocab]`, computed in DTYPE (the
  project's models compute in float32 or bfloat16 whatever x64 says): embedding, a causal
  running sum, a tanh layer, the output layer."""
  vocab_size: int

  @nn.compact
  def __call__(self, tokens, train: bool = False):
    x_BxLxD = jnp.cumsum(nn.Embed(self.vocab_size, 8, param_dtype=DTYPE)(tokens), axis=1)
    return nn.Dense(self.vocab_size, param_dtype=DTYPE)(
        jnp.tanh(nn.Dense(16, param_dtype=DTYPE)(x_BxLxD)))


@pytest.fixture(scope='module')
def setup():
  """TinyLM's state with the recording optimizer, and one batch of multi-query recall: 8
  sequences of 16 tokens, a loss weight on the 4 queried values of each."""
  config = base_config(data=dict(name='mqar', seq_len=16, num_classes=16))
  dataset = load_dataset(config.data, seed=0)
  model = TinyLM(dataset.info.vocab_size)
  batch = jax.tree.map(jnp.asarray, dataset.train_batch(0, 8, process_index=0, process_count=1))
  params = model.init(jax.random.key(0), batch['inputs'])['params']
  state = train_state.TrainState.create(apply_fn=model.apply, params=params,
                                        tx=optax.apply_if_finite(_recording(), 1))
  return state, batch, dataset.info.kind


def _step(setup, grad_accum_steps: int):
  state, batch, kind = setup
  step = jax.jit(functools.partial(train_step, kind=kind, grad_accum_steps=grad_accum_steps))
  return step(state, batch, jax.random.key(1))


@pytest.fixture(scope='module')
def one_batch(setup):
  """The state and sums after one step on the whole batch."""
  return _step(setup, 1)


@pytest.mark.parametrize('micro_batches', [2, 4])
def test_micro_batches_equal_one_batch_n_times_larger(setup, one_batch, micro_batches):
  whole, whole_sums = one_batch
  accumulated, sums = _step(setup, micro_batches)
  grads, whole_grads = jax.tree.leaves(_gradient(accumulated)), jax.tree.leaves(_gradient(whole))
  assert grads[0].dtype == DTYPE and optax.global_norm(whole_grads) > 0
  scale = max(float(jnp.max(jnp.abs(g))) for g in whole_grads)
  for got, want in zip(grads, whole_grads):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * scale)
  for key in ('loss', 'accuracy', 'weight', 'mean_grad_norm', 'mean_param_norm'):
    np.testing.assert_allclose(sums[key], whole_sums[key], rtol=RTOL)


def test_reported_norms_are_the_gradients_and_the_parameters(setup, one_batch):
  state, batch, kind = setup
  _, sums = one_batch

  def mean_loss(params):
    logits = state.apply_fn({'params': params}, *model_inputs(batch), train=False)
    step_sums = metric_sums(kind, logits, batch)
    return step_sums['loss'] / step_sums['weight']

  grads = jax.jit(jax.grad(mean_loss))(state.params)
  assert optax.global_norm(grads) > 0
  np.testing.assert_allclose(sums['mean_grad_norm'], optax.global_norm(grads), rtol=RTOL)
  np.testing.assert_allclose(sums['mean_param_norm'], optax.global_norm(state.params), rtol=RTOL)
  assert sums['steps'] == 1
