"""The model lists that studies take: order kept, repeats dropped, bad names named."""
import pytest

from attn_jax.errors import ConfigError
from attn_jax.studies.model_list import parse_model_list


def test_order_kept_and_repeats_dropped():
  assert parse_model_list(' gru, lstm ,gru,', ['lstm', 'gru'], 'models') == ('gru', 'lstm')


@pytest.mark.parametrize('text,message', [('lstm,bert', "unknown model 'bert'"),
                                          (' , ', 'no model given'), ('', 'no model given')])
def test_bad_lists_name_the_setting_and_what_is_accepted(text, message):
  with pytest.raises(ConfigError, match=message) as error:
    parse_model_list(text, ['lstm', 'gru'], 'bottleneck.models')
  assert error.value.setting == 'bottleneck.models'
  assert 'accepted: a comma-separated list of lstm, gru' in str(error.value)
