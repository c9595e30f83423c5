"""Tables of rows (dicts with the same keys, in column order) as CSV files and markdown."""
import csv


def write_csv(path: str, rows: list[dict]):
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def markdown_table(rows: list[dict]) -> str:
  header = list(rows[0])
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(r[k]) for k in header) + ' |' for r in rows]
  return '\n'.join(lines)
