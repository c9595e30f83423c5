"""The host's CPU as Linux names it: its model and vendor (`/proc/cpuinfo`), for the records and
reports that say which machine measured what, and for the choices measured per CPU model
(`models/attention_choice.py`)."""
import platform


def _cpuinfo(field: str) -> str:
  """The first value of `field` (e.g. 'model name') in Linux `/proc/cpuinfo`; '' where there is
  none."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.split(':', 1)[0].strip() == field:
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return ''


def cpu_model() -> str:
  """The CPU's model name (Linux `/proc/cpuinfo`), else what `platform` knows."""
  return _cpuinfo('model name') or platform.processor() or platform.machine()


def cpu_vendor() -> str:
  """The CPU's vendor as Linux `/proc/cpuinfo` names it (`GenuineIntel`, `AuthenticAMD`); '' where
  it does not."""
  return _cpuinfo('vendor_id')
