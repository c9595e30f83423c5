"""Tables of rows (dicts keyed by column name) as markdown: the one helper every report uses.

CSV files are written atomically by `attn_jax.durable.write_csv` (a study's, with the full-disk
message, by `studies.study_runs.write_csv`)."""
from typing import Iterable, Sequence


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None, *,
                   right: Iterable[str] = ()) -> str:
  """`rows` as a markdown table: a header line of `columns` (default: the first row's keys, in
  order), the rule, then one line per row. Columns named in `right` (numbers) are right-aligned
  (`---:`), the others left; a column a row lacks is left blank.

  >>> print(markdown_table([{'model': 'lstm', 'ms': '1.5'}], right=('ms',)))
  | model | ms |
  |---|---:|
  | lstm | 1.5 |
  """
  columns = list(rows[0] if columns is None else columns)
  right = set(right)
  rule = '|' + ''.join('---:|' if c in right else '---|' for c in columns)
  return '\n'.join([_line(columns), rule] + [_line(str(r.get(c, '')) for c in columns)
                                             for r in rows])


def _line(values: Iterable[str]) -> str:
  """'| a | | c |': a blank value leaves one space between its bars."""
  return ' '.join(f'| {v}' if v else '|' for v in values) + ' |'
