"""One run per workdir: an OS file lock on `DIR/run.lock`, held for the whole run.

The lock is `fcntl.flock` on an open file, so the operating system releases it when the process
ends in any way (exit, crash, SIGKILL): a crashed run never blocks the next. The file records who
holds it (`pid host time`), for the message a second run gets. Only process 0 of a multi-process
run takes it (the other processes share process 0's workdir). Holding is re-entrant within one
process: a study that holds its workdir may train in it.
"""
import contextlib
import fcntl
import os
import socket
import time

import jax

from attn_jax.errors import ConfigError

LOCK_FILE = 'run.lock'
_held: dict[str, int] = {}  # lock path -> how many nested `hold`s of this process hold it


def _holder(f) -> str:
  """`process PID on HOST since TIME`, from the lock file (its holder writes it just after
  locking, so a few reads are allowed for that moment)."""
  for _ in range(20):
    f.seek(0)
    fields = f.read().split(maxsplit=2)
    if len(fields) == 3:
      return f'process {fields[0]} on {fields[1]} since {fields[2].strip()}'
    time.sleep(0.05)
  return 'another process'


@contextlib.contextmanager
def hold(workdir: str):
  """Holds `DIR/run.lock` while the block runs (creates DIR).

  Raises:
    ConfigError('workdir', ...): another process holds it.
  """
  if jax.process_index() != 0:
    yield
    return
  path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
  if path in _held:
    _held[path] += 1
    try:
      yield
    finally:
      _held[path] -= 1
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'a+') as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise ConfigError('workdir', f'in use by {_holder(f)} ({workdir}); wait for that run to '
                        'end, or use another --workdir') from None
    f.seek(0)
    f.truncate()
    f.write(f'{os.getpid()} {socket.gethostname()} '
            f'{time.strftime("%Y-%m-%d %H:%M:%S %Z")}\n')
    f.flush()
    _held[path] = 1
    try:
      yield
    finally:
      del _held[path]
      fcntl.flock(f, fcntl.LOCK_UN)
