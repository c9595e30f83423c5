"""Progress reports that stay readable: a tqdm bar on a terminal, plain lines in a log.

On a terminal tqdm redraws its bar in place with carriage returns. Written to a file (a log, a
cluster job's stderr) every redraw stays, and a 1000-step run leaves one line of hundreds of
progress states. `bar()` therefore returns tqdm only when its stream is a terminal, and otherwise
a `PlainProgress`: one full line per tenth of the total (or every `INTERVAL_S` seconds, whichever
comes first) and one when closed.
"""
import math
import sys
import time
from typing import Any, Callable, Iterable, TextIO

from tqdm import tqdm

LINES = 10          # plain lines over a run of known length (one per tenth), plus the last
INTERVAL_S = 60.0   # and at least one line a minute while the count moves


def bar(iterable: Iterable | None = None, *, total: int | None = None, initial: int = 0,
        desc: str = '', unit: str = 'it', disable: bool = False, file: TextIO | None = None):
  """A progress reporter over `iterable` or up to `total`: tqdm on a terminal, else plain lines.

  Both offer what this project uses: iteration, `update(n)`, `set_postfix(**values)`,
  `set_description(text)`, `write(line)` and `close()`. `file` defaults to `sys.stderr`.
  """
  file = sys.stderr if file is None else file
  if file.isatty():
    return tqdm(iterable, total=total, initial=initial, desc=desc or None, unit=unit,
                disable=disable, file=file)
  return PlainProgress(iterable, total=total, initial=initial, desc=desc, unit=unit,
                       disable=disable, file=file)


def write(line: str) -> None:
  """Prints `line` to stdout without breaking a progress bar drawn on the terminal."""
  tqdm.write(line)


class PlainProgress:
  """tqdm's small interface as plain lines:
  `desc: n/total unit (p%), rate, elapsed, eta (time left at the rate so far), postfix`.

  A line is printed when the count reaches the next multiple of `ceil(total / lines)`, or when
  `interval_s` seconds have passed since the last line; `close()` prints the final count.
  """

  def __init__(self, iterable: Iterable | None = None, *, total: int | None = None,
               initial: int = 0, desc: str = '', unit: str = 'it', disable: bool = False,
               file: TextIO | None = None, lines: int = LINES, interval_s: float = INTERVAL_S,
               clock: Callable[[], float] = time.monotonic):
    if total is None and iterable is not None and hasattr(iterable, '__len__'):
      total = len(iterable)
    self.iterable, self.total, self.n, self.desc, self.unit = iterable, total, initial, desc, unit
    self.disable, self.file, self.interval_s, self.clock = disable, file, interval_s, clock
    self.every = math.ceil(total / lines) if total else 0
    self.postfix = ''
    self._start_n, self._start = initial, clock()
    self._printed_n, self._printed_at = initial, self._start
    self._closed = False

  def __iter__(self):
    for item in self.iterable:
      yield item
      self.update(1)

  def update(self, n: int = 1) -> None:
    before, self.n = self.n, self.n + n
    if self.disable:
      return
    crossed = self.every and self.n // self.every > before // self.every
    if crossed or self.clock() - self._printed_at >= self.interval_s:
      self._print()

  def set_postfix(self, **values: Any) -> None:
    self.postfix = ', '.join(f'{k}={v}' for k, v in values.items())

  def set_description(self, desc: str) -> None:
    self.desc = desc

  def write(self, line: str) -> None:
    write(line)

  def close(self) -> None:
    if not self.disable and not self._closed and self.n != self._printed_n:
      self._print()
    self._closed = True

  def _print(self) -> None:
    now = self.clock()
    elapsed = now - self._start
    parts = [f'{self.n}/{self.total} {self.unit}' if self.total else f'{self.n} {self.unit}']
    if self.total:
      parts[0] += f' ({100 * self.n / self.total:.0f}%)'
    rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
    if elapsed > 0:
      parts.append(f'{rate:.3g} {self.unit}/s')
    parts.append(f'elapsed {tqdm.format_interval(elapsed)}')
    if self.total and rate > 0 and self.n < self.total:
      parts.append(f'eta {tqdm.format_interval((self.total - self.n) / rate)}')
    if self.postfix:
      parts.append(self.postfix)
    prefix = f'{self.desc}: ' if self.desc else ''
    print(prefix + ', '.join(parts), file=self.file, flush=True)
    self._printed_n, self._printed_at = self.n, now
