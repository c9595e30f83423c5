"""Any TFDS dataset prepared in `data.data_dir`, read through its array_record data source.

Features map to batches by type, from the dataset's supervised keys `(input, target)`:
* image / numeric tensor -> ClassLabel: classification of float32 inputs (uint8 scaled to [0, 1]);
* text -> ClassLabel: classification of UTF-8 bytes, truncated and padded to `data.seq_len`;
* text -> text (e.g. `wmt14_translate/fr-en`): seq2seq over bytes, both sides `data.seq_len`.
The training split is `train`; every other split can be evaluated (default `test`, else
`validation`). We are offline: a dataset that is not prepared, or prepared in a format that
needs TensorFlow (TFDS's default `tfrecord`), is an error that says how to prepare it.
"""
import numpy as np

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
from attn_jax.data import tokenizers
from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo


def _builder(name: str, data_dir: str, our_names: tuple[str, ...]):
  tfds = tfds_utils.tfds()
  try:
    with tfds_utils.quiet_tfds():
      builder = tfds.builder(name, data_dir=data_dir)
      prepared = builder.is_prepared()
  except Exception as e:  # pylint: disable=broad-except  (TFDS raises many kinds here)
    raise ConfigError('data.name', f'unknown dataset {name!r}; accepted: '
                      f'{", ".join(our_names)}, or a TFDS catalog name that is '
                      f'prepared in data.data_dir ({data_dir}) [{type(e).__name__}: '
                      f'{str(e).splitlines()[0]}]') from e
  build = f'tfds build {name} --data_dir={data_dir} --file_format={tfds_utils.FILE_FORMAT}'
  if not prepared:
    raise ConfigError('data.name', f'TFDS dataset {name!r} is not prepared in {data_dir}; '
                      f'prepare it with: {build} (needs network), or set data.data_dir to '
                      'where it is prepared')
  if not tfds_utils.random_access(builder):
    file_format = getattr(builder.info.file_format, 'value', builder.info.file_format)
    raise ConfigError('data.name', f'TFDS dataset {name!r} is prepared in {data_dir} as '
                      f'{file_format}, which needs TensorFlow to read; '
                      f'convert it (where TensorFlow is installed) with: tfds convert_format '
                      f'--dataset_version_dir={builder.data_dir} --out_file_format='
                      f'{tfds_utils.FILE_FORMAT}, or rebuild it with: {build}')
  return builder


def _features(builder):
  features = builder.info.features
  keys = builder.info.supervised_keys
  if not keys or len(keys) != 2 or not all(isinstance(k, str) for k in keys):
    raise ConfigError('data.name', f'{builder.name!r} has no (input, target) supervised keys; '
                      'only supervised datasets can be trained on')
  return keys, features[keys[0]], features[keys[1]]


def _task(builder, seq_len: int):
  """(TaskInfo, featurize, tokenizer, target_tokenizer) for the dataset's feature types."""
  tfds = tfds_utils.tfds()
  (x_key, y_key), x_feature, y_feature = _features(builder)
  feature_types = tfds.features
  name = builder.name
  if isinstance(x_feature, feature_types.Text):
    tok = tokenizers.ByteTokenizer()
    if isinstance(y_feature, feature_types.ClassLabel):
      info = TaskInfo(kind='classification', max_len=seq_len, vocab_size=tok.vocab_size,
                      num_classes=y_feature.num_classes, input_shape=(seq_len,))
      return info, lambda e: {
          'inputs': tokenizers.pad_to(tok.encode_array(e[x_key]), seq_len),
          'targets': np.int32(e[y_key]), 'weights': np.float32(1)}, tok, None
    if isinstance(y_feature, feature_types.Text):
      info = TaskInfo(kind='seq2seq', max_len=seq_len, vocab_size=tok.vocab_size,
                      target_vocab_size=tok.vocab_size, target_max_len=seq_len,
                      input_shape=(seq_len,))

      def featurize_pair(e):
        target = list(tok.encode_array(e[y_key])[:seq_len - 1])
        targets = tokenizers.pad_to(target + [tokenizers.EOS_ID], seq_len)
        return {'inputs': tokenizers.pad_to(tok.encode_array(e[x_key]), seq_len),
                'decoder_inputs': tokenizers.pad_to([tokenizers.BOS_ID] + target, seq_len),
                'targets': targets, 'weights': (targets != 0).astype(np.float32)}

      return info, featurize_pair, tok, tok
  elif (isinstance(x_feature, (feature_types.Image, feature_types.Tensor))
        and isinstance(y_feature, feature_types.ClassLabel)):
    shape = tuple(x_feature.shape)
    if None in shape or not np.issubdtype(np.dtype(x_feature.np_dtype), np.number):
      raise ConfigError('data.name', f'{name!r}: input {x_key!r} must have a fixed numeric '
                        f'shape, got {shape} {x_feature.np_dtype}')
    scale = 1 / 255 if np.dtype(x_feature.np_dtype) == np.uint8 else 1
    info = TaskInfo(kind='classification', input_dim=int(np.prod(shape)),
                    num_classes=y_feature.num_classes, input_shape=shape)
    return info, lambda e: {'inputs': np.asarray(e[x_key], np.float32) * np.float32(scale),
                            'targets': np.int32(e[y_key]), 'weights': np.float32(1)}, None, None
  raise ConfigError('data.name', f'{name!r}: no batch format for {type(x_feature).__name__} -> '
                    f'{type(y_feature).__name__}; supported: image/tensor or text -> '
                    'ClassLabel, text -> text')


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('data_dir', 'seq_len')


def load(config, seed: int, our_names: tuple[str, ...]) -> pipeline.Dataset:
  """The TFDS dataset `config.name`; `our_names` (the datasets this package builds) are named
  in the error for a name that TFDS does not know either."""
  data_dir = tfds_utils.resolve_data_dir(config.data_dir)
  builder = _builder(config.name, data_dir, our_names)
  info, featurize, tok, target_tok = _task(builder, config.seq_len)
  with tfds_utils.quiet_tfds():
    sources = builder.as_data_source()
  if 'train' not in sources:
    raise ConfigError('data.name', f'{config.name!r} has no train split (has: '
                      f'{", ".join(sources)})')
  splits = {s: pipeline.from_examples(src, featurize) for s, src in sources.items()}
  eval_splits = [s for s in splits if s != 'train'] or ['train']
  default = next((s for s in ('test', 'validation') if s in splits), eval_splits[0])
  return pipeline.Dataset(
      info=info, train_fn=pipeline.finite_train_fn(splits['train'], seed),
      eval_sources={s: splits[s] for s in eval_splits}, default_eval_split=default,
      tokenizer=tok, target_tokenizer=target_tok)
