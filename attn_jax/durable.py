"""Files that a crash cannot leave half-written (docs/design.md §3.5), and the test hook that
kills the process at a named point.

- `write_text` / `write_json` replace a whole file atomically: the bytes go to a temporary file
  in the same folder, are flushed to disk, and `os.replace` puts it in place. A reader sees the
  old file or the new one, never a mix, whenever the writer dies.
- Appended lines (`metrics.jsonl`, a study's CSV rows) are each one `write` call; a line cut short
  (a full disk, a power cut) has no final newline, and `complete_lines` leaves it out.
- `crash_point(name)`: with `ATTN_JAX_CRASH_AT=name` (or `name:N`, the N-th time the process gets
  there) in the environment, the process SIGKILLs itself at that point. It exists for the
  crash-consistency tests (tests/test_crash_consistency.py); without the variable it does nothing.

A leaf: imports nothing of the project.
"""
import collections
import csv
import io
import json
import os
import signal
import tempfile

CRASH_AT = 'ATTN_JAX_CRASH_AT'
_reached: collections.Counter = collections.Counter()


def write_text(path: str, text: str):
  """Replaces `path` with `text`, atomically (a temporary file, fsync, `os.replace`)."""
  folder = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def write_json(path: str, value):
  """Replaces `path` with `value` as indented JSON (sorted keys), atomically."""
  write_text(path, json.dumps(value, indent=2, sort_keys=True) + '\n')


def write_csv(path: str, rows: list[dict], columns):
  """Replaces `path` with a CSV table (a header of `columns`, then `rows`), atomically."""
  text = io.StringIO()
  writer = csv.DictWriter(text, fieldnames=list(columns))
  writer.writeheader()
  writer.writerows(rows)
  write_text(path, text.getvalue())


def append_line(path: str, line: str):
  """Appends `line` and a newline to `path` in one `write` call (text lines of a log or table)."""
  with open(path, 'a') as f:
    f.write(line + '\n')


def complete_text(path: str) -> str:
  """The text of `path` up to its last newline ('' if there is no file): a last line cut short
  by a crash or a full disk is left out. Line ends are kept as written (CSV's are \\r\\n)."""
  if not os.path.exists(path):
    return ''
  with open(path, newline='') as f:
    text = f.read()
  return text[:text.rfind('\n') + 1]


def complete_lines(path: str) -> list[str]:
  """The complete lines of `path` (`complete_text`), each with its newline."""
  return complete_text(path).splitlines(keepends=True)


def crash_point(name: str):
  """Test hook: SIGKILLs this process when `ATTN_JAX_CRASH_AT` names this point (module
  docstring); does nothing otherwise."""
  wanted = os.environ.get(CRASH_AT)
  if not wanted:
    return
  point, _, count = wanted.partition(':')
  if point == name:
    _reached[name] += 1
    if _reached[name] == int(count or 1):
      os.kill(os.getpid(), signal.SIGKILL)
