"""Model config -> linen module: `model_config_defaults()`, `MODEL_NAMES`, `build_model()`."""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from attn_jax.errors import ConfigError
from attn_jax.models import (attention, mamba, minrnn, mlp, positional, recurrent, scan_form,
                             transformer)
from attn_jax.task import TaskInfo

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def model_config_defaults() -> ml_collections.ConfigDict:
  """Every model setting and its default (`config.model`)."""
  return ml_collections.ConfigDict({
      'name': 'transformer',
      'num_layers': 2,  # hidden layers (mlp), stacked layers (recurrent), blocks (attention)
      'hidden_size': 64,  # width: hidden units, recurrent state, d_model
      'num_heads': 4,
      'mlp_dim': 128,  # transformer feed-forward inner width
      'dropout_rate': 0.0,
      'attention_dropout_rate': 0.0,  # 'explicit' attention ('auto' runs it while dropout is on)
      'activation': 'relu',  # mlp and transformer feed-forward: relu, sigmoid, tanh, gelu
      'positional': 'sinusoidal',  # sinusoidal, learned, rotary (not linear_attention), none
      'pre_ln': True,
      'pooling': 'mean',  # transformer/vit: mean, cls, last; linear_attention: mean, last
      'bidirectional': False,  # rnn/lstm/gru classifiers and seq2seq encoders
      # auto (the fastest measured by platform, length, train/decode: models/attention_choice.py),
      # explicit (weights sown), fused (jax.nn.dot_product_attention), blocked (no L x L array)
      'attention_impl': 'auto',
      'tie_embeddings': True,  # lm and seq2seq output layer = input embedding transposed
      'seq2seq_attention': 'none',  # recurrent seq2seq: none (bottleneck), luong, bahdanau
      'patch_size': 4,  # vit
      'dtype': 'float32',  # float32 or bfloat16 (params stay float32)
      'max_len': 0,  # learned position table size; 0: sized to the data
      # mamba (models/mamba.py): state size N per channel, d_inner = ssm_expand * hidden_size,
      # causal convolution taps, the transition's eigenvalue range: positive (Mamba's
      # (0, 1]) or signed ((-1, 1], Grazzi et al. 2025), and the scan's form: auto (sequential
      # on the CPU, parallel elsewhere: scan_form.choose_scan), parallel (associative, O(log L)
      # depth), sequential (lax.scan over time, fused like the reference's)
      'ssm_state_size': 16,
      'ssm_expand': 2,
      'ssm_conv_width': 4,
      'ssm_eigenvalues': 'positive',
      'ssm_scan': 'auto',
      # mingru / minlstm (models/minrnn.py): the scan's form, as ssm_scan (models/scan_form.py)
      'minrnn_scan': 'auto',
  })


def _choice(config, key: str, accepted) -> str:
  value = config[key]
  if value not in accepted:
    raise ConfigError(f'model.{key}', f'unknown value {value!r}; accepted: {", ".join(accepted)}')
  return value


MAX_LAYERS = 1024


def _positive(config, key: str) -> int:
  """A size: positive, and below 2**31 (array dimensions are int32 in XLA)."""
  if not 0 < config[key] < 2**31:
    raise ConfigError(f'model.{key}', f'got {config[key]!r}; accepted: a positive integer '
                      'below 2**31')
  return config[key]


def _feed_forward(config, info: TaskInfo):
  hidden = config.num_layers if config.name == 'mlp' else 0
  return mlp.MLP(num_classes=info.num_classes, num_layers=hidden, hidden_size=config.hidden_size,
                 activation=config.activation, dropout_rate=config.dropout_rate,
                 vocab_size=info.vocab_size, dtype=DTYPES[config.dtype])


