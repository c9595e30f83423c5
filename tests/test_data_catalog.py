"""TFDS catalog datasets by name: a tiny array_record dataset prepared locally, then loaded."""
import glob
import os

import numpy as np
import PIL.Image
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import load_dataset
from attn_jax.data import tfds_utils
from attn_jax.errors import ConfigError
from launcher import launch

tfds = tfds_utils.tfds()
TEXTS = ['good film', 'bad film', 'très bon', 'awful', 'fine', 'great fun', 'dull', 'superb']


class AttnJaxTestTiny(tfds.core.GeneratorBasedBuilder):
  """Three tiny supervised datasets: text -> label, image -> label, text -> text."""
  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n) for n in ('text', 'image', 'pairs')]

  def _info(self):
    kind = self.builder_config.name
    if kind == 'text':
      features, keys = {'text': tfds.features.Text(), 'label': tfds.features.ClassLabel(
          num_classes=2)}, ('text', 'label')
    elif kind == 'image':
      features, keys = {'image': tfds.features.Image(shape=(4, 4, 1)),
                        'label': tfds.features.ClassLabel(num_classes=3)}, ('image', 'label')
    else:
      features, keys = {'fr': tfds.features.Text(), 'en': tfds.features.Text()}, ('fr', 'en')
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features),
                                 supervised_keys=keys)

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples(0, 6), 'test': self._generate_examples(6, 8)}

  def _generate_examples(self, start, stop):
    kind = self.builder_config.name
    for i in range(start, stop):
      if kind == 'text':
        yield i, {'text': TEXTS[i], 'label': i % 2}
      elif kind == 'image':
        # A PIL image: TFDS encodes those without TensorFlow (numpy arrays need it).
        yield i, {'image': PIL.Image.fromarray(np.full((4, 4), 30 * i, np.uint8)),
                  'label': i % 3}
      else:
        yield i, {'fr': TEXTS[i], 'en': TEXTS[i].upper()}


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  path = tmp_path_factory.mktemp('tfds')
  with tfds_utils.quiet_tfds():
    for config in ('text', 'image', 'pairs'):
      AttnJaxTestTiny(data_dir=str(path), config=config, file_format='array_record'
                      ).download_and_prepare()
  return str(path)


def _load(data_dir, name, seq_len=16):
  c = data_config_defaults()
  c.update(name=name, data_dir=data_dir, seq_len=seq_len)
  return load_dataset(c, seed=0)


def test_text_classification_by_name(data_dir):
  ds = _load(data_dir, 'attn_jax_test_tiny/text')
  assert ds.info.kind == 'classification' and ds.info.num_classes == 2
  assert ds.num_eval_examples() == 2
  batch = next(ds.eval_batches(4))
  assert batch['inputs'].shape == (4, 16) and batch['weights'].tolist() == [1, 1, 0, 0]
  decoded = sorted(ds.tokenizer.decode(x) for x in batch['inputs'][:2])
  assert decoded == sorted(TEXTS[6:8])


def test_image_classification_by_name(data_dir):
  ds = _load(data_dir, 'attn_jax_test_tiny/image')
  assert ds.info.input_shape == (4, 4, 1) and ds.info.num_classes == 3
  batch = ds.train_batch(0, 6)
  assert batch['inputs'].dtype == np.float32 and batch['inputs'].max() <= 1
  np.testing.assert_allclose(batch['inputs'][:, 0, 0, 0] * 255 / 30 % 3, batch['targets'],
                             atol=1e-4)


def test_text_pairs_are_byte_seq2seq(data_dir):
  ds = _load(data_dir, 'attn_jax_test_tiny/pairs', seq_len=12)
  assert ds.info.kind == 'seq2seq' and ds.info.target_max_len == 12
  batch = ds.train_batch(0, 6)
  for x, y in zip(batch['inputs'], batch['targets']):
    assert ds.target_tokenizer.decode(y) == ds.tokenizer.decode(x).upper()[:11]
  np.testing.assert_array_equal(batch['decoder_inputs'][:, 1:], batch['targets'][:, :-1] *
                                (batch['targets'][:, :-1] != 2))


def test_unprepared_catalog_dataset_says_how_to_prepare(tmp_path):
  with pytest.raises(ConfigError) as e:
    _load(str(tmp_path), 'mnist')
  assert e.value.setting == 'data.name'
  assert 'not prepared' in e.value.message
  assert f'tfds build mnist --data_dir={tmp_path} --file_format=array_record' in e.value.message


def test_unprepared_local_dataset_says_how_to_prepare(data_dir, tmp_path):
  """The same tiny dataset, named in a data dir where it is not prepared, then prepared there."""
  with pytest.raises(ConfigError) as e:
    _load(str(tmp_path), 'attn_jax_test_tiny/text')
  assert e.value.setting == 'data.name' and 'not prepared' in e.value.message
  assert f'tfds build attn_jax_test_tiny/text --data_dir={tmp_path}' in e.value.message
  with tfds_utils.quiet_tfds():
    AttnJaxTestTiny(data_dir=str(tmp_path), config='text', file_format='array_record'
                    ).download_and_prepare()
  assert _load(str(tmp_path), 'attn_jax_test_tiny/text').num_eval_examples() == 2


def test_dataset_prepared_as_tfrecord_says_how_to_convert(tmp_path):
  """TFDS's default format needs TensorFlow; we say how to convert it instead of crashing.

  Writing tfrecord needs TensorFlow too, so the dataset's info is rewritten to claim it.
  """
  with tfds_utils.quiet_tfds():
    AttnJaxTestTiny(data_dir=str(tmp_path), config='text', file_format='array_record'
                    ).download_and_prepare()
  info_path, = glob.glob(os.path.join(tmp_path, '*', 'text', '*', 'dataset_info.json'))
  with open(info_path) as f:
    info = f.read()
  with open(info_path, 'w') as f:
    f.write(info.replace('"array_record"', '"tfrecord"'))
  with pytest.raises(ConfigError) as e:
    _load(str(tmp_path), 'attn_jax_test_tiny/text')
  assert e.value.setting == 'data.name' and 'as tfrecord' in e.value.message
  assert '--out_file_format=array_record' in e.value.message
  assert '--file_format=array_record' in e.value.message


def test_unprepared_dataset_through_launch(tmp_path):
  """End to end: exit status 2, one `error:` line naming data.name and how to prepare it."""
  result = launch('iris_mlp.py:mlp', tmp_path / 'run', 'data.name=mnist',
                  f'data.data_dir={tmp_path / "tfds"}', timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  lines = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(lines) == 1 and lines[0].startswith('error: data.name: ')
  assert 'tfds build mnist' in lines[0]


def test_unknown_dataset_lists_accepted_names(tmp_path):
  with pytest.raises(ConfigError) as e:
    _load(str(tmp_path), 'no_such_dataset_xyz')
  assert e.value.setting == 'data.name'
  assert 'unknown dataset' in e.value.message and 'iris' in e.value.message
