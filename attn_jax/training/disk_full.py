"""A full disk while a run saves is a user error with one line (docs/design.md §3.5):

    error: workdir: no space left on /mnt/data while saving step 8; the checkpoint of step 4 is intact

(exit status 2). Whatever the save left behind is incomplete and is ignored by the next run
(orbax's temporary checkpoint folder, a metrics line without its newline), which continues from
the intact checkpoint once space is freed.
"""
import contextlib
import errno
import os

from attn_jax.errors import ConfigError


def checkpoint_steps(workdir: str) -> list[int]:
  """The steps of the complete checkpoints in `DIR/checkpoints` (orbax names an unfinished one
  `<step>.orbax-checkpoint-tmp-<n>`), in increasing order."""
  path = os.path.join(workdir, 'checkpoints')
  names = os.listdir(path) if os.path.isdir(path) else []
  return sorted(int(name) for name in names if name.isdigit())


def is_no_space(error: BaseException) -> bool:
  """Whether `error`, or an error it was raised from, is ENOSPC (orbax and tensorstore wrap it)."""
  while error is not None:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    if 'No space left on device' in str(error):
      return True
    error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
  return False


def _mount_point(path: str) -> str:
  path = os.path.realpath(path)
  while not os.path.ismount(path):
    path = os.path.dirname(path)
  return path


@contextlib.contextmanager
def saving(workdir: str, what: str, intact: str | None = None):
  """Turns running out of space inside the block into `ConfigError('workdir', ...)` naming the
  file system, what was being saved (`what`: `step 8`, `results.csv`) and what is intact
  (`intact`; by default the newest checkpoint)."""
  try:
    yield
  except Exception as error:  # pylint: disable=broad-except  # re-raised unless ENOSPC
    if not is_no_space(error):
      raise
    steps = checkpoint_steps(workdir)
    intact = intact or (f'the checkpoint of step {steps[-1]} is intact' if steps else
                        'no checkpoint was saved yet')
    raise ConfigError('workdir', f'no space left on {_mount_point(workdir)} while saving {what}; '
                      f'{intact}; free space and rerun the same command to continue') from None