def _recurrent(config, info: TaskInfo):
  if info.kind == 'lm' and config.bidirectional:
    raise ConfigError('model.bidirectional', f'a {config.name} language model predicts the next '
                      'token from the past only; accepted: False')
  cfg = recurrent.RecurrentConfig(
      cell=config.name, hidden_size=config.hidden_size, num_layers=config.num_layers,
      bidirectional=config.bidirectional, dropout_rate=config.dropout_rate,
      dtype=DTYPES[config.dtype],
      scan=(_choice(config, 'minrnn_scan', scan_form.SCAN_SETTINGS)
            if config.name in minrnn.MIN_CELLS else 'auto'))
  if info.kind in ('classification', 'regression'):
    _no_pooling_choice(config)
    return recurrent.RecurrentClassifier(cfg, _num_outputs(info), info.vocab_size)
  if info.kind == 'lm':
    return recurrent.RecurrentLM(cfg, info.target_vocab_size or info.vocab_size,
                                 config.tie_embeddings)
  step_cell = config.name in recurrent.CELLS  # Bahdanau's context enters each step
  attention_kinds = recurrent.SEQ2SEQ_ATTENTION if step_cell else ('none', 'luong')
  return recurrent.RecurrentSeq2Seq(cfg, info.vocab_size, info.target_vocab_size,
                                    _choice(config, 'seq2seq_attention', attention_kinds))


def _no_pooling_choice(config):
  """A recurrent classifier reads its final valid state: `model.pooling` must stay the default."""
  default = model_config_defaults().pooling
  if config.pooling != default:
    raise ConfigError('model.pooling', f'{config.pooling!r} does not apply to a {config.name} '
                      'classifier, which reads its final valid state (both directions when '
                      'bidirectional); accepted: leave model.pooling at its default '
                      f'{default!r}, which only transformer and vit classifiers use')


# The sequence models built of `transformer.TransformerBlock`s, so of num_heads and mlp_dim (vit,
# built of them too, reads images).
TRANSFORMER_FAMILIES = ('transformer', 'linear_attention')
# The settings of softmax attention alone: linear_attention neither reads nor accepts them.
SOFTMAX_ATTENTION_SETTINGS = ('attention_impl', 'attention_dropout_rate')


def _no_softmax_settings(config, info: TaskInfo):
  """`linear_attention` refuses the settings it would ignore or cannot honour."""
  defaults = model_config_defaults()
  for key in SOFTMAX_ATTENTION_SETTINGS:
    if config[key] != defaults[key]:
      raise ConfigError(f'model.{key}', f'{config[key]!r} does not apply to linear_attention, '
                        'which forms no softmax weights; accepted: leave it at its default '
                        f'{defaults[key]!r}')
  if config.positional == 'rotary':
    raise ConfigError('model.positional', "'rotary' is not implemented for linear_attention; "
                      'accepted: sinusoidal, learned, none')
  if info.kind != 'lm' and config.pooling == 'cls':
    raise ConfigError('model.pooling', "'cls' does not apply to linear_attention: its attention "
                      'is causal, so a class token in front would see only itself; accepted: '
                      'mean, last')


def _transformer_config(config, max_len: int) -> transformer.TransformerConfig:
  if config.num_heads <= 0 or config.hidden_size % config.num_heads:
    accepted = [h for h in range(1, config.hidden_size + 1) if config.hidden_size % h == 0]
    raise ConfigError('model.num_heads', f'must divide model.hidden_size={config.hidden_size}, '
                      f'got {config.num_heads}; accepted: {", ".join(map(str, accepted))}')
  impl = _choice(config, 'attention_impl', attention.ATTENTION_CHOICES)
  if impl not in ('explicit', 'auto') and config.attention_dropout_rate:
    raise ConfigError('model.attention_dropout_rate', f'must be 0 with model.attention_impl='
                      f"{impl!r}; accepted: 0.0, or attention_impl 'explicit' or 'auto'")
  kind = _choice(config, 'positional', positional.POSITIONAL_KINDS)
  if kind == 'learned' and config.max_len and max_len > config.max_len:
    raise ConfigError('model.max_len', f'sequences of {max_len} positions exceed the learned '
                      f'position table of {config.max_len}; accepted: max_len >= {max_len} or 0')
  return transformer.TransformerConfig(
      hidden_size=config.hidden_size, num_layers=config.num_layers, num_heads=config.num_heads,
      mlp_dim=_positive(config, 'mlp_dim'), dropout_rate=config.dropout_rate,
      attention_dropout_rate=config.attention_dropout_rate,
      activation=_choice(config, 'activation', tuple(mlp.ACTIVATIONS)), positional=kind,
      pre_ln=config.pre_ln, attention_impl=impl,
      attention='linear' if config.name == 'linear_attention' else 'softmax',
      max_len=config.max_len or max(max_len, 1), dtype=DTYPES[config.dtype])


