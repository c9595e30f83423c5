"""Attention implementations by length: the train step and the one-token decode step of the
benchmark's `TransformerLM` with each of explicit, fused and blocked attention, alternating, at
L = 64 .. 2048 (`attn_jax/studies/benchmark/attention_impl.py`). Its winners are the table that
`attention_impl='auto'` reads (`attn_jax/models/attention_choice.py`).

Command:
  python launch.py --config=experiments/configs/attention_impl.py --workdir=runs/attention_impl
  then, to adopt the winners:
  cp runs/attention_impl/attention_impl_table.json attn_jax/models/attention_impl_table.json
  and its results.csv and report.md into experiments/results/attention_impl/<cpu model slug>/,
  the folder the table's source line names (e.g. intel-xeon-processor/).

Run time and result: experiments/results/attention_impl/README.md.
"""
import ml_collections

# A tiny run for tests/test_configs_run.py.
SMOKE_TEST = {'lengths': '8', 'transformer.batch_size': 2, 'transformer.hidden_size': 8,
              'transformer.num_layers': 1, 'transformer.num_heads': 2, 'transformer.mlp_dim': 16,
              'transformer.vocab_size': 11, 'warmup_steps': 1, 'timed_steps': 2,
              'max_timed_steps': 2, 'seconds_per_point': 0.1}


def get_config():
  return ml_collections.ConfigDict(dict(
      experiment='attention_impl',
      mode='train',
      seed=0,
      lengths='64,128,256,512,1024,2048',
      transformer=dict(batch_size=4, hidden_size=128, num_layers=2, num_heads=4, mlp_dim=512,
                       vocab_size=256),
      # Each (workload, length): as many alternating turns as fit in seconds_per_point, at least
      # timed_steps and at most max_timed_steps, after warmup_steps turns.
      warmup_steps=1,
      timed_steps=5,
      max_timed_steps=1000,
      seconds_per_point=20.0,
  ))
