"""Which form a linear recurrence h_t = a_t h_{t-1} + b_t runs in: the setting shared by the
families whose recurrence is linear in the state (minGRU / minLSTM, `minrnn.py`; Mamba,
`mamba.py`).

- 'parallel': an associative scan over time (`jax.lax.associative_scan`), O(log L) depth: the
  form for accelerators.
- 'sequential': a `jax.lax.scan` over time, L steps deep: on the CPU, where nothing runs the
  positions side by side anyway, it does less work and is faster (minGRU: 1.6-2.4x on its
  scan, Mamba: several times; experiments/results/mamba/README.md, docs/design.md).
- 'auto': sequential on the CPU, parallel elsewhere (`choose_scan`).
"""

SCAN_SETTINGS = ('auto', 'parallel', 'sequential')


def choose_scan(scan: str, platform: str) -> str:
  """The form a `scan` setting runs on `platform` (`jax.default_backend()`: 'cpu', 'gpu', ...):
  'auto' is 'sequential' on the CPU (measured faster there) and 'parallel' elsewhere (O(log L)
  depth for accelerators, an assumption no measurement here backs); 'parallel' and
  'sequential' are themselves."""
  if scan not in SCAN_SETTINGS:
    raise ValueError(f'unknown scan form {scan!r}; accepted: {", ".join(SCAN_SETTINGS)}')
  if scan != 'auto':
    return scan
  return 'sequential' if platform == 'cpu' else 'parallel'
