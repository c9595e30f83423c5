"""Tokenizers: special ids, round trips, padding, out-of-vocabulary handling."""
import hypothesis
from hypothesis import strategies as st
import numpy as np
import pytest

from attn_jax.data import tokenizers
from attn_jax.errors import ConfigError


@hypothesis.given(st.text(max_size=50))
@hypothesis.settings(max_examples=50, deadline=None)
def test_byte_round_trip(text):
  tok = tokenizers.ByteTokenizer()
  ids = tok.encode(text)
  assert min(ids, default=tokenizers.NUM_SPECIAL) >= tokenizers.NUM_SPECIAL
  assert tok.decode(ids) == text
  np.testing.assert_array_equal(tok.encode_array(text), ids)


@hypothesis.given(st.text(alphabet='abc xyz.', max_size=40))
@hypothesis.settings(max_examples=50, deadline=None)
def test_char_round_trip(text):
  tok = tokenizers.char_tokenizer('abc xyz.')
  assert tok.vocab_size == 8 + tokenizers.NUM_SPECIAL
  assert tok.decode(tok.encode(text)) == text


def test_char_unknown_and_specials():
  tok = tokenizers.char_tokenizer('ab')
  ids = tok.encode('abz')
  assert ids[-1] == tokenizers.UNK_ID
  assert tok.decode([tokenizers.BOS_ID] + ids + [tokenizers.EOS_ID, 0, 0]) == 'ab' + \
      tokenizers.UNK_TEXT


def test_word_tokenizer_is_built_from_training_text():
  tok = tokenizers.word_tokenizer(['the cat sees the dog', 'the dog'])
  assert tok.tokens[:4] == list(tokenizers.SPECIAL_TOKENS)
  assert tok.tokens[4] == 'the'  # Most frequent first.
  assert tok.decode(tok.encode('the dog sees the cat')) == 'the dog sees the cat'
  assert tok.encode('a bird') == [tokenizers.UNK_ID] * 2


@pytest.mark.parametrize('tok', [tokenizers.ByteTokenizer(), tokenizers.char_tokenizer('ab'),
                                 tokenizers.word_tokenizer(['a b'])])
def test_decoding_an_id_over_the_vocabulary(tok):
  with pytest.raises(ConfigError) as e:
    tok.decode([4, tok.vocab_size])
  assert e.value.setting == 'data.tokenizer' and str(tok.vocab_size) in e.value.message


def test_pad_to_truncates_and_pads():
  np.testing.assert_array_equal(tokenizers.pad_to([5, 6, 7], 5), [5, 6, 7, 0, 0])
  np.testing.assert_array_equal(tokenizers.pad_to([5, 6, 7], 2), [5, 6])
  assert tokenizers.pad_to([], 3).dtype == np.int32
