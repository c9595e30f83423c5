"""Generation: cached decoding equals recomputing the whole sequence, token choice, beam search,
and `mode=sample` (`modes.sample`) from a trained workdir (an end-to-end run: marked slow)."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_jax import decoding, modes
from attn_jax.errors import ConfigError
from attn_jax.models.registry import build_model, model_config_defaults
from attn_jax.task import TaskInfo
from attn_jax.training.state import example_batch, model_inputs

LM_INFO = TaskInfo(kind='lm', max_len=12, vocab_size=9, target_vocab_size=9, input_shape=(12,))
S2S_INFO = TaskInfo(kind='seq2seq', max_len=6, vocab_size=10, target_vocab_size=9,
                    target_max_len=7, input_shape=(6,))
SOURCES = np.array([[5, 6, 7, 8, 0, 0], [9, 4, 5, 6, 7, 8], [4, 4, 0, 0, 0, 0]], np.int32)


def _model(info, name, scale=3.0, **overrides):
  """A tiny model with parameters scaled up, so that greedy outputs vary from step to step."""
  config = model_config_defaults()
  config.update(dict(name=name, hidden_size=16, num_layers=1, num_heads=2, mlp_dim=32,
                     **overrides))
  model = build_model(config, info)
  inputs = model_inputs(example_batch(info))
  init = jax.jit(lambda key: jax.tree.map(lambda x: x * scale,
                                          model.init(key, *inputs)['params']))
  return model, init(jax.random.key(0))  # one compilation, not one per operation


def _lm_by_recompute(model, params, prompt, num_tokens, length):
  """Greedy continuation by re-running the model on the whole sequence at every step."""
  apply = jax.jit(lambda tokens: decoding.allowed_outputs(model.apply({'params': params}, tokens)))
  seq = list(prompt)
  for _ in range(num_tokens):
    tokens = np.zeros((1, length), np.int32)
    tokens[0, :len(seq)] = seq
    seq.append(int(np.argmax(apply(tokens)[0, len(seq) - 1])))
  return seq[len(prompt):]


@pytest.mark.parametrize('name', ['transformer', 'lstm', 'linear_attention'])
def test_cached_lm_decoding_equals_recomputation(name):
  model, params = _model(LM_INFO, name)
  prompt, num_tokens = [4, 5, 6], 9  # 12 positions: the transformer's whole cache
  greedy = decoding.SampleSettings(temperature=0.0)
  cached = decoding.generate(model, params, prompt, num_tokens, jax.random.key(0),
                             num_samples=2, settings=greedy)
  expected = _lm_by_recompute(model, params, prompt, num_tokens, LM_INFO.max_len)
  assert len(set(expected)) > 1  # a meaningful comparison
  np.testing.assert_array_equal(cached, [expected, expected])


def test_transformer_lm_generates_past_its_cache_without_recompiling():
  model, params = _model(LM_INFO, 'transformer')
  greedy = decoding.SampleSettings(temperature=0.0)
  decoding.generate(model, params, [4], 3, jax.random.key(0), settings=greedy)
  compiled = decoding._fill._cache_size()  # pylint: disable=protected-access
  long = decoding.generate(model, params, [4, 5, 6, 7], 30, jax.random.key(0), settings=greedy)
  assert long.shape == (1, 30)
  assert decoding._fill._cache_size() == compiled  # pylint: disable=protected-access


def _translate_by_recompute(model, params, sources, length):
  """Greedy outputs by re-running the decoder on the whole prefix at every step."""
  apply = jax.jit(lambda d: decoding.allowed_outputs(
      model.apply({'params': params}, jnp.asarray(sources), d)))
  decoder_inputs = np.zeros((len(sources), length), np.int32)
  decoder_inputs[:, 0] = decoding.BOS_ID
  outputs = np.zeros_like(decoder_inputs)
  for t in range(length):
    outputs[:, t] = np.argmax(apply(decoder_inputs)[:, t], axis=-1)
    if t + 1 < length:
      decoder_inputs[:, t + 1] = outputs[:, t]
  return [decoding.until_eos(row) for row in outputs]


SEQ2SEQ = [('transformer', {}), ('lstm', {'seq2seq_attention': 'none'}),
           ('gru', {'seq2seq_attention': 'bahdanau'})]


@pytest.mark.parametrize('name,overrides', SEQ2SEQ)
def test_cached_seq2seq_decoding_equals_recomputation_and_beam_1_is_greedy(name, overrides):
  model, params = _model(S2S_INFO, name, **overrides)
  length = S2S_INFO.target_max_len
  greedy = decoding.translate(model, params, SOURCES, length)
  expected = _translate_by_recompute(model, params, SOURCES, length)
  assert [decoding.until_eos(row) for row in greedy] == expected
  stepper = decoding.seq2seq_stepper(model)
  beam_1 = decoding.beam_search(stepper, params, jnp.asarray(SOURCES), length, 1)
  np.testing.assert_array_equal(beam_1, greedy)


# A "model" whose next-token log probabilities depend only on the previous token.
TABLE_STEPPER = decoding.Stepper(
    init=lambda log_table, inputs, length: jnp.zeros(inputs.shape[0]),
    step=lambda log_table, state, tokens: (state, log_table[tokens]))


def _log_table(rows: dict[int, dict[int, float]], vocab: int) -> jnp.ndarray:
  table = np.full((vocab, vocab), 1e-9)
  for previous, probs in rows.items():
    for token, p in probs.items():
      table[previous, token] = p
  return jnp.log(jnp.asarray(table / table.sum(axis=1, keepdims=True), jnp.float32))


def test_beam_search_finds_what_greedy_misses():
  bos, eos, a, b = decoding.BOS_ID, decoding.EOS_ID, 4, 5
  log_table = _log_table({bos: {a: 0.6, b: 0.4}, a: {a: 0.35, b: 0.35, eos: 0.3},
                          b: {eos: 0.99, a: 0.01}}, vocab=6)
  inputs = jnp.zeros((1, 3), jnp.int32)
  greedy = decoding.greedy_decode(TABLE_STEPPER, log_table, inputs, 5)
  beam = decoding.beam_search(TABLE_STEPPER, log_table, inputs, 5, 2)
  assert decoding.until_eos(greedy[0]) != [b]
  np.testing.assert_array_equal(beam[0], [b, eos, 0, 0, 0])


def _best_by_enumeration(log_table, max_len, tokens):
  """The hypothesis with the best log p / length: ended by EOS within max_len, or max_len long."""
  best, best_score = None, -np.inf
  for n in range(max_len + 1):
    for body in itertools.product(tokens, repeat=n):
      seq = list(body) + ([decoding.EOS_ID] if n < max_len else [])
      previous = [decoding.BOS_ID] + seq[:-1]
      score = sum(float(log_table[p, t]) for p, t in zip(previous, seq)) / len(seq)
      if score > best_score:
        best, best_score = seq, score
  return best


@pytest.mark.parametrize('seed', range(8))
def test_wide_beam_search_is_exact(seed):
  """With room for every hypothesis, beam search returns the best of them all (greedy misses it
  for seeds 0 and 4)."""
  vocab, max_len = 6, 4
  probs = np.random.default_rng(seed).dirichlet(np.full(vocab - 2, 0.7), size=vocab)
  log_table = _log_table({i: dict(zip(range(2, vocab), probs[i])) for i in range(vocab)}, vocab)
  beam = decoding.beam_search(TABLE_STEPPER, log_table, jnp.zeros((1, 3), jnp.int32), max_len,
                              128)
  expected = _best_by_enumeration(log_table, max_len, range(3, vocab))
  assert beam[0, :len(expected)].tolist() == expected


def test_top_k_1_and_tiny_top_p_are_greedy():
  logits = jax.random.normal(jax.random.key(0), (64, 20)) * 3
  greedy = decoding.choose_tokens(None, logits, decoding.SampleSettings(temperature=0.0))
  for settings in (decoding.SampleSettings(1.0, top_k=1), decoding.SampleSettings(1.0, top_p=1e-6)):
    sampled = decoding.choose_tokens(jax.random.key(1), logits, settings)
    np.testing.assert_array_equal(sampled, greedy)


def test_top_k_and_top_p_sample_only_inside_their_sets():
  probs = jnp.array([0.5, 0.25, 0.15, 0.1])
  logits = jnp.tile(jnp.log(probs), (4000, 1))
  keys = jax.random.key(0)
  top_p = decoding.choose_tokens(keys, logits, decoding.SampleSettings(1.0, top_p=0.7))
  assert set(np.unique(top_p).tolist()) == {0, 1}  # 0.5 + 0.25 reach 0.7
  top_k = decoding.choose_tokens(keys, logits, decoding.SampleSettings(1.0, top_k=3))
  assert set(np.unique(top_k).tolist()) == {0, 1, 2}
  plain = decoding.choose_tokens(keys, logits, decoding.SampleSettings(1.0))
  np.testing.assert_allclose(np.bincount(plain, minlength=4) / 4000, probs, atol=0.03)


def test_until_eos():
  assert decoding.until_eos([5, 6, 2, 7, 0]) == [5, 6]
  assert decoding.until_eos([5, 6, 0, 0]) == [5, 6]


@pytest.mark.slow  # trains, then reloads: about 30 s of compilation on 2 cores
def test_sample_from_workdir(tmp_path, capsys):
  from attn_jax.config_base import base_config  # pylint: disable=import-outside-toplevel
  from attn_jax.training import train_and_evaluate  # pylint: disable=import-outside-toplevel
  corpus = tmp_path / 'corpus.txt'
  corpus.write_text('the cat sat on the mat. ' * 200)
  config = base_config(
      model=dict(name='transformer', num_layers=1, hidden_size=16, num_heads=2, mlp_dim=32),
      data=dict(name='text', seq_len=16, path=str(corpus), data_dir=str(tmp_path / 'data')),
      train=dict(num_steps=2, batch_size=4, log_every=1, eval_every=2, checkpoint_every=2,
                 warmup_steps=1),
      sample=dict(prompt='the ', num_samples=2, num_tokens=20, temperature=0.8, top_k=5))
  workdir = str(tmp_path / 'run')
  with pytest.raises(ConfigError, match='workdir'):
    modes.sample(config, workdir)
  train_and_evaluate(config, workdir)
  assert capsys.readouterr().out.count('--- sample') == 2  # the samples evaluator, at the end
  texts = modes.sample(config, workdir)
  assert len(texts) == 2 and all(t.startswith('the ') for t in texts)
  assert capsys.readouterr().out.count('--- sample') == 2
