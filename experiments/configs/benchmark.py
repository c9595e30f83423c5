"""Benchmark: the project's train and decode steps against PyTorch's on the same machine.

Recurrent layer (rnn, lstm, gru) + dense head, batch 32, features 128, hidden 256 at L = 64, 256,
1024; TransformerLM, 4 pre-LN blocks, d256, 4 heads, mlp 1024, gelu, learned positions, batch 16
at L = 128, 512, 1024. Train steps (forward, backward, Adam) and one-token decode steps, both
frameworks alternating in the same run; the machine's matmul throughput; memory, including the
transformer at L=2048 per attention implementation (`attn_jax/studies/benchmark/benchmark.py`).

Command (PyTorch from the bench extra: pip install -e '.[bench]'; without it only our side runs):
  python launch.py --config=experiments/configs/benchmark.py --workdir=runs/benchmark
  (a subset: --config.shapes=lstm_L64,transformer_L128)

Expect: 12-36 minutes for all twelve shapes on a 2-core CPU; project/torch train steps 0.82-1.24
on a 2-core AMD EPYC, 1.12-2.21 on a 2-core Intel Xeon with AVX-512.
Results: experiments/results/benchmark_cpu/README.md
"""
import ml_collections

# A tiny run for tests/test_configs_run.py.
SMOKE_TEST = {'shapes': 'lstm_L8,transformer_L8', 'recurrent.lengths': '8',
              'recurrent.batch_size': 2, 'recurrent.features': 4, 'recurrent.hidden_size': 8,
              'transformer.lengths': '8', 'transformer.batch_size': 2,
              'transformer.hidden_size': 8, 'transformer.num_layers': 1,
              'transformer.num_heads': 2, 'transformer.mlp_dim': 16, 'transformer.vocab_size': 11,
              'bench.warmup_steps': 1, 'bench.timed_steps': 2, 'bench.matmul_size': 64,
              'bench.memory_length': 16, 'bench.attention_time_length': 16,
              'bench.profile_shapes': 'lstm_L8'}


def get_config():
  return ml_collections.ConfigDict(dict(
      experiment='benchmark',
      mode='train',
      seed=0,
      shapes='',  # comma-separated shape names (e.g. lstm_L64,transformer_L512); empty: all
      # The transformer's attention in the timed steps: 'blocked' (tiled, online softmax), the
      # fastest train step on the CPU at L = 512 and 1024 (experiments/results/benchmark_cpu/);
      # at L = 128 and in one-token decode steps it runs the explicit path (one tile). Torch's
      # side runs its fused attention.
      attention_impl='blocked',
      recurrent=dict(lengths='64,256,1024', batch_size=32, features=128, hidden_size=256),
      transformer=dict(lengths='128,512,1024', batch_size=16, hidden_size=256, num_layers=4,
                       num_heads=4, mlp_dim=1024, vocab_size=256),
      # breakdown: also time forward, backward and optimizer of every train step;
      # attention_time_length: time the transformer train step per attention_impl there (0: no);
      # profile_shapes: shapes whose project train step is profiled op by op (jax.profiler).
      bench=dict(warmup_steps=2, timed_steps=7, matmul_size=2048, memory_length=2048,
                 breakdown=True, attention_time_length=1024,
                 profile_shapes='rnn_L256,lstm_L64,gru_L64,transformer_L512,transformer_L1024'),
  ))
