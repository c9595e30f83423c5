"""Progress reports: a bar on a terminal; in a log, a bounded number of plain lines without '\\r'."""
import io
import re

from tqdm import tqdm

from attn_jax import runners
from attn_jax import progress
from attn_jax.config_base import base_config


class Terminal(io.StringIO):

  def isatty(self):
    return True


def test_a_terminal_gets_the_tqdm_bar():
  assert isinstance(progress.bar(total=3, file=Terminal()), tqdm)
  assert isinstance(progress.bar(total=3, file=io.StringIO()), progress.PlainProgress)


def test_plain_lines_one_per_tenth_and_the_last():
  out = io.StringIO()
  bar = progress.bar(total=1000, initial=0, desc='train', unit='step', file=out)
  for step in range(1000):
    if step == 499:
      bar.set_postfix(loss='0.1234')
    bar.update(1)
  bar.close()
  lines = out.getvalue().splitlines()
  assert '\r' not in out.getvalue()
  assert [int(re.match(r'train: (\d+)/1000 step', line).group(1)) for line in lines] == list(
      range(100, 1001, 100))
  assert 'loss=0.1234' in lines[4] and '(50%)' in lines[4]


def test_plain_lines_of_a_resumed_iterable_and_by_time():
  now = [0.0]
  out = io.StringIO()
  bar = progress.PlainProgress(range(5), initial=0, desc='points', file=out, lines=1,
                               interval_s=10.0, clock=lambda: now[0])
  for _ in bar:
    now[0] += 6.0  # a line every second item by time (10 s), and the last by count
    bar.set_description('lstm L=64')
  bar.close()
  counts = [int(re.match(r'lstm L=64: (\d+)/5 it', line).group(1))
            for line in out.getvalue().splitlines()]
  assert counts == [2, 4, 5]
  assert [re.search(r'eta (\S+)', line)[1] if 'eta' in line else None
          for line in out.getvalue().splitlines()] == ['00:18', '00:06', None]  # 3 s per item
  resumed = io.StringIO()
  bar = progress.bar(total=10, initial=7, file=resumed)
  bar.update(3)
  bar.close()
  assert len(resumed.getvalue().splitlines()) == 1
  assert resumed.getvalue().startswith('10/10 it (100%)')


def test_disabled_prints_nothing():
  out = io.StringIO()
  bar = progress.bar(total=10, disable=True, file=out)
  bar.update(10)
  bar.close()
  assert out.getvalue() == ''


def test_training_with_stderr_to_a_file_logs_plain_lines(tmp_path, capsys):
  """A 300-step run with stderr captured (not a terminal): no '\\r', one line per tenth."""
  config = base_config(model=dict(name='logreg'), data=dict(name='iris'),
                       train=dict(num_steps=300, batch_size=24, warmup_steps=10, log_every=50,
                                  eval_every=300, checkpoint_every=300))
  runners.run(config, str(tmp_path / 'run'))
  err = capsys.readouterr().err
  assert '\r' not in err
  lines = [line for line in err.splitlines() if re.match(r'\d+/300 step', line)]
  assert [int(line.split('/')[0]) for line in lines] == list(range(30, 301, 30))
  assert 'loss=' in lines[-1]
