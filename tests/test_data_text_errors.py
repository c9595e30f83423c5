"""Bad input to the text corpus: each is one `data.path` error, and leaves no TFDS files behind."""
import os

import pytest

from attn_jax.data import data_config_defaults, load_dataset, text
from attn_jax.errors import ConfigError
from launcher import launch

WORDS = 'the quick brown fox jumps over the lazy dog. '


def _load(tmp_path, path, **overrides):
  config = data_config_defaults()
  config.update(name='text', path=str(path), data_dir=str(tmp_path / 'tfds'),
                **{'seq_len': 16, **overrides})
  return load_dataset(config, seed=0)


def _refused(tmp_path, path, **overrides) -> str:
  with pytest.raises(ConfigError) as refused:
    _load(tmp_path, path, **overrides)
  assert refused.value.setting == 'data.path'
  assert not os.path.exists(tmp_path / 'tfds' / 'attn_jax_text')  # nothing half-written
  return refused.value.message


def _write(path, data: bytes):
  with open(path, 'wb') as f:
    f.write(data)
  return path


def test_a_text_shorter_than_one_window(tmp_path):
  message = _refused(tmp_path, _write(tmp_path / 'short.txt', b'ab'))
  assert 'too short for one window of data.seq_len=16' in message
  assert 'validation split' in message and 'accepted: a longer text' in message


def test_a_validation_split_shorter_than_one_window(tmp_path):
  path = _write(tmp_path / 'short.txt', (WORDS * 3).encode())  # 135 characters: 13 held out
  with pytest.raises(ConfigError, match='its validation split .* has 13 tokens, a window needs '
                     '17') as refused:
    _load(tmp_path, path)
  assert refused.value.setting == 'data.path'
  dataset = _load(tmp_path, path, seq_len=8)  # what was prepared serves the next run
  assert dataset.info.max_len == 8


@pytest.mark.parametrize('data', [bytes(range(256)) * 8, (WORDS * 50).encode() + b'\0'],
                         ids=['undecodable bytes', 'a NUL byte'])
def test_a_binary_file(tmp_path, data):
  message = _refused(tmp_path, _write(tmp_path / 'data.bin', data))
  assert 'is not text' in message and 'accepted: a UTF-8 text file' in message


def test_a_folder_of_only_binary_files(tmp_path):
  os.makedirs(tmp_path / 'corpus')
  for name in ('a.bin', 'b.bin'):
    _write(tmp_path / 'corpus' / name, bytes(range(256)) * 4)
  message = _refused(tmp_path, tmp_path / 'corpus')
  assert 'holds no text file' in message and 'accepted: a UTF-8 text file' in message


def test_a_folder_leaves_out_its_binary_files_and_keeps_latin1_text(tmp_path):
  os.makedirs(tmp_path / 'corpus')
  _write(tmp_path / 'corpus' / 'a.bin', bytes(range(256)) * 4)
  _write(tmp_path / 'corpus' / 'b.txt', (WORDS * 40 + 'caf\xe9 ').encode('latin-1'))
  assert text.read_corpus(str(tmp_path / 'corpus')) == WORDS * 40 + 'caf\ufffd '


def test_an_unreadable_file(tmp_path, monkeypatch):
  path = _write(tmp_path / 'secret.txt', (WORDS * 50).encode())
  os.chmod(path, 0)
  if not os.access(path, os.R_OK):  # not root: the permission itself blocks reading
    message = _refused(tmp_path, path)
  else:  # root reads any file: make opening fail as it would for another user
    def denied(file, *args, **kwargs):
      raise PermissionError(13, 'Permission denied', file)
    monkeypatch.setattr(text, 'open', denied, raising=False)
    message = _refused(tmp_path, path)
  assert message.startswith(f"cannot read '{path}' (Permission denied)")


def test_launch_with_a_two_byte_file_exits_2_with_one_line(tmp_path):
  path = _write(tmp_path / 'tiny.txt', b'hi')
  result = launch('char_lm.py:lstm', tmp_path / 'run', f'data.path={path}',
                  f'data.data_dir={tmp_path / "tfds"}', timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(f"error: data.path: '{path}' is too "
                                                           'short for one window')
  assert not os.path.exists(tmp_path / 'tfds' / 'attn_jax_text')
