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
from absl import logging

from attn_jax.data import pipeline
from attn_jax.data import tfds_utils
from attn_jax.data import tokenizers
from attn_jax.errors import ConfigError
from attn_jax.task import TaskInfo

CHUNK_CHARS = 1 << 16
# A file is not text if more than this fraction of its characters are bytes that are not UTF-8.
MAX_UNDECODABLE = 0.1
ACCEPTED = 'accepted: a UTF-8 text file, or a folder of them (hidden files are left out)'
TOKENIZERS = ('char', 'byte', 'word')


def read_corpus(path: str) -> str:
  """The text of `path` (file, or every text file under a folder), or of pydoc topics if empty.

  Raises:
    ConfigError('data.path', ...): no such path, an unreadable file, a file that is not text (a
      folder's non-text files are left out with a warning), or no text at all.
  """
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
    parts = {f: read_text_file(f, alone=f == path) for f in files}
    texts = [part for part in parts.values() if part is not None]
    if files and not texts:
      raise ConfigError('data.path', f'{path!r} holds no text file (none of its {len(files)} '
                        f'files is text); {ACCEPTED}')
    if len(texts) < len(files):
      logging.warning('data.path: left out %d file(s) that are not text, such as %s',
                      len(files) - len(texts), min(f for f, part in parts.items() if part is None))
    text = '\n'.join(texts)
  if not text.strip():
    raise ConfigError('data.path', f'the corpus {path or "pydoc_data.topics"!r} is empty; '
                      f'{ACCEPTED}')
  return text


def read_text_file(path: str, *, alone: bool = False) -> str | None:
  """The text of one file, or None if it is not text: it holds a NUL byte, or more than
  `MAX_UNDECODABLE` of its characters are bytes that are not UTF-8 (a few are replaced by U+FFFD,
  so that a Latin-1 file with accents still reads).

  Raises:
    ConfigError('data.path', ...): the file cannot be read, or it is not text and `alone`.
  """
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except OSError as error:
    raise ConfigError('data.path',
                      f'cannot read {path!r} ({error.strerror}); {ACCEPTED}') from None
  text = data.decode('utf-8', errors='replace')
  undecodable = text.count('\ufffd') - data.decode('utf-8', errors='ignore').count('\ufffd')
  if b'\0' in data or undecodable > MAX_UNDECODABLE * max(len(text), 1):
    if alone:
      raise ConfigError('data.path', f'{path!r} is not text ('
                        + ('it holds NUL bytes' if b'\0' in data else
                           f'{undecodable} of its {len(text)} characters are not UTF-8')
                        + f'); {ACCEPTED}')
    return None
  return text.replace('\r\n', '\n').replace('\r', '\n')  # universal newlines, as text mode


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


def _too_short(config, split: str, num_tokens: int) -> ConfigError:
  part = ('the last' if split == 'validation' else 'all but the last') + (
      f' data.val_fraction={config.val_fraction} of it')
  return ConfigError('data.path', f'{config.path or "pydoc_data.topics"!r} is too short for one '
                     f'window of data.seq_len={config.seq_len}: its {split} split ({part}) has '
                     f'{num_tokens} tokens, a window needs {config.seq_len + 1}; accepted: a '
                     'longer text, or a smaller data.seq_len')


# The `data.*` settings `load` reads (besides name and eval_split; config_base.check_read).
SETTINGS = ('path', 'seq_len', 'data_dir', 'tokenizer', 'val_fraction', 'stride')


def load(config, seed: int) -> pipeline.Dataset:
  seq_len = config.seq_len
  if seq_len <= 0:
    raise ConfigError('data.seq_len', f'must be positive, got {seq_len}')
  if config.stride <= 0:
    raise ConfigError('data.stride', f'must be positive, got {config.stride}')
  corpus = read_corpus(config.path)  # Checks the path; its digest names the prepared copy.
  for split, text in split_text(corpus, config.val_fraction).items():
    if not text:  # checked before preparing: TFDS cannot write an empty split
      raise _too_short(config, split, 0)
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
      raise _too_short(config, split, len(tokens))
    windows[split] = pipeline.WindowSource(tokens, seq_len, stride)
  vocab = tokenizer.vocab_size
  return pipeline.Dataset(
      info=TaskInfo(kind='lm', max_len=seq_len, vocab_size=vocab, target_vocab_size=vocab,
                    input_shape=(seq_len,)),
      train_fn=pipeline.finite_train_fn(windows['train'], seed),
      eval_sources={'validation': windows['validation']},
      default_eval_split='validation',
      tokenizer=tokenizer)