def _transformer(config, info: TaskInfo):
  if config.name == 'linear_attention':
    _no_softmax_settings(config, info)
  if info.kind in ('classification', 'regression'):
    pooling = _choice(config, 'pooling', transformer.POOLINGS)
    cfg = _transformer_config(config, info.max_len + (pooling == 'cls'))
    return transformer.TransformerClassifier(cfg, _num_outputs(info), info.vocab_size, pooling)
  if info.kind == 'lm':
    return transformer.TransformerLM(_transformer_config(config, info.max_len),
                                     info.target_vocab_size or info.vocab_size,
                                     config.tie_embeddings)
  cfg = _transformer_config(config, max(info.max_len, info.target_max_len))
  return transformer.TransformerEncoderDecoder(cfg, info.vocab_size, info.target_vocab_size,
                                               config.tie_embeddings)


def _vit(config, info: TaskInfo):
  if len(info.input_shape) != 3:
    raise ConfigError('model.name', f"'vit' needs images [height, width, channels], got inputs "
                      f'of shape {info.input_shape}; accepted for this data: '
                      f'{", ".join(n for n, k in BUILDERS if k == info.kind)}')
  height, width, _ = info.input_shape
  p = _positive(config, 'patch_size')
  if height % p or width % p:
    accepted = [q for q in range(1, min(height, width) + 1) if height % q == 0 and width % q == 0]
    raise ConfigError('model.patch_size', f'must divide the image size {height}x{width}, got {p}; '
                      f'accepted: {", ".join(map(str, accepted))}')
  pooling = _choice(config, 'pooling', ('mean', 'cls'))
  cfg = _transformer_config(config, (height // p) * (width // p) + (pooling == 'cls'))
  return transformer.ViTClassifier(cfg, _num_outputs(info), p, pooling)


def _mamba(config, info: TaskInfo):
  if config.ssm_expand * _positive(config, 'hidden_size') >= 2**31:
    raise ConfigError('model.ssm_expand', f'{config.ssm_expand} x model.hidden_size='
                      f'{config.hidden_size} channels exceed 2**31 - 1; accepted: a positive '
                      'integer whose product with model.hidden_size is below 2**31')
  cfg = mamba.MambaConfig(
      hidden_size=config.hidden_size, num_layers=config.num_layers,
      state_size=_positive(config, 'ssm_state_size'), expand=_positive(config, 'ssm_expand'),
      conv_width=_positive(config, 'ssm_conv_width'),
      eigenvalues=_choice(config, 'ssm_eigenvalues', mamba.EIGENVALUE_RANGES),
      scan=_choice(config, 'ssm_scan', scan_form.SCAN_SETTINGS),
      dtype=DTYPES[config.dtype])
  if info.kind == 'lm':
    return mamba.MambaLM(cfg, info.target_vocab_size or info.vocab_size, config.tie_embeddings)
  return mamba.MambaClassifier(cfg, _num_outputs(info), info.vocab_size,
                               _choice(config, 'pooling', mamba.POOLINGS))


def _num_outputs(info: TaskInfo) -> int:
  return 1 if info.kind == 'regression' else info.num_classes


BUILDERS: dict[tuple[str, str], Callable[..., nn.Module]] = {
    ('logreg', 'classification'): _feed_forward,
    ('mlp', 'classification'): _feed_forward,
    **{(cell, kind): _recurrent for cell in recurrent.STACKED_CELLS
       for kind in ('classification', 'regression', 'lm', 'seq2seq')},
    **{('transformer', kind): _transformer
       for kind in ('classification', 'regression', 'lm', 'seq2seq')},
    ('vit', 'classification'): _vit,
    **{('linear_attention', kind): _transformer for kind in ('classification', 'regression', 'lm')},
    **{('mamba', kind): _mamba for kind in ('classification', 'regression', 'lm')},
}
MODEL_NAMES = tuple(dict.fromkeys(name for name, _ in BUILDERS))

_TRANSFORMER_READS = ('num_layers', 'hidden_size', 'num_heads', 'mlp_dim', 'dropout_rate',
                      'attention_dropout_rate', 'activation', 'positional', 'pre_ln',
                      'attention_impl', 'max_len', 'dtype')
# The `model.*` settings each model's builders read (besides `name`), over every task kind it
# serves: a setting given on the command line outside them is refused (`config_base.check_read`).
READS: dict[str, tuple[str, ...]] = {
    'logreg': ('hidden_size', 'dtype'),  # hidden_size: the width of a token embedding
    'mlp': ('num_layers', 'hidden_size', 'activation', 'dropout_rate', 'dtype'),
    **{cell: ('num_layers', 'hidden_size', 'bidirectional', 'dropout_rate', 'dtype',
              'tie_embeddings', 'seq2seq_attention') for cell in recurrent.CELLS},
    **{cell: ('num_layers', 'hidden_size', 'bidirectional', 'dropout_rate', 'dtype',
              'tie_embeddings', 'seq2seq_attention', 'minrnn_scan') for cell in minrnn.MIN_CELLS},
    'transformer': (*_TRANSFORMER_READS, 'pooling', 'tie_embeddings'),
    'vit': (*_TRANSFORMER_READS, 'pooling', 'patch_size'),
    'linear_attention': (*(k for k in _TRANSFORMER_READS if k not in SOFTMAX_ATTENTION_SETTINGS),
                         'pooling', 'tie_embeddings'),
    'mamba': ('num_layers', 'hidden_size', 'ssm_state_size', 'ssm_expand', 'ssm_conv_width',
              'ssm_eigenvalues', 'ssm_scan', 'pooling', 'tie_embeddings', 'dtype'),
}


def build_model(model_config: ml_collections.ConfigDict, info: TaskInfo) -> nn.Module:
  """The linen module for `model_config.name` on a task described by `info`.

  Raises:
    ConfigError: unknown name, a (name, info.kind) pair that does not exist, or a bad setting.
  """
  name = model_config.name
  if name not in MODEL_NAMES:
    raise ConfigError('model.name', f'unknown model {name!r}; accepted: {", ".join(MODEL_NAMES)}')
  if (name, info.kind) not in BUILDERS:
    accepted = ', '.join(n for n, k in BUILDERS if k == info.kind)
    raise ConfigError('model.name', f'{name!r} does not do {info.kind}; accepted for this task: '
                      f'{accepted}')
  _choice(model_config, 'dtype', tuple(DTYPES))
  _positive(model_config, 'hidden_size')
  if not 0 <= model_config.num_layers <= MAX_LAYERS:  # layers are built one by one in Python
    raise ConfigError('model.num_layers', f'got {model_config.num_layers!r}; accepted: an '
                      f'integer from 0 to {MAX_LAYERS}')
  return BUILDERS[name, info.kind](model_config, info)


def check_input_length(model: nn.Module, length: int, setting: str = 'model.max_len'):
  """Raises ConfigError if `model` cannot read `length` positions: a learned position table of
  fewer rows (it would read past the table). Other models take any length.

  Use before evaluating a model on inputs longer than those it was built for (length
  extrapolation, e.g. the `test_2x`/`test_4x` splits of generated tasks).
  """
  cfg = getattr(model, 'config', None)
  if (isinstance(cfg, transformer.TransformerConfig) and cfg.positional == 'learned'
      and length > cfg.max_len):
    raise ConfigError(setting, f'{length} positions exceed the learned position table of '
                      f'{cfg.max_len}; accepted: model.positional=sinusoidal, rotary or none, or '
                      f'model.max_len >= {length}')


def num_params(params) -> int:
  """Number of scalar parameters in a pytree of arrays."""
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))
