"""Properties of the registered sequence models: no future leakage (language models) and padding
invariance (classifiers). jit == no-jit is in test_models_registry.py."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax.models import registry
from attn_jax.task import PAD_ID, TaskInfo
from test_models_registry import random_params

BATCH, LEN, VOCAB, CLASSES = 2, 10, 11, 3


def _config(name, **overrides):
  config = registry.model_config_defaults()
  config.update(dict(name=name, num_layers=2, hidden_size=8, num_heads=2, mlp_dim=16))
  config.update(overrides)
  return config


def _tokens(rng, shape):
  return jnp.asarray(rng.randint(1, VOCAB, shape), jnp.int32)


def _assert_close(actual, expected, **kwargs):
  np.testing.assert_allclose(actual, expected, **dict(dict(rtol=1e-5, atol=1e-5), **kwargs))


LMS = [
    ('transformer', {}),
    ('transformer', dict(attention_impl='fused', positional='rotary', pre_ln=False,
                         tie_embeddings=False)),
    ('rnn', {}), ('lstm', {}), ('gru', {}),
    ('linear_attention', dict(positional='learned', pre_ln=False)),
    ('mamba', {}), ('mamba', dict(ssm_eigenvalues='signed', tie_embeddings=False)),
]


@pytest.mark.parametrize('name,overrides', LMS)
def test_language_models_do_not_see_the_future(name, overrides):
  """Changing the tokens after position t leaves the logits at positions <= t unchanged."""
  info = TaskInfo('lm', LEN, VOCAB, target_vocab_size=VOCAB, input_shape=(LEN,))
  model = registry.build_model(_config(name, **overrides), info)
  rng = np.random.RandomState(0)
  tokens = np.asarray(_tokens(rng, (BATCH, LEN)))
  steps = rng.choice(LEN - 1, size=3, replace=False)
  future = np.arange(LEN)[None, :] > steps[:, None, None]  # [steps, 1, length]
  shift = rng.randint(1, VOCAB - 1, (len(steps), BATCH, LEN))  # a different real token
  changed = np.where(future, (tokens - 1 + shift) % (VOCAB - 1) + 1, tokens)
  assert (changed != tokens)[np.broadcast_to(future, changed.shape)].all()

  batches = jnp.concatenate([tokens[None], changed]).reshape(-1, LEN)  # original, then changed
  logits = jax.jit(model.apply)({'params': random_params(model, tokens)}, batches)
  original, *after = logits.reshape((1 + len(steps), BATCH, LEN, -1))
  for t, changed_logits in zip(steps, after):
    _assert_close(changed_logits[:, :t + 1], original[:, :t + 1], err_msg=f't={t}')
    assert not np.allclose(changed_logits[:, t + 1:], original[:, t + 1:], atol=1e-5)

CLASSIFIERS = [
    ('transformer', dict(pooling='mean')),
    ('transformer', dict(pooling='cls', pre_ln=False, positional='learned')),
    ('rnn', dict(bidirectional=True, num_layers=1)),
    ('lstm', dict(bidirectional=True, num_layers=1)),
    ('gru', dict(bidirectional=True, num_layers=1)),
    ('linear_attention', dict(pooling='mean')),
    ('linear_attention', dict(pooling='last', positional='learned')),
    ('mamba', dict(pooling='mean')),
    ('mamba', dict(pooling='last', num_layers=2)),
]


@pytest.mark.parametrize('name,overrides', CLASSIFIERS)
def test_classifiers_ignore_padding(name, overrides):
  """A padded batch gives each example the logits it gets alone, unpadded."""
  info = TaskInfo('classification', LEN, VOCAB, num_classes=CLASSES, input_shape=(LEN,))
  model = registry.build_model(_config(name, **overrides), info)
  rng = np.random.RandomState(1)
  lengths = (LEN - 3, 4)
  examples = [_tokens(rng, (1, length)) for length in lengths]
  padded = jnp.concatenate([jnp.pad(x, ((0, 0), (0, LEN - x.shape[1])), constant_values=PAD_ID)
                            for x in examples])
  # the padding is not ignored by accident: a real token in its place changes the logits
  filled = padded.at[1, lengths[1]].set(1)

  @jax.jit
  def logits(params):  # one compiled program: padded and filled batches, each example alone
    return [model.apply({'params': params}, x)
            for x in (jnp.concatenate([padded, filled]), *examples)]

  both, *alone = logits(random_params(model, padded))
  batch_logits, filled_logits = np.split(np.asarray(both), 2)
  for b, example_logits in enumerate(alone):
    _assert_close(batch_logits[b], example_logits[0], err_msg=f'example {b}')
  assert not np.allclose(filled_logits[1], batch_logits[1], atol=1e-5)
