"""Tables of rows (dicts with the same keys, in column order) as markdown.

CSV files are written atomically by `attn_jax.durable.write_csv` (a study's, with the full-disk
message, by `studies.study_runs.write_csv`)."""


def markdown_table(rows: list[dict]) -> str:
  header = list(rows[0])
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(r[k]) for k in header) + ' |' for r in rows]
  return '\n'.join(lines)
