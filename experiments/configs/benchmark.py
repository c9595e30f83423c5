"""Benchmark: the project's train and decode steps against PyTorch's on the same machine.

Variants:
  default: recurrent layer (rnn, lstm, gru) + dense head, batch 32, features 128, hidden 256 at
    L = 64, 256, 1024; TransformerLM, 4 pre-LN blocks, d256, 4 heads, mlp 1024, gelu, learned
    positions, batch 16 at L = 128, 512, 1024. Train steps (forward, backward, Adam) and
    one-token decode steps, both frameworks alternating in the same run; the machine's matmul
    throughput; memory, including the transformer at L=2048 per attention implementation
    (`attn_jax/studies/benchmark/benchmark.py`).
  study: the sequence-length study's shapes (experiments/configs/seq_len_scaling.py, its cpu
    variant): rnn, lstm, gru, mingru, mamba, the transformer and linear attention, 2 layers, at
    the widths that match the study's two parameter budgets (25k parameters at batch 16, as on
    first_token and parity; 100k at batch 64, as on mqar), L = 16, 64, 256, 1024, train and
    decode steps, explicit attention as the study runs it. mingru, mamba and linear attention
    have no PyTorch peer here: their rows time the project alone.

Command (PyTorch from the bench extra: pip install -e '.[bench]'; without it only our side runs):
  python launch.py --config=experiments/configs/benchmark.py --workdir=runs/benchmark
  python launch.py --config=experiments/configs/benchmark.py:study --workdir=runs/benchmark-study
  (a subset: --config.shapes=lstm_L64,transformer_L128, or the study's lstm_w76_b64_L64)
Files go to DIR/<cpu-slug>/ (one folder per CPU model: results.csv, breakdown.csv, profile.csv,
report.md).

Expect: default, 12-36 minutes for all twelve shapes on a 2-core CPU; project/torch train steps
0.82-1.24 on a 2-core AMD EPYC, 1.12-2.21 on a 2-core Intel Xeon with AVX-512. study, on a quiet
2-core Intel Xeon, both cores, 7 minutes: train 0.29-3.27, the transformer slowest from L = 64
(1.43 / 1.60 / 3.27 at L = 64 / 256 / 1024, width 64: explicit attention in causal query chunks
against torch's fused kernel), then the LSTM (1.09-2.34 from L = 64: torch's is oneDNN's fused
LSTM); decode 0.54-1.19 but for sub-0.1 ms steps and L = 1024 (on a shared machine pin it to one
core, `taskset -c 0`: PyTorch's 2 threads collapse there).
Results: experiments/results/benchmark_cpu/README.md (study: study/intel-xeon-processor/)
"""
import ml_collections

from attn_jax.config_base import variant_of

VARIANTS = ('default', 'study')

# A tiny run for tests/test_configs_run.py.
SMOKE_TEST = {'shapes': 'lstm_L8,transformer_L8', 'recurrent.lengths': '8',
              'recurrent.batch_size': 2, 'recurrent.features': 4, 'recurrent.hidden_size': 8,
              'transformer.lengths': '8', 'transformer.batch_size': 2,
              'transformer.hidden_size': 8, 'transformer.num_layers': 1,
              'transformer.num_heads': 2, 'transformer.mlp_dim': 16, 'transformer.vocab_size': 11,
              'bench.warmup_steps': 1, 'bench.timed_steps': 2, 'bench.matmul_size': 64,
              'bench.memory_length': 16, 'bench.attention_time_length': 16,
              'bench.profile_shapes': 'lstm_L8'}


def get_config(variant: str = 'default'):
  variant = variant_of(VARIANTS, variant or 'default')
  config = ml_collections.ConfigDict(dict(
      experiment='benchmark',
      mode='train',
      seed=0,
      shapes='',  # comma-separated shape names (e.g. lstm_L64,transformer_L512); empty: all
      # The transformer's attention in the timed steps: 'blocked' (tiled, online softmax), the
      # fastest train step on the CPU at L = 512 and 1024 (experiments/results/benchmark_cpu/);
      # at L = 128 and in one-token decode steps it runs the explicit path (one tile). Torch's
      # side runs its fused attention.
      attention_impl='blocked',
      recurrent=dict(lengths='64,256,1024', batch_size=32, features=128, hidden_size=256,
                     num_layers=1),
      transformer=dict(lengths='128,512,1024', batch_size=16, hidden_size=256, num_layers=4,
                       num_heads=4, mlp_dim=1024, vocab_size=256),
      # The sequence-length study's shapes (the `study` variant; no lengths: none): each budget
      # of `budgets` gives every family of its `widths` (family=width, '': none) at its
      # `batch_size`; `params` and `task` say where the widths come from (the study's matched
      # count on that task: `attn_jax/studies/seq_len_scaling/param_match.py`), for the report.
      # Every family has num_layers layers; transformer and linear attention num_heads heads,
      # mlp_ratio x width, and vocab_size tokens: mqar's in the study's cpu curves (2 + 64 keys
      # + 10 values; first_token has 11, parity 4: the output layer is a small part of a step).
      study_shapes=dict(
          lengths='', num_layers=2, num_heads=4, mlp_ratio=4, vocab_size=76,
          budgets=dict(
              p25k=dict(params=25_000, task='first_token', batch_size=16,
                        widths='rnn=76,lstm=39,gru=45,mingru=76,mamba=36,transformer=32,'
                               'linear_attention=32'),
              p100k=dict(params=100_000, task='mqar', batch_size=64,
                         widths='rnn=149,lstm=76,gru=88,mingru=148,mamba=78,transformer=64,'
                                'linear_attention=64'))),
      # breakdown: also time forward, backward and optimizer of every train step;
      # attention_time_length: time the transformer train step per attention_impl there (0: no);
      # profile_shapes: shapes whose project train step is profiled op by op (jax.profiler).
      bench=dict(warmup_steps=2, timed_steps=7, matmul_size=2048, memory_length=2048,
                 breakdown=True, attention_time_length=1024,
                 profile_shapes='rnn_L256,lstm_L64,gru_L64,transformer_L512,transformer_L1024'),
  ))
  if variant == 'study':
    # The study's shapes alone, with the attention it trains with (explicit at every length);
    # no breakdown, memory or profile sections, to stay within about 20 minutes on 2 cores.
    config.recurrent.lengths = config.transformer.lengths = ''
    config.study_shapes.lengths = '16,64,256,1024'
    config.attention_impl = 'explicit'
    config.bench.update(breakdown=False, memory_length=0, attention_time_length=0,
                        profile_shapes='')
  return config
