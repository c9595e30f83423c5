"""Running parity: random bits, and at every position the parity of the prefix so far
(state tracking: one bit of state, flipped by every 1). Trained at `data.seq_len`; the splits
`test_2x` and `test_4x` hold the same task at 2 and 4 times the length (length extrapolation;
the training loop evaluates `test`, `--config.data.eval_split=test_4x` evaluates another).

Generated on the fly (no files). Recurrent models with a non-linear state update are expected
to solve it and extrapolate; attention and input-gated linear recurrences (mingru) are not
(Deletang et al. 2023; Grazzi et al. 2024). Mamba's diagonal transition has eigenvalues in [0, 1],
which Grazzi et al. 2025 prove cannot hold parity; `mamba_signed` widens them to [-1, 1]
(`model.ssm_eigenvalues=signed`), which can. The transformer uses sinusoidal positions, so it can
read the longer splits (a learned table cannot).

Command:
  python launch.py --config=experiments/configs/parity.py:lstm --workdir=runs/parity
  (variants: transformer, lstm, gru, mingru, mamba, mamba_signed)

Expect (1000 steps, about a minute or two each): lstm and gru 1.0 on test, test_2x and test_4x;
transformer 0.99 / 0.75 / 0.63; mingru 0.68 / 0.59 / 0.55 (chance 0.5); after 300 steps mamba
0.80 / 0.65 / 0.57, mamba_signed 1.0 / 1.0 / 1.0 (experiments/results/mamba/README.md).
Results: experiments/results/parity/README.md
"""
from attn_jax.config_base import base_config, variant_of
from attn_jax.config_presets import LOG_100, TRANSFORMER, named

# Every family at the default shape: 2 layers of width 64.
VARIANTS = {'transformer': TRANSFORMER, **named('lstm', 'gru', 'mingru', 'mamba'),
            'mamba_signed': dict(name='mamba', ssm_eigenvalues='signed')}


def get_config(variant: str = 'lstm'):
  return base_config(
      model=variant_of(VARIANTS, variant),
      data=dict(name='parity', seq_len=16, eval_length_multipliers=(2, 4)),
      train=dict(batch_size=64, learning_rate=3e-3, warmup_steps=50, **LOG_100, eval_every=250),
  )
