"""The batching pipeline: determinism, sharding across processes, exact evaluation coverage."""
import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import load_dataset
from attn_jax.data import pipeline
from attn_jax.data import text as text_data
from attn_jax.errors import ConfigError


def _config(tmp_path, name, **overrides):
  c = data_config_defaults()
  c.name = name
  c.data_dir = str(tmp_path)
  c.update(overrides)
  return c


@pytest.fixture(scope='module')
def iris(tmp_path_factory):
  return load_dataset(_config(tmp_path_factory.mktemp('iris'), 'iris'), seed=3)


@pytest.fixture(scope='module')
def text(tmp_path_factory):
  return load_dataset(_config(tmp_path_factory.mktemp('text'), 'text', seq_len=64), seed=0)


def _numbered(n):
  return pipeline.ArraySource({'inputs': np.arange(n), 'targets': np.arange(n),
                               'weights': np.ones(n, np.float32)})


def test_iris_info_and_standardisation(iris):
  assert iris.info.kind == 'classification'
  assert iris.info.num_classes == 3 and iris.info.input_shape == (4,)
  assert iris.num_eval_examples() == 30 and iris.num_eval_examples('train') == 120
  train = next(iris.eval_batches(120, split='train'))
  np.testing.assert_allclose(train['inputs'].mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(train['inputs'].std(0), 1, atol=1e-4)
  test = next(iris.eval_batches(30))
  assert np.bincount(test['targets'], minlength=3).tolist() == [10, 10, 10]


def test_text_windows_are_shifted(text):
  assert text.info.kind == 'lm' and text.info.max_len == 64
  b = text.train_batch(7, 8)
  assert b['inputs'].shape == b['targets'].shape == (8, 64)
  np.testing.assert_array_equal(b['inputs'][:, 1:], b['targets'][:, :-1])
  assert b['inputs'].min() >= 1 and b['inputs'].max() < text.info.vocab_size
  assert len(text.tokenizer.decode(b['inputs'][0])) == 64


def test_train_batch_is_a_pure_function_of_seed_and_step(tmp_path, text):
  again = load_dataset(_config(tmp_path, 'text', seq_len=64), seed=0)
  other_seed = load_dataset(_config(tmp_path, 'text', seq_len=64), seed=1)
  for step in (0, 5, 123456):
    np.testing.assert_array_equal(text.train_batch(step, 16)['inputs'],
                                  again.train_batch(step, 16)['inputs'])
  assert not np.array_equal(text.train_batch(0, 16)['inputs'],
                            other_seed.train_batch(0, 16)['inputs'])


@pytest.mark.parametrize('process_count', [2, 4])
def test_process_shares_form_the_global_batch(iris, process_count):
  whole = iris.train_batch(11, 32)
  shares = [iris.train_batch(11, 32, process_index=p, process_count=process_count)
            for p in range(process_count)]
  assert all(len(s['targets']) == 32 // process_count for s in shares)
  for key in whole:
    np.testing.assert_array_equal(np.concatenate([s[key] for s in shares]), whole[key])


def test_epochs_visit_every_example_once():
  source = _numbered(10)
  train_fn = pipeline.finite_train_fn(source, seed=0)
  rows = np.arange(5)
  seen = np.concatenate([train_fn(s, 5, rows)['inputs'] for s in range(6)])
  for epoch in range(3):
    assert sorted(seen[10 * epoch:10 * (epoch + 1)]) == list(range(10))
  assert not np.array_equal(seen[:10], seen[10:20])  # A new order each epoch.


@pytest.mark.parametrize('n,batch,process_count', [(30, 8, 2), (30, 30, 1), (7, 4, 4), (1, 2, 2)])
def test_eval_covers_each_example_exactly_once(n, batch, process_count):
  ds = pipeline.Dataset(info=None, train_fn=None, eval_sources={'test': _numbered(n)},
                        default_eval_split='test')
  seen = []
  for p in range(process_count):
    batches = list(ds.eval_batches(batch, process_index=p, process_count=process_count))
    assert len(batches) == -(-n // batch)
    for b in batches:
      assert len(b['inputs']) == batch // process_count
      seen += b['inputs'][b['weights'] > 0].tolist()
  assert sorted(seen) == list(range(n))


def test_text_eval_windows_cover_validation_once(text):
  n = text.num_eval_examples()
  batches = list(text.eval_batches(32))
  weights = np.concatenate([b['weights'][:, 0] for b in batches])
  assert weights.sum() == n and len(weights) == 32 * len(batches)


def test_batch_size_not_divisible_by_processes(iris):
  with pytest.raises(ConfigError, match='divisible'):
    iris.train_batch(0, 10, process_index=0, process_count=3)


def test_unknown_eval_split(tmp_path):
  with pytest.raises(ConfigError) as e:
    load_dataset(_config(tmp_path, 'iris', eval_split='nope'), seed=0)
  assert e.value.setting == 'data.eval_split'


def test_missing_and_empty_corpus(tmp_path):
  with pytest.raises(ConfigError) as e:
    load_dataset(_config(tmp_path, 'text', path=str(tmp_path / 'missing.txt')), seed=0)
  assert e.value.setting == 'data.path' and 'no such file' in e.value.message
  empty = tmp_path / 'empty.txt'
  empty.write_text('  \n')
  with pytest.raises(ConfigError, match='empty'):
    load_dataset(_config(tmp_path, 'text', path=str(empty)), seed=0)


def test_text_from_a_folder_and_byte_tokenizer(tmp_path):
  folder = tmp_path / 'corpus'
  folder.mkdir()
  (folder / 'a.txt').write_text('hello world, ' * 200)
  (folder / 'b.txt').write_text('héllo again! ' * 100)
  (folder / '.git').mkdir()
  (folder / '.git' / 'index').write_bytes(bytes(range(256)))  # Hidden: left out.
  ds = load_dataset(_config(tmp_path, 'text', path=str(folder), seq_len=16, tokenizer='byte'),
                    seed=0)
  assert ds.info.vocab_size == 260
  corpus = 'hello world, ' * 200 + '\n' + 'héllo again! ' * 100
  assert text_data.read_corpus(str(folder)) == corpus
  b = ds.eval_batches(4).__next__()
  assert bytes((b['inputs'][0] - 4).tolist()) in corpus.encode()
