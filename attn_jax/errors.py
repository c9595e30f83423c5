"""The one exception type for user errors: a bad setting, with what would be accepted."""


class ConfigError(ValueError):
  """A user-facing error about one setting.

  `launch.py` prints it as a single line `error: <setting>: <message>` and exits with status 2.
  """

  def __init__(self, setting: str, message: str):
    super().__init__(f'{setting}: {message}')
    self.setting = setting
    self.message = message
