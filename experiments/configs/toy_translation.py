"""Toy French -> English translation (a bilingual grammar: agreement, adjectives after the noun
in French and before it in English, optional relative clauses): an encoder-decoder transformer,
or an LSTM encoder-decoder with attention.

Command:
  python launch.py --config=experiments/configs/toy_translation.py:transformer --workdir=runs/tt
  (variants: transformer, lstm; `--config.data.eval_split=length` evaluates on the sentences
  longer than `data.max_len` words, held out of training)

Data: 10,000 training pairs of at most 12 French words, 1,000 test pairs, 1,000 longer pairs
(13-17 words, two relative clauses); built into data.data_dir on first use in about 4 s.
Run time and result (transformer, measured on a busy 2-core CPU at about 8 steps/s): training
token accuracy 0.996 at step 300 and test token accuracy 1.0 (teacher forced) at the step-500
evaluation, about a minute of training; exact match on `test` should follow at >= 0.95. The
`length` split shows how far that generalises to two relative clauses.
"""
from attn_jax.config_base import base_config

VARIANTS = {
    'transformer': dict(name='transformer', num_layers=2, hidden_size=64, num_heads=4,
                        mlp_dim=128, dropout_rate=0.0, positional='sinusoidal'),
    'lstm': dict(name='lstm', num_layers=1, hidden_size=128, seq2seq_attention='luong'),
}


def get_config(variant: str = 'transformer'):
  if variant not in VARIANTS:
    raise ValueError(f'unknown variant {variant!r}; accepted: {", ".join(VARIANTS)}')
  return base_config(
      model=VARIANTS[variant],
      data=dict(name='toy_translation', max_len=12, num_train_examples=10000,
                num_test_examples=1000),
      train=dict(num_steps=1000, batch_size=64, learning_rate=3e-3, warmup_steps=100,
                 log_every=100, eval_every=500, checkpoint_every=500),
      # mode=sample translates it (beam search); mode=attention draws its attention maps.
      sample=dict(prompt='le chat noir qui voit les filles mange une voiture rouge'),
  )
