"""The markdown table helper every report uses (attn_jax/tables.py)."""
from attn_jax.tables import markdown_table


def test_header_rule_and_rows_in_column_order():
  rows = [{'model': 'lstm', 'ms': 1.5}, {'model': 'transformer', 'ms': 12}]
  assert markdown_table(rows).split('\n') == ['| model | ms |', '|---|---|', '| lstm | 1.5 |',
                                              '| transformer | 12 |']


def test_numbers_right_aligned_and_missing_values_blank():
  rows = [{'model': 'gru', 'L': 8, 'note': 'seed 1: oom'}, {'model': 'lstm', 'note': ''}]
  assert markdown_table(rows, ('model', 'L', 'params', 'note'), right=('L', 'params')).split(
      '\n') == ['| model | L | params | note |', '|---|---:|---:|---|',
                '| gru | 8 | | seed 1: oom |', '| lstm | | | |']


def test_no_rows_give_the_header_alone():
  assert markdown_table([], ('a', 'b'), right=('b',)) == '| a | b |\n|---|---:|'
