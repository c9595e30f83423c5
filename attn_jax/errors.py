"""The exceptions `launch.py` turns into an exit status: a user error (a bad setting, with what
would be accepted; exit 2) and a run stopped by a signal after saving (exit 0)."""


class ConfigError(ValueError):
  """A user-facing error about one setting.

  `launch.py` prints it as a single line `error: <setting>: <message>` and exits with status 2.
  """

  def __init__(self, setting: str, message: str):
    super().__init__(f'{setting}: {message}')
    self.setting = setting
    self.message = message


class Preempted(BaseException):
  """Training stopped on a signal after saving a checkpoint at `step`.

  A BaseException (like KeyboardInterrupt), so that code catching `Exception` around a run (a
  study recording a failed cell) lets it through to `launch.py`.
  """

  def __init__(self, step: int, signal_name: str):
    super().__init__(f'stopped at step {step} by {signal_name}; checkpoint saved; '
                     'rerun the same command to continue')
    self.step = step
    self.signal_name = signal_name
