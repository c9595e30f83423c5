"""Text from a language model: continuations of `config.sample.prompt`, with its settings.

The token-level search is `decoding.generate`; this module turns the `sample` config section into
its `SampleSettings` and the prompt into tokens and back. Used by the samples evaluator after
training and by `mode=sample`.
"""
import jax

from attn_jax import decoding
from attn_jax.errors import ConfigError


def settings_of(sample_config) -> decoding.SampleSettings:
  """`config.sample` -> SampleSettings, checking the values."""
  if sample_config.temperature < 0:
    raise ConfigError('sample.temperature', f'must be 0 (greedy) or positive, got '
                      f'{sample_config.temperature}')
  if sample_config.top_k < 0:
    raise ConfigError('sample.top_k', f'must be 0 (off) or positive, got {sample_config.top_k}')
  if not 0 < sample_config.top_p <= 1:
    raise ConfigError('sample.top_p', f'must be in (0, 1], got {sample_config.top_p}')
  return decoding.SampleSettings(float(sample_config.temperature), int(sample_config.top_k),
                                 float(sample_config.top_p))


def sample_texts(model, params, tokenizer, sample_config, rng: jax.Array) -> list[str]:
  """`sample_config.num_samples` continuations of `sample_config.prompt` (prompt included)."""
  if sample_config.num_samples <= 0:
    return []
  if sample_config.num_tokens <= 0:
    raise ConfigError('sample.num_tokens', f'must be positive, got {sample_config.num_tokens}')
  prompt = tokenizer.encode(sample_config.prompt)
  tokens = decoding.generate(model, params, prompt, sample_config.num_tokens, rng,
                             num_samples=sample_config.num_samples,
                             settings=settings_of(sample_config))
  return [sample_config.prompt + tokenizer.decode(row) for row in tokens]
