"""A character (or byte, or word) language-modelling corpus from any text file or folder.

`data.path` names a file or a folder (every file under it in sorted order, hidden files and
folders left out); empty means the English documentation topics of the running Python
(`pydoc_data.topics`, about 465 KB). The last `data.val_fraction` of the text is the validation
split. Examples are windows of `data.seq_len` tokens: `inputs` = window, `targets` = the window
shifted by one token.
"""
import functools
import hashlib
import os

import numpy as np

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
from attn_jax.data import tokenizers
from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo

CHUNK_CHARS = 1 << 16
TOKENIZERS = ('char', 'byte', 'word')


def read_corpus(path: str) -> str:
  """The text of `path` (file, or every file under a folder), or of pydoc topics if empty."""
  if not path:
    from pydoc_data.topics import topics  # pylint: disable=g-import-not-at-top
    text = '\n\n'.join(topics[k] for k in sorted(topics))
  else:
    path = os.path.expanduser(path)
    if os.path.isdir(path):
      files = []
      for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith('.')]  # Skips .git and the like.
        files += [os.path.join(root, f) for f in names if not f.startswith('.')]
      files.sort()
    elif os.path.isfile(path):
      files = [path]
    else:
      raise ConfigError('data.path', f'no such file or folder: {path!r}')
    parts = []
    for f in files:
      with open(f, encoding='utf-8', errors='replace') as fh:
        parts.append(fh.read())
    text = '\n'.join(parts)
  if not text.strip():
    raise ConfigError('data.path', f'the corpus {path or "pydoc_data.topics"!r} is empty '
                      '(give a file or folder with text)')
  return text


def split_text(text: str, val_fraction: float) -> dict[str, str]:
  if not 0 < val_fraction < 1:
    raise ConfigError('data.val_fraction', f'must be in (0, 1), got {val_fraction}')
  cut = int(round(len(text) * (1 - val_fraction)))
  return {'train': text[:cut], 'validation': text[cut:]}


@functools.cache
def builder_cls():
  tfds = tfds_utils.tfds()

  class AttnJaxText(tfds.core.GeneratorBasedBuilder):
    """A text corpus, stored in chunks of `CHUNK_CHARS` characters numbered by `index`."""
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
          {'text': tfds.features.Text(), 'index': np.int32}))

    def _split_generators(self, dl_manager):
      del dl_manager
      options = self.builder_config.options
      splits = split_text(read_corpus(options['path']), options['val_fraction'])
      return {name: self._generate_examples(text) for name, text in splits.items()}

    def _generate_examples(self, text):
      for i, start in enumerate(range(0, len(text), CHUNK_CHARS)):
        yield i, {'text': text[start:start + CHUNK_CHARS], 'index': i}

  return AttnJaxText


def read_split(source) -> str:
  chunks = sorted(tfds_utils.read_all(source), key=lambda e: e['index'])
  return ''.join(c['text'].decode('utf-8') for c in chunks)


def make_tokenizer(name: str, train_text: str):
  if name == 'char':
    return tokenizers.char_tokenizer(train_text)
  if name == 'byte':
    return tokenizers.ByteTokenizer()
  if name == 'word':
    return tokenizers.word_tokenizer([train_text])
  raise ConfigError('data.tokenizer', f'unknown tokenizer {name!r}; accepted: '
                    f'{", ".join(TOKENIZERS)}')


def load(config, seed: int) -> pipeline.Dataset:
  seq_len = config.seq_len
  if seq_len <= 0:
    raise ConfigError('data.seq_len', f'must be positive, got {seq_len}')
  if config.stride <= 0:
    raise ConfigError('data.stride', f'must be positive, got {config.stride}')
  corpus = read_corpus(config.path)  # Checks the path; its digest names the prepared copy.
  digest = hashlib.sha1(corpus.encode('utf-8', errors='replace')).hexdigest()[:16]
  sources = tfds_utils.prepare(builder_cls(), config.data_dir, {
      'path': os.path.abspath(os.path.expanduser(config.path)) if config.path else '',
      'sha1': digest, 'val_fraction': config.val_fraction})
  texts = {split: read_split(sources[split]) for split in ('train', 'validation')}
  tokenizer = make_tokenizer(config.tokenizer, texts['train'])
  windows = {}
  for split, stride in (('train', config.stride), ('validation', seq_len)):
    tokens = np.asarray(tokenizer.encode(texts[split]), np.int32)
    if len(tokens) < seq_len + 1:
      raise ConfigError('data.seq_len', f'the {split} text has {len(tokens)} tokens, fewer '
                        f'than seq_len + 1 = {seq_len + 1}; use a shorter seq_len or more text')
    windows[split] = pipeline.WindowSource(tokens, seq_len, stride)
  vocab = tokenizer.vocab_size
  return pipeline.Dataset(
      info=TaskInfo(kind='lm', max_len=seq_len, vocab_size=vocab, target_vocab_size=vocab,
                    input_shape=(seq_len,)),
      train_fn=pipeline.finite_train_fn(windows['train'], seed),
      eval_sources={'validation': windows['validation']},
      default_eval_split='validation',
      tokenizer=tokenizer)
