"""SCAN: the command set, the interpretation rules and the three splits' published sizes."""
import collections

import numpy as np
import pytest

from attn_jax.data import data_config_defaults
from attn_jax.data import load_dataset
from attn_jax.data import scan
from attn_jax.errors import ConfigError


@pytest.fixture(scope='module')
def commands():
  return scan.all_commands()


@pytest.fixture(scope='module')
def pairs(commands):
  return {c: scan.interpret(c) for c in commands}


def test_command_set(commands, pairs):
  assert len(commands) == len(set(commands)) == 20910
  assert max(len(c.split()) for c in commands) == 9
  assert max(len(a.split()) for a in pairs.values()) == 48
  assert set(' '.join(commands).split()) == {
      'walk', 'look', 'run', 'jump', 'turn', 'left', 'right', 'opposite', 'around', 'twice',
      'thrice', 'and', 'after'}


@pytest.mark.parametrize('command,actions', [
    ('walk', 'I_WALK'), ('look', 'I_LOOK'), ('run', 'I_RUN'), ('jump', 'I_JUMP'),
    ('turn left', 'I_TURN_LEFT'), ('turn right', 'I_TURN_RIGHT'),
    ('walk left', 'I_TURN_LEFT I_WALK'), ('jump right twice', 'I_TURN_RIGHT I_JUMP ' * 2),
    ('turn opposite left', 'I_TURN_LEFT I_TURN_LEFT'),
    ('run opposite right', 'I_TURN_RIGHT I_TURN_RIGHT I_RUN'),
    ('turn around right', 'I_TURN_RIGHT ' * 4),
    ('look around left', 'I_TURN_LEFT I_LOOK ' * 4),
    ('walk thrice', 'I_WALK I_WALK I_WALK'),
    ('walk and jump', 'I_WALK I_JUMP'), ('walk after jump', 'I_JUMP I_WALK'),
    ('turn left twice after run right', 'I_TURN_RIGHT I_RUN I_TURN_LEFT I_TURN_LEFT'),
    ('jump around left thrice and walk around right thrice',
     'I_TURN_LEFT I_JUMP ' * 12 + 'I_TURN_RIGHT I_WALK ' * 12),
])
def test_interpretation(command, actions):
  assert scan.interpret(command) == actions.strip()


def test_turn_alone_emits_nothing():
  assert scan.interpret('turn left and turn right') == 'I_TURN_LEFT I_TURN_RIGHT'


def test_simple_split():
  splits = scan.generate({'split': 'simple', 'seed': 0})
  assert (len(splits['train']), len(splits['test'])) == (16728, 4182)
  assert not set(splits['train']) & set(splits['test'])


def test_length_split():
  splits = scan.generate({'split': 'length', 'seed': 0})
  assert (len(splits['train']), len(splits['test'])) == (16990, 3920)
  assert max(len(t.split()) for _, t in splits['train']) <= 22
  assert min(len(t.split()) for _, t in splits['test']) >= 24


def test_addprim_jump_split(commands):
  splits = scan.generate({'split': 'addprim_jump', 'seed': 0})
  train_commands = collections.Counter(c for c, _ in splits['train'])
  test_commands = {c for c, _ in splits['test']}
  jump_commands = {c for c in commands if 'jump' in c.split()}
  assert {c for c in train_commands if 'jump' in c.split()} == {'jump'}
  assert len(train_commands) == 20910 - len(jump_commands) + 1 == 13204
  assert len(splits['train']) == 14670
  assert test_commands == jump_commands - {'jump'} and len(test_commands) == 7706


def test_loaded_dataset_decodes_to_the_interpretation(tmp_path, pairs):
  c = data_config_defaults()
  c.update(name='scan', data_dir=str(tmp_path), split='length')
  ds = load_dataset(c, seed=0)
  assert ds.info.kind == 'seq2seq' and ds.info.max_len == 9 and ds.info.target_max_len == 49
  assert ds.num_eval_examples() == 3920
  batch = ds.train_batch(0, 64)
  for x, y, d in zip(batch['inputs'], batch['targets'], batch['decoder_inputs']):
    assert ds.target_tokenizer.decode(y) == pairs[ds.tokenizer.decode(x)]
    assert d[0] == 1 and list(y).count(2) == 1  # BOS first, one EOS.
  np.testing.assert_array_equal(batch['weights'], batch['targets'] != 0)


def test_unknown_split(tmp_path):
  c = data_config_defaults()
  c.update(name='scan', data_dir=str(tmp_path), split='jump')
  with pytest.raises(ConfigError) as e:
    load_dataset(c, seed=0)
  assert e.value.setting == 'data.split' and 'addprim_jump' in e.value.message
